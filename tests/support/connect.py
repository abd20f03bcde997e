"""Helpers to act as Jira in tests: signed context tokens and page URLs for an installed tenant."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import jwt as pyjwt

from sim.jira_auth import CONTEXT_QSH, request_qsh as qsh  # Jira's rules, written independently of the app
from app.models import utcnow
from app.services import services_of
from app.tenants import install

ADMIN_ACCOUNT = "admin-account"


@dataclass
class InstalledTenant:
    """A tenant installed in a test app's database; its Jira is `fake_jira`."""

    client_key: str
    shared_secret: str
    base_url: str
    app_base_url: str
    fake_jira: object
    id: int | None = None


def _issued(now) -> int:
    return int((now or utcnow()).timestamp())


def context_token(tenant, account_id: str = ADMIN_ACCOUNT, now=None, **claims) -> str:
    """A context token (`AP.context.getToken()`) for the tenant and account."""
    issued = _issued(now)
    body = {"iss": tenant.client_key, "sub": account_id, "iat": issued, "exp": issued + 900,
            "qsh": CONTEXT_QSH, "context": {}}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}  # claims=None drops a claim
    return pyjwt.encode(body, tenant.shared_secret, algorithm="HS256")


def page_url(tenant, path: str, account_id: str = ADMIN_ACCOUNT, query: dict | None = None, now=None) -> str:
    """`path?…&jwt=…` with a valid page token, as Jira loads the page in its iframe."""
    query_string = urlencode(query or {}, doseq=True)
    issued = _issued(now)
    base_path = urlsplit(getattr(tenant, "app_base_url", "") or "").path
    body = {"iss": tenant.client_key, "sub": account_id, "iat": issued, "exp": issued + 180,
            "qsh": qsh("GET", path, query_string, base_path), "context": {}}
    token = pyjwt.encode(body, tenant.shared_secret, algorithm="HS256")
    return f"{path}?{query_string + '&' if query_string else ''}jwt={token}"


def install_tenant(app, fake_jira, now=None) -> InstalledTenant:
    """Install the fake Jira's site into the app's database (as a verified install would)."""
    services = services_of(app)
    with app.app_context():
        tenant = install(fake_jira.install_payload(), now or utcnow(), sealer=services.sealer,
                         forget=services.tenant_cache.invalidate)
        tenant_id = tenant.id
        app_base_url = services.config.app_base_url
    return InstalledTenant(
        client_key=fake_jira.client_key,
        shared_secret=fake_jira.shared_secret,
        base_url=fake_jira.url,
        app_base_url=app_base_url,
        fake_jira=fake_jira,
        id=tenant_id,
    )


class ApiClient:
    """A test client whose calls carry a valid context token for one account."""

    def __init__(self, client, tenant, account_id: str = ADMIN_ACCOUNT):
        self.client, self.tenant, self.account_id = client, tenant, account_id

    def _headers(self, headers: dict | None) -> dict:
        merged = {"Authorization": f"JWT {context_token(self.tenant, self.account_id)}"}
        merged.update(headers or {})
        return merged

    def open(self, method: str, path: str, **kwargs):
        kwargs["headers"] = self._headers(kwargs.get("headers"))
        return self.client.open(path, method=method, **kwargs)

    def get(self, path, **kwargs):
        return self.open("GET", path, **kwargs)

    def put(self, path, **kwargs):
        return self.open("PUT", path, **kwargs)

    def post(self, path, **kwargs):
        return self.open("POST", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.open("DELETE", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.open("PATCH", path, **kwargs)

    def as_account(self, account_id: str) -> "ApiClient":
        return ApiClient(self.client, self.tenant, account_id)
