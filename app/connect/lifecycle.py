"""Verifying Jira's lifecycle callbacks: installed/uninstalled (RS256, signed install), enabled/disabled (HS256).

One function, `verify_lifecycle`, returns the body of a callback only after it verified as Atlassian specifies.
"""
from __future__ import annotations

import json
import logging

from flask import request

from ..config import tenant_site_url
from ..errors import BadRequest, Unauthorized
from ..models import utcnow
from ..tenants import find_tenant, shared_secret, validate_payload
from .auth import extract_token, jwt_errors_as_401, request_qsh
from ..urls import UrlRefused
from .jwt import IssuerMismatch, verify_hs256, verify_install

logger = logging.getLogger(__name__)

SIGNED_INSTALL_EVENTS = ("installed", "uninstalled")
SHARED_SECRET_EVENTS = ("enabled", "disabled")


def _payload() -> dict:
    """The JSON body (Flask answers 413 above MAX_CONTENT_LENGTH, 64 KB)."""
    raw = request.get_data(cache=True)
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The body must be a JSON object.") from None
    return validate_payload(payload)


def _refuse(event: str, reason: str) -> Unauthorized:
    # The client key is not logged on purpose: the body is unverified at this point.
    logger.warning("%s refused: %s", event, reason)
    return Unauthorized(reason)


def verify_lifecycle(event: str, services) -> dict:
    """Verify the current lifecycle request for `event`; return its body or raise (401 on any failure)."""
    payload = _payload()
    config = services.config
    expected_qsh = request_qsh(config.app_base_url, "POST")
    with jwt_errors_as_401(event):
        token = extract_token(from_header=True, from_query=False)
        if event in SIGNED_INSTALL_EVENTS:
            verify_install(token, services.install_keys, expected_qsh=expected_qsh, app_base_url=config.app_base_url,
                           body_client_key=payload["clientKey"], now=utcnow())
        else:
            def secret_for(client_key: str) -> str | None:
                tenant = find_tenant(client_key)
                return shared_secret(tenant, services.sealer) if tenant is not None else None

            verified = verify_hs256(token, secret_for, expected_qsh=expected_qsh, now=utcnow())
            if verified.client_key != payload["clientKey"]:
                raise IssuerMismatch()
    if payload.get("eventType") != event:
        raise _refuse(event, f"The body's eventType is not {event!r}.")
    try:
        payload["baseUrl"] = tenant_site_url(payload["baseUrl"], config.connect_allowed_hosts,
                                             production=config.is_production)
    except UrlRefused as exc:
        raise _refuse(event, f"The Jira site's baseUrl {exc.problem}.") from None
    return payload
