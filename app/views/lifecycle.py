"""Lifecycle callbacks from Jira: thin over app/connect/lifecycle.py (verification, single-use tokens) and
app/tenants.py (use-cases)."""
from __future__ import annotations

from flask import Blueprint

from .. import tenants
from ..connect.auth import public
from ..connect.lifecycle import accept_lifecycle
from ..errors import answers_json
from ..models import utcnow
from ..services import current_services

bp = answers_json(Blueprint("lifecycle", __name__))


@bp.post("/installed")
@public
def installed():
    services = current_services()
    accept_lifecycle("installed", services, lambda payload: tenants.install(
        payload, utcnow(), sealer=services.sealer, forget=services.tenant_cache.invalidate))
    return "", 204


@bp.post("/uninstalled")
@public
def uninstalled():
    services = current_services()
    accept_lifecycle("uninstalled", services, lambda payload: tenants.uninstall(
        payload["clientKey"], utcnow(), services.config.uninstall_grace_days, forget=services.tenant_cache.invalidate))
    return "", 204


@bp.post("/enabled")
@public
def enabled():
    services = current_services()
    accept_lifecycle("enabled", services, lambda payload: tenants.set_enabled(
        payload["clientKey"], True, utcnow(), forget=services.tenant_cache.invalidate))
    return "", 204


@bp.post("/disabled")
@public
def disabled():
    services = current_services()
    accept_lifecycle("disabled", services, lambda payload: tenants.set_enabled(
        payload["clientKey"], False, utcnow(), forget=services.tenant_cache.invalidate))
    return "", 204
