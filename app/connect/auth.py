"""Flask adapters over the JWT core: every route is authenticated unless marked public.

Paths under /api/ take a context token (`Authorization: JWT …`, qsh `context-qsh`); every other
non-public path is a page and takes `?jwt=` with a computed qsh. Then the Jira admin check.
"""
from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import Flask, current_app, g, request
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import make_transient_to_detached

from ..crypto import DecryptionError
from ..errors import Forbidden, ServiceUnavailable, Unauthorized
from ..models import Tenant, utcnow
from .jira import JiraError, is_jira_admin
from .jwt import (
    AmbiguousToken,
    CONTEXT_QSH,
    InvalidSignature,
    JwtError,
    MalformedToken,
    MissingToken,
    qsh,
    verify_hs256,
)

logger = logging.getLogger(__name__)


def public(view):
    """Mark a view as reachable without a Connect token."""
    view._public = True
    return view


def is_public(view) -> bool:
    return bool(getattr(view, "_public", False))


@contextmanager
def jwt_errors_as_401(what: str):
    """The one adapter from the core's typed JwtError to a 401 whose message names no secret."""
    try:
        yield
    except JwtError as exc:
        logger.info("%s refused: %s", what, exc.detail)
        raise Unauthorized(exc.detail) from None


def init_auth(app: Flask) -> None:
    """Register the one before_request hook that authenticates every non-public endpoint."""
    app.before_request(_authenticate)


def _config():
    from .. import app_config

    return app_config()


def request_qsh(method: str | None = None) -> str:
    """The qsh of the current request, relative to the path of APP_BASE_URL."""
    base_path = urlsplit(_config().app_base_url).path
    query = request.query_string.decode("utf-8", "replace")
    return qsh(method or request.method, request.path, query, base_path)


def _header_token() -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.upper() != "JWT" or not token.strip():
        raise MalformedToken("The Authorization header must be 'JWT <token>'.")
    return token.strip()


def extract_token(*, from_header: bool, from_query: bool) -> str:
    """The token of the current request from the one place the route accepts; both places → reject."""
    header_token = _header_token()
    query_token = request.args.get("jwt")
    if header_token is not None and query_token is not None:
        raise AmbiguousToken()
    if from_header and header_token:
        return header_token
    if from_query and query_token:
        return query_token
    if header_token or query_token:
        where = "the Authorization header" if from_header else "the jwt query parameter"
        raise MissingToken(f"This route takes its JWT in {where}.")
    raise MissingToken()


@dataclass(frozen=True)
class _CachedTenant:
    snapshot: Tenant  # detached copy: merged into each request's session without a query
    secret: str
    expires: float


class TenantCache:
    """Installed tenants and their decrypted secrets for a few seconds, so steady traffic skips a query.

    Lifecycle changes made by this process invalidate at once (app.tenants does it); other
    processes see them within `ttl`. A signature failure on a cached secret re-reads the database,
    so a reinstall's new secret works immediately everywhere.
    """

    def __init__(self, ttl: float = 3.0, clock=time.monotonic):
        self.ttl, self._clock = ttl, clock
        self._entries: dict[str, _CachedTenant] = {}
        self._lock = threading.Lock()

    def get(self, client_key: str) -> _CachedTenant | None:
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
            if len(self._entries) > 10_000:
                self._entries.clear()
            self._entries[tenant.client_key] = _CachedTenant(snapshot, secret, self._clock() + self.ttl)

    def invalidate(self, client_key: str | None = None) -> None:
        with self._lock:
            if client_key is None:
                self._entries.clear()
            else:
                self._entries.pop(client_key, None)


def tenant_cache(app: Flask | None = None) -> TenantCache:
    return (app or current_app).extensions.setdefault("connect_tenant_cache", TenantCache())


def _verify_against(token: str, expected: str, *, use_cache: bool):
    from ..extensions import db
    from ..tenants import find_tenant, shared_secret

    cache = tenant_cache()
    found: dict = {}

    def secret_for(client_key: str) -> str | None:
        entry = cache.get(client_key) if use_cache else None
        if entry is not None:
            found["cached"] = entry
            return entry.secret
        tenant = find_tenant(client_key)
        if tenant is None:
            return None
        try:
            secret = shared_secret(tenant)
        except DecryptionError:
            logger.error("tenant %s: the stored shared secret cannot be decrypted with ENCRYPTION_KEYS", client_key)
            return None
        cache.put(tenant, secret)
        found["tenant"] = tenant
        return secret

    verified = verify_hs256(token, secret_for, expected_qsh=expected, now=utcnow())
    tenant = found.get("tenant") or db.session.merge(found["cached"].snapshot, load=False)
    return tenant, verified


def verify_current_request(*, context: bool):
    """Verify the current request's HS256 token; return (tenant, verified token) or raise JwtError."""
    token = extract_token(from_header=context, from_query=not context)
    expected = CONTEXT_QSH if context else request_qsh()
    try:
        return _verify_against(token, expected, use_cache=True)
    except InvalidSignature:
        # The cached secret may predate a reinstall handled by another process: check the database.
        return _verify_against(token, expected, use_cache=False)


def _authenticate():
    endpoint = request.endpoint
    if endpoint is None or endpoint == "static":
        return None  # unrouted: Flask answers 404/405 without touching data
    view = current_app.view_functions.get(endpoint)
    if view is None or is_public(view):
        return None
    context = request.path.startswith("/api/")
    with jwt_errors_as_401(f"{request.method} {request.path}"):
        tenant, verified = verify_current_request(context=context)
    account_id = verified.account_id
    if account_id is None:
        raise Forbidden("This page needs a signed-in Jira administrator.")
    try:
        admin = is_jira_admin(tenant, account_id)
    except JiraError as exc:
        logger.warning("admin check for tenant %s failed: %s", tenant.client_key, exc)
        raise ServiceUnavailable("Jira could not confirm your permissions right now; try again shortly.") from None
    if not admin:
        raise Forbidden()
    g.tenant = tenant
    g.account_id = account_id
    g.claims = verified.claims
    return None
