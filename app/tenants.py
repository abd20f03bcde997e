"""Tenant lifecycle use-cases: install (an upsert by clientKey), uninstall, enable/disable, shared secret."""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from .errors import BadRequest
from .extensions import db
from .models import SHARED_SECRET_FIELD, BackupRun, Tenant, XrayCredential
from .sealing import Sealer
from .urls import UrlRefused, normalize_base_url

logger = logging.getLogger(__name__)

Forget = Callable[[str], None]  # drops a process-local cached copy of a tenant (the auth layer's cache)
_TEXT_LIMITS = {
    "clientKey": 255,
    "sharedSecret": 512,
    "baseUrl": 255,
    "displayUrl": 255,
    "productType": 32,
    "description": 255,
    "serverVersion": 64,
    "pluginsVersion": 64,
    "oauthClientId": 255,
    "eventType": 32,
    "key": 64,
    "installationId": 255,
}


def validate_payload(payload: object) -> dict:
    """Check a lifecycle body's shape and return it with its URLs canonical; raise BadRequest naming bad fields."""
    if not isinstance(payload, dict):
        raise BadRequest("The body must be a JSON object.")
    fields: dict[str, str] = {}
    for name, limit in _TEXT_LIMITS.items():
        value = payload.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            fields[name] = "must be a string"
        elif len(value) > limit:
            fields[name] = f"longer than {limit} characters"
    for name in ("clientKey", "baseUrl", "eventType"):
        if not payload.get(name):
            fields.setdefault(name, "is required")
    if payload.get("eventType") == "installed" and not payload.get("sharedSecret"):
        fields.setdefault("sharedSecret", "is required")
    # Only the canonical form of each URL is kept: what the allow-list checks is what is stored and called.
    payload = dict(payload)
    for name in ("baseUrl", "displayUrl"):
        value = payload.get(name)
        if isinstance(value, str) and value and name not in fields:
            try:
                payload[name] = normalize_base_url(value)
            except UrlRefused as exc:
                fields[name] = f"must be an http(s) URL: it {exc.problem}"
    if fields:
        raise BadRequest("The lifecycle payload is invalid.", fields)
    return payload


def _nothing_cached(_client_key: str) -> None:
    pass


def find_tenant(client_key: str, *, installed_only: bool = True) -> Tenant | None:
    """The tenant for a clientKey (only an installed one unless told otherwise)."""
    stmt = select(Tenant).where(Tenant.client_key == client_key)
    if installed_only:
        stmt = stmt.where(Tenant.installed.is_(True))
    return db.session.scalars(stmt).first()


def find_by_installation(installation_id: str) -> Tenant | None:
    """The installed tenant linked to a Forge installation (the `installationId` of its last install)."""
    stmt = select(Tenant).where(Tenant.installation_id == installation_id, Tenant.installed.is_(True))
    return db.session.scalars(stmt).first()


def shared_secret(tenant: Tenant, sealer: Sealer) -> str:
    """The tenant's Connect shared secret, decrypted."""
    return sealer.open_text(tenant.client_key, SHARED_SECRET_FIELD, tenant.shared_secret_enc)


def _apply(tenant: Tenant, payload: dict, now: datetime, sealer: Sealer) -> None:
    tenant.shared_secret_enc = sealer.seal(tenant.client_key, SHARED_SECRET_FIELD, payload["sharedSecret"])
    tenant.base_url = payload["baseUrl"]
    tenant.display_url = payload.get("displayUrl") or None
    tenant.product_type = payload.get("productType") or "jira"
    tenant.description = payload.get("description")
    tenant.server_version = payload.get("serverVersion")
    tenant.plugins_version = payload.get("pluginsVersion")
    tenant.oauth_client_id = payload.get("oauthClientId")
    # Forge sends a new installationId with each install; a plain Connect install has none (no Forge link).
    tenant.installation_id = payload.get("installationId") or None
    tenant.installed = True
    tenant.uninstalled_at = None
    tenant.purge_after = None  # a reinstall within the grace period keeps everything
    tenant.updated_at = now


def install(payload: dict, now: datetime, *, sealer: Sealer, forget: Forget = _nothing_cached) -> Tenant:
    """Upsert the tenant of a verified install payload, keyed by clientKey; settings survive a reinstall."""
    payload = validate_payload(payload)
    client_key = payload["clientKey"]
    for attempt in range(2):
        _release_installation(payload.get("installationId"), client_key)
        tenant = find_tenant(client_key, installed_only=False)
        created = tenant is None
        if created:
            tenant = Tenant(client_key=client_key, installed_at=now, enabled=True)
            db.session.add(tenant)
        _apply(tenant, payload, now, sealer)
        try:
            db.session.commit()
            forget(client_key)
        except IntegrityError:
            # Two installs for the same clientKey raced: the other one inserted, so update its row.
            db.session.rollback()
            if attempt:
                raise
            continue
        logger.info("tenant %s %s (base URL %s)", client_key, "installed" if created else "reinstalled", tenant.base_url)
        return tenant
    raise AssertionError("unreachable")


def _release_installation(installation_id: str | None, client_key: str) -> None:
    # One installation names one site: the newest verified install keeps the link, whatever an older row says.
    if installation_id:
        db.session.execute(update(Tenant)
                           .where(Tenant.installation_id == installation_id, Tenant.client_key != client_key)
                           .values(installation_id=None))


def uninstall(client_key: str, now: datetime, grace_days: int, *, forget: Forget = _nothing_cached) -> Tenant | None:
    """Mark the tenant uninstalled, delete its Xray credentials, cancel queued runs, schedule the purge."""
    tenant = find_tenant(client_key, installed_only=False)
    if tenant is None:
        return None
    tenant.installed = False
    tenant.uninstalled_at = now
    tenant.purge_after = now + timedelta(days=grace_days)
    tenant.installation_id = None  # Forge calls for this installation find no tenant from now on
    tenant.updated_at = now
    db.session.execute(delete(XrayCredential).where(XrayCredential.tenant_id == tenant.id))
    db.session.execute(
        update(BackupRun)
        .where(BackupRun.tenant_id == tenant.id, BackupRun.status == "queued")
        .values(status="cancelled", finished_at=now, message="The app was uninstalled from this Jira site.")
    )
    db.session.commit()
    forget(client_key)
    logger.info("tenant %s uninstalled; snapshots kept until %s", client_key, tenant.purge_after.isoformat())
    return tenant


def set_enabled(client_key: str, enabled: bool, now: datetime, *, forget: Forget = _nothing_cached) -> Tenant | None:
    """Record an enabled/disabled lifecycle event."""
    tenant = find_tenant(client_key, installed_only=False)
    if tenant is None:
        return None
    tenant.enabled = enabled
    tenant.updated_at = now
    db.session.commit()
    forget(client_key)
    return tenant


def tenants_due_for_purge(now: datetime) -> list[Tenant]:
    """Uninstalled tenants whose grace period is over."""
    stmt = select(Tenant).where(Tenant.installed.is_(False), Tenant.purge_after.is_not(None), Tenant.purge_after <= now)
    return list(db.session.scalars(stmt))
