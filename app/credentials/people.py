"""Other admins by name: display names from Jira's `GET /rest/api/3/user/bulk`, cached a while per site and account.

Only ever a nicety: when Jira does not answer (or does not know an account) the pages say "another administrator",
never a raw account id. Kept short: an admin is waiting for the page.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable, Iterable

from ..connect.jira import JiraClient, JiraError
from ..models import Tenant
from ..sealing import Sealer
from ..tenants import shared_secret

logger = logging.getLogger(__name__)

TTL_SECONDS = 600
MISSING_TTL_SECONDS = 60


class DisplayNames:
    """account id → display name for a tenant, from Jira, cached (names change rarely)."""

    def __init__(self, sealer: Sealer, app_key: str, *, clock: Callable[[], float] = time.monotonic,
                 client_factory: Callable[[Tenant], JiraClient] | None = None):
        self.sealer, self.app_key, self.clock = sealer, app_key, clock
        self._client_factory = client_factory or self._client
        self._cache: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def _client(self, tenant: Tenant) -> JiraClient:
        return JiraClient(tenant, shared_secret=shared_secret(tenant, self.sealer), app_key=self.app_key,
                          timeout=(2, 3), max_attempts=1)

    def names(self, tenant: Tenant, account_ids: Iterable[str | None]) -> dict[str, str]:
        """The display names Jira gives for these accounts (those it does not give are absent)."""
        now = self.clock()
        wanted = {a for a in account_ids if a}
        known: dict[str, str] = {}
        missing = []
        with self._lock:
            for account in wanted:
                cached = self._cache.get((tenant.client_key, account))
                if cached and cached[0] > now:
                    if cached[1]:
                        known[account] = cached[1]
                else:
                    missing.append(account)
        if not missing:
            return known
        try:
            found = self._client_factory(tenant).display_names(sorted(missing))
        except (JiraError, OSError) as exc:
            logger.info("display names unavailable from Jira (%s)", type(exc).__name__)
            return known  # not cached: the next page view asks again
        with self._lock:
            for account in missing:
                name = found.get(account)
                self._cache[(tenant.client_key, account)] = (now + (TTL_SECONDS if name else MISSING_TTL_SECONDS), name)
        known.update({a: found[a] for a in missing if a in found})
        return known


def named_view(view: dict, names: dict[str, str]) -> dict:
    """The credentials' API shape plus `updatedByName` (the storing admin's display name, when Jira gives it)."""
    return {**view, "updatedByName": names.get(view.get("updatedBy") or "")}


def named_entries(entries: list[dict], names: dict[str, str]) -> list[dict]:
    """Audit entries plus `accountName` (the admin's display name, when Jira gives it)."""
    return [{**entry, "accountName": names.get(entry.get("accountId") or "")} for entry in entries]
