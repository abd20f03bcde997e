"""Verifying Jira's lifecycle callbacks: installed/uninstalled (RS256, signed install), enabled/disabled (HS256).

`verify_lifecycle` returns the body of a callback only after it verified as Atlassian specifies;
`accept_lifecycle` also makes each token single-use (app/connect/replay.py) and applies the callback once.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from flask import request

from ..config import tenant_site_url
from ..errors import Unauthorized
from ..jsonbody import request_json
from ..models import utcnow
from ..tenants import find_tenant, shared_secret, validate_payload
from ..urls import UrlRefused, parse_strict
from .auth import extract_token, jwt_errors_as_401, request_qsh
from .jwt import IssuerMismatch, verify_hs256, verify_install
from .replay import Claim, claim_token, mark_applied

logger = logging.getLogger(__name__)

SIGNED_INSTALL_EVENTS = ("installed", "uninstalled")
SHARED_SECRET_EVENTS = ("enabled", "disabled")
# A reinstall that moves a site to another host must be signed this recently (a captured token is older).
FRESH_INSTALL_SECONDS = 60


@dataclass(frozen=True)
class VerifiedCallback:
    payload: dict
    claims: dict
    token: str


def _payload() -> dict:
    """The JSON body (Flask answers 413 above MAX_CONTENT_LENGTH, 64 KB; app/jsonbody bounds the nesting)."""
    return validate_payload(request_json())


def _refuse(event: str, reason: str) -> Unauthorized:
    # The client key is not logged on purpose: the body is unverified at this point.
    logger.warning("%s refused: %s", event, reason)
    return Unauthorized(reason)


def _verify(event: str, services, now: datetime) -> VerifiedCallback:
    payload = _payload()
    config = services.config
    expected_qsh = request_qsh(config.app_base_url, "POST")
    with jwt_errors_as_401(event):
        token = extract_token(from_header=True, from_query=False)
        if event in SIGNED_INSTALL_EVENTS:
            verified = verify_install(token, services.install_keys, expected_qsh=expected_qsh,
                                      app_base_url=config.app_base_url, body_client_key=payload["clientKey"], now=now)
        else:
            def secret_for(client_key: str) -> str | None:
                tenant = find_tenant(client_key)
                return shared_secret(tenant, services.sealer) if tenant is not None else None

            verified = verify_hs256(token, secret_for, expected_qsh=expected_qsh, now=now)
            if verified.client_key != payload["clientKey"]:
                raise IssuerMismatch()
    if payload.get("eventType") != event:
        raise _refuse(event, f"The body's eventType is not {event!r}.")
    try:
        payload["baseUrl"] = tenant_site_url(payload["baseUrl"], config.connect_allowed_hosts,
                                             production=config.is_production)
    except UrlRefused as exc:
        raise _refuse(event, f"The Jira site's baseUrl {exc.problem}.") from None
    return VerifiedCallback(payload, verified.claims, token)


def verify_lifecycle(event: str, services) -> dict:
    """Verify the current lifecycle request for `event`; return its body or raise (401 on any failure)."""
    return _verify(event, services, utcnow()).payload


def _host(url: str | None) -> str | None:
    try:
        return parse_strict(url).host if url else None
    except UrlRefused:
        return None


def _check_host_change(event: str, callback: VerifiedCallback, now: datetime) -> None:
    tenant = find_tenant(callback.payload["clientKey"], installed_only=False)
    if tenant is None or _host(tenant.base_url) == _host(callback.payload["baseUrl"]):
        return
    if now.timestamp() - callback.claims["iat"] > FRESH_INSTALL_SECONDS:
        raise _refuse(event, "A reinstall that moves the site to another host needs a freshly signed install token.")


def accept_lifecycle(event: str, services, apply: Callable[[dict], object], *, now: datetime | None = None) -> None:
    """Verify the current callback, use its token once, and `apply(payload)` unless an identical retry already did.

    A replay of an accepted token with another body is a 401; the identical request again (Atlassian retries)
    answers as the first did.
    """
    now = now or utcnow()
    callback = _verify(event, services, now)
    if event == "installed":
        _check_host_change(event, callback, now)
    with jwt_errors_as_401(event):
        state = claim_token(callback.token, request.get_data(cache=True), event, callback.claims["exp"], now)
    if state is Claim.DONE:
        logger.info("%s for %s repeated with the same token and body: already applied", event,
                    callback.payload["clientKey"])
        return
    apply(callback.payload)
    mark_applied(callback.token)


__all__ = ["VerifiedCallback", "accept_lifecycle", "verify_lifecycle"]
