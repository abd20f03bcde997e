"""Short-lived per-process caches of the Connect layer: installed tenants with their secrets, admin answers.

Both are owned by the app's services (app/services.py), one per app, so tests stay isolated.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import make_transient_to_detached

from ..models import Tenant

ADMIN_CACHE_SECONDS = 300
ADMIN_CACHE_NEGATIVE_SECONDS = 60
MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class CachedTenant:
    snapshot: Tenant  # detached copy: merged into each request's session without a query
    secret: str
    expires: float


class TenantCache:
    """Installed tenants and their decrypted secrets for a few seconds, so steady traffic skips a query.

    Lifecycle changes made by this process invalidate at once (app.tenants is handed `invalidate`); other
    processes see them within `ttl`. A signature failure on a cached secret re-reads the database,
    so a reinstall's new secret works immediately everywhere.
    """

    def __init__(self, ttl: float = 3.0, clock: Callable[[], float] = time.monotonic):
        self.ttl, self._clock = ttl, clock
        self._entries: dict[str, CachedTenant] = {}
        self._lock = threading.Lock()

    def get(self, client_key: str) -> CachedTenant | None:
        with self._lock:
            entry = self._entries.get(client_key)
            if entry is not None and entry.expires <= self._clock():
                del self._entries[client_key]
                return None
            return entry

    def put(self, tenant: Tenant, secret: str) -> None:
        columns = {attr.key: getattr(tenant, attr.key) for attr in sa_inspect(Tenant).column_attrs}
        snapshot = Tenant(**columns)
        make_transient_to_detached(snapshot)
        with self._lock:
            if len(self._entries) > MAX_ENTRIES:
                self._entries.clear()
            self._entries[tenant.client_key] = CachedTenant(snapshot, secret, self._clock() + self.ttl)

    def invalidate(self, client_key: str | None = None) -> None:
        with self._lock:
            if client_key is None:
                self._entries.clear()
            else:
                self._entries.pop(client_key, None)


class AdminCache:
    """Answers of the admin check per (tenant, account), kept a few minutes; thread-safe."""

    def __init__(self, ttl: float = ADMIN_CACHE_SECONDS, negative_ttl: float = ADMIN_CACHE_NEGATIVE_SECONDS,
                 clock: Callable[[], float] = time.monotonic):
        self._ttl, self._negative_ttl, self._clock = ttl, negative_ttl, clock
        self._entries: dict[tuple[str, str], tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def get(self, client_key: str, account_id: str) -> bool | None:
        with self._lock:
            entry = self._entries.get((client_key, account_id))
            if entry is None:
                return None
            if entry[0] <= self._clock():
                del self._entries[(client_key, account_id)]
                return None
            return entry[1]

    def put(self, client_key: str, account_id: str, is_admin: bool) -> None:
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            ttl = self._ttl if is_admin else self._negative_ttl
            self._entries[(client_key, account_id)] = (self._clock() + ttl, is_admin)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
