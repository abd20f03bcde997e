"""Lifecycle callbacks from Jira: installed/uninstalled (RS256, signed install) and enabled/disabled (HS256)."""
from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

from flask import Blueprint, request

from .. import app_config, tenants
from ..config import host_allowed
from ..connect.auth import extract_token, jwt_errors_as_401, public, request_qsh
from ..connect import install_keys
from ..connect.jwt import IssuerMismatch, verify_hs256, verify_install
from ..errors import BadRequest, Unauthorized
from ..models import utcnow

logger = logging.getLogger(__name__)
bp = Blueprint("lifecycle", __name__)


def _payload() -> dict:
    """The JSON body (Flask answers 413 above MAX_CONTENT_LENGTH, 64 KB)."""
    raw = request.get_data(cache=True)
    try:
        payload = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The body must be a JSON object.") from None
    return tenants.validate_payload(payload)


def _refuse(event: str, reason: str):
    # The client key is not logged on purpose: the body is unverified at this point.
    logger.warning("%s refused: %s", event, reason)
    return Unauthorized(reason)


def _verified_install_payload(event: str) -> dict:
    """Verify an installed/uninstalled call as Atlassian specifies; return its body."""
    payload = _payload()
    config = app_config()
    with jwt_errors_as_401(event):
        token = extract_token(from_header=True, from_query=False)
        verify_install(
            token,
            install_keys.InstallKeyFetcher(config.connect_install_keys_url, timeout=install_keys.FETCH_TIMEOUT),
            expected_qsh=request_qsh("POST"),
            app_base_url=config.app_base_url,
            body_client_key=payload["clientKey"],
            now=utcnow(),
        )
    _check_event_and_host(event, payload)
    return payload


def _check_event_and_host(event: str, payload: dict) -> None:
    if payload.get("eventType") != event:
        raise _refuse(event, f"The body's eventType is not {event!r}.")
    parts = urlsplit(payload["baseUrl"])
    if not host_allowed(parts.hostname or "", parts.scheme, app_config().connect_allowed_hosts):
        raise _refuse(event, "The Jira site's baseUrl is not an allowed host.")


@bp.post("/installed")
@public
def installed():
    payload = _verified_install_payload("installed")
    tenants.install(payload, utcnow())
    return "", 204


@bp.post("/uninstalled")
@public
def uninstalled():
    payload = _verified_install_payload("uninstalled")
    tenants.uninstall(payload["clientKey"], utcnow(), app_config().uninstall_grace_days)
    return "", 204


def _verified_hs256_payload(event: str) -> dict:
    """Verify an enabled/disabled call: HS256 with the tenant's secret and the qsh of this POST."""
    payload = _payload()

    def secret_for(client_key: str) -> str | None:
        tenant = tenants.find_tenant(client_key)
        return tenants.shared_secret(tenant) if tenant is not None else None

    with jwt_errors_as_401(event):
        token = extract_token(from_header=True, from_query=False)
        verified = verify_hs256(token, secret_for, expected_qsh=request_qsh("POST"), now=utcnow())
        if verified.client_key != payload["clientKey"]:
            raise IssuerMismatch()
    _check_event_and_host(event, payload)
    return payload


@bp.post("/enabled")
@public
def enabled():
    payload = _verified_hs256_payload("enabled")
    tenants.set_enabled(payload["clientKey"], True, utcnow())
    return "", 204


@bp.post("/disabled")
@public
def disabled():
    payload = _verified_hs256_payload("disabled")
    tenants.set_enabled(payload["clientKey"], False, utcnow())
    return "", 204
