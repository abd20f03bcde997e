"""Flask adapters over the JWT core: every route is authenticated unless marked public.

Paths under /api/ take a context token (`Authorization: JWT …`, qsh `context-qsh`); every other
non-public path is a page and takes `?jwt=` with a computed qsh. Then the Jira admin check.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from urllib.parse import urlsplit

from flask import Flask, g, request

from ..crypto import DecryptionError
from ..errors import Forbidden, ServiceUnavailable, Unauthorized
from ..extensions import db
from ..models import utcnow
from ..tenants import find_tenant, shared_secret
from ..urls import Purpose
from .jira import JiraClient, JiraError, is_jira_admin
from .jwt import AmbiguousToken, CONTEXT_QSH, InvalidSignature, JwtError, MalformedToken, MissingToken, qsh, verify_hs256

logger = logging.getLogger(__name__)

DISABLED_MESSAGE = ("Xray Backup is disabled on this Jira site. A Jira administrator can enable it again in "
                    "Manage apps; scheduled backups resume then.")


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


def request_qsh(app_base_url: str, method: str | None = None) -> str:
    """The qsh of the current request, relative to the path of APP_BASE_URL."""
    query = request.query_string.decode("utf-8", "replace")
    return qsh(method or request.method, request.path, query, urlsplit(app_base_url).path)


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


def _verify_against(services, token: str, expected: str, *, use_cache: bool):
    cache = services.tenant_cache
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
            secret = shared_secret(tenant, services.sealer)
        except DecryptionError:
            logger.error("tenant %s: the stored shared secret cannot be decrypted with ENCRYPTION_KEYS", client_key)
            return None
        cache.put(tenant, secret)
        found["tenant"] = tenant
        found["secret"] = secret
        return secret

    verified = verify_hs256(token, secret_for, expected_qsh=expected, now=utcnow())
    if "tenant" in found:
        return found["tenant"], found["secret"], verified
    entry = found["cached"]
    return db.session.merge(entry.snapshot, load=False), entry.secret, verified


def verify_current_request(services, *, context: bool):
    """Verify the current request's HS256 token; return (tenant, shared secret, verified token) or raise JwtError."""
    token = extract_token(from_header=context, from_query=not context)
    expected = CONTEXT_QSH if context else request_qsh(services.config.app_base_url)
    try:
        return _verify_against(services, token, expected, use_cache=True)
    except InvalidSignature:
        # The cached secret may predate a reinstall handled by another process: check the database.
        return _verify_against(services, token, expected, use_cache=False)


def init_auth(app: Flask, services) -> None:
    """Register the one before_request hook that authenticates every non-public endpoint."""

    def authenticate():
        endpoint = request.endpoint
        if endpoint is None or endpoint == "static":
            return None  # unrouted: Flask answers 404/405 without touching data
        view = app.view_functions.get(endpoint)
        if view is None or is_public(view):
            return None
        with jwt_errors_as_401(f"{request.method} {request.path}"):
            tenant, secret, verified = verify_current_request(services, context=request.path.startswith("/api/"))
        if not tenant.enabled:
            # Jira sent /disabled: nothing is served or queued until /enabled (scheduled backups pause too).
            raise Forbidden(DISABLED_MESSAGE)
        account_id = verified.account_id
        if account_id is None:
            raise Forbidden("This page needs a signed-in Jira administrator.")
        try:
            admin = is_jira_admin(tenant.client_key, account_id, services.admin_cache,
                                  lambda: JiraClient(tenant, shared_secret=secret, app_key=services.config.app_key,
                                                     session=services.outbound(Purpose.TENANT_SITE)))
        except JiraError as exc:
            logger.warning("admin check for tenant %s failed: %s", tenant.client_key, exc)
            raise ServiceUnavailable("Jira could not confirm your permissions right now; try again shortly.") from None
        if not admin:
            raise Forbidden()
        g.tenant = tenant
        g.account_id = account_id
        g.claims = verified.claims
        return None

    app.before_request(authenticate)
