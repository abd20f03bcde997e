"""Calling Jira as the app: HS256 with the tenant's shared secret, iss = APP_KEY, qsh of the exact request."""
from __future__ import annotations

import logging
import random
import time
from typing import Callable, Iterator
from urllib.parse import quote, urlencode, urlsplit

import requests

from ..urls import DestinationRefused
from .jwt import encode_for_jira

logger = logging.getLogger(__name__)

USER_BATCH = 50  # account ids per user/bulk call: keeps the query string well under URL limits

class JiraError(Exception):
    """Jira answered with an error (the message names the status, never the token)."""

    def __init__(self, method: str, path: str, status: int | None, problem: str = ""):
        self.status = status
        where = f"{method} {path}"
        super().__init__(f"Jira {where} failed: {problem or f'HTTP {status}'}")


class JiraUnavailable(JiraError):
    """Jira could not be reached or kept failing after the retry budget."""


def _retry_after(response: requests.Response, default: float) -> float:
    value = response.headers.get("Retry-After", "")
    try:
        return max(0.0, min(float(value), 30.0))
    except ValueError:
        return default


class JiraClient:
    """One tenant's Jira REST API, called as the app."""

    def __init__(
        self,
        tenant_like,
        *,
        shared_secret: str,
        app_key: str,
        session: requests.Session | None = None,
        timeout: tuple[float, float] = (5, 20),
        max_attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ):
        self.base_url = tenant_like.base_url.rstrip("/")
        self._secret = shared_secret
        self._app_key = app_key
        self._session = session or requests.Session()
        self._timeout = timeout
        self._max_attempts = max(1, max_attempts)
        self._sleep = sleep
        self._rng = rng or random.Random()

    def __repr__(self) -> str:  # never show the secret
        return f"JiraClient({self.base_url!r})"

    def url_for(self, path: str, params: dict | list | None = None) -> str:
        """The absolute URL for an API path (relative to the tenant base URL) with an encoded query."""
        url = self.base_url + "/" + path.lstrip("/")
        if params:
            url += "?" + urlencode(params, doseq=True, quote_via=quote)
        return url

    def request(self, method: str, path: str, *, params=None, json=None) -> requests.Response:
        """Send one request with bounded retries on 429 (honouring Retry-After), 5xx and network errors."""
        method = method.upper()
        url = self.url_for(path, params)
        delay = 0.5
        for attempt in range(1, self._max_attempts + 1):
            token = encode_for_jira(method, url, app_key=self._app_key, shared_secret=self._secret, base_url=self.base_url)
            headers = {"Authorization": f"JWT {token}", "Accept": "application/json"}
            try:
                response = self._session.request(method, url, headers=headers, json=json, timeout=self._timeout)
            except DestinationRefused as exc:
                # The URL policy refused where the site resolves: not worth a retry, never a traceback.
                raise JiraError(method, urlsplit(url).path, None, exc.problem) from None
            except requests.RequestException as exc:
                if attempt == self._max_attempts:
                    raise JiraUnavailable(method, urlsplit(url).path, None, type(exc).__name__) from None
                self._sleep(delay * (1 + self._rng.random()))
                delay *= 2
                continue
            if response.status_code == 429 or response.status_code >= 500:
                if attempt == self._max_attempts:
                    raise JiraUnavailable(method, urlsplit(url).path, response.status_code)
                wait = _retry_after(response, delay) if response.status_code == 429 else delay
                self._sleep(wait * (1 + 0.1 * self._rng.random()))
                delay *= 2
                continue
            if response.status_code >= 400:
                raise JiraError(method, urlsplit(url).path, response.status_code)
            return response
        raise AssertionError("unreachable")

    def get_json(self, path: str, params=None) -> dict:
        return self._json("GET", path, self.request("GET", path, params=params), dict)

    def get_list(self, path: str, params=None) -> list:
        """GET a resource Jira answers with a JSON array (a project's components or versions)."""
        return self._json("GET", path, self.request("GET", path, params=params), list)

    def post_json(self, path: str, body: dict) -> dict:
        return self._json("POST", path, self.request("POST", path, json=body), dict)

    @staticmethod
    def _json(method: str, path: str, response: requests.Response, shape: type):
        try:
            body = response.json()
        except ValueError:
            raise JiraError(method, path, response.status_code, "the answer is not JSON") from None
        if not isinstance(body, shape):
            what = "a JSON object" if shape is dict else "a JSON array"
            raise JiraError(method, path, response.status_code, f"the answer is not {what}")
        return body

    def has_global_permission(self, account_id: str, permission: str = "ADMINISTER") -> bool:
        """Ask Jira whether the account holds a global permission."""
        answer = self.post_json(
            "/rest/api/3/permissions/check", {"accountId": account_id, "globalPermissions": [permission]}
        )
        return permission in (answer.get("globalPermissions") or [])

    def display_names(self, account_ids, page_size: int = 50) -> dict[str, str]:
        """Display names of the accounts Jira knows (`GET /rest/api/3/user/bulk`); unknown accounts are left out."""
        wanted = list(dict.fromkeys(a for a in account_ids if a))
        names: dict[str, str] = {}
        for start in range(0, len(wanted), page_size):
            params = [("accountId", a) for a in wanted[start:start + page_size]] + [("maxResults", page_size)]
            for user in self.get_json("/rest/api/3/user/bulk", params).get("values") or []:
                if isinstance(user, dict) and user.get("accountId") and user.get("displayName"):
                    names[str(user["accountId"])] = str(user["displayName"])
        return names

    def iter_projects(self, page_size: int = 50) -> Iterator[dict]:
        """Every project visible to the app, as {"id", "key", "name"}, following the pages."""
        start = 0
        while True:
            page = self.get_json("/rest/api/3/project/search", {"startAt": start, "maxResults": page_size})
            values = page.get("values") or []
            for project in values:
                yield {"id": str(project.get("id")), "key": project.get("key"), "name": project.get("name")}
            if page.get("isLast", True) or not values:
                return
            start += len(values)


    def project(self, key_or_id: str) -> dict | None:
        """One project as {"id", "key", "name"}, or None when Jira knows no such project (404)."""
        try:
            found = self.get_json(f"/rest/api/3/project/{quote(key_or_id, safe='')}")
        except JiraError as exc:
            if exc.status == 404:
                return None
            raise
        return {"id": str(found.get("id")), "key": found.get("key"), "name": found.get("name")}

    def component_names(self, key_or_id: str) -> set[str]:
        """The names of a project's components."""
        path = f"/rest/api/3/project/{quote(key_or_id, safe='')}/components"
        return {str(c.get("name")) for c in self.get_list(path) if isinstance(c, dict)}

    def version_names(self, key_or_id: str) -> set[str]:
        """The names of a project's versions."""
        path = f"/rest/api/3/project/{quote(key_or_id, safe='')}/versions"
        return {str(v.get("name")) for v in self.get_list(path) if isinstance(v, dict)}

    def existing_accounts(self, account_ids, batch: int = USER_BATCH) -> set[str]:
        """Which of these account ids Jira knows (unknown or deleted accounts are left out, as Jira does)."""
        wanted = sorted({a for a in account_ids if isinstance(a, str) and a})
        found: set[str] = set()
        for first in range(0, len(wanted), batch):
            query = [("accountId", a) for a in wanted[first:first + batch]]
            start = 0
            while True:
                page = self.get_json("/rest/api/3/user/bulk", query + [("startAt", start), ("maxResults", batch)])
                values = page.get("values") or []
                found.update(str(v.get("accountId")) for v in values if isinstance(v, dict))
                if page.get("isLast", True) or not values:
                    break
                start += len(values)
        return found


def is_jira_admin(client_key: str, account_id: str, cache, client_factory: Callable[[], "JiraClient"]) -> bool:
    """Tell whether the account administers the tenant's Jira; cached a few minutes per (tenant, account).

    Raises JiraError / JiraUnavailable when Jira cannot answer; failures are not cached.
    """
    cached = cache.get(client_key, account_id)
    if cached is not None:
        return cached
    answer = client_factory().has_global_permission(account_id, "ADMINISTER")
    cache.put(client_key, account_id, answer)
    return answer
