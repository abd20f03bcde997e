"""Xray credential use-cases: read, save with verification, verify the stored pair, remove, audit."""
from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from .errors import AppError, Conflict, ValidationFailed
from .extensions import db
from .models import CredentialAudit, Tenant, XrayCredential, utcnow

logger = logging.getLogger(__name__)

SECRET_FIELD = "xray_client_secret"
MAX_LENGTH = 256
REGION_LABELS = {"global": "Global", "us": "US", "eu": "EU", "au": "Australia"}
REJECTED_MESSAGE = "Xray rejected the Client ID or secret (or the Xray licence is not valid)."
UNREACHABLE_MESSAGE = (
    "Xray could not be reached, so these credentials were not checked. "
    "Try again in a few minutes, or store them as not verified."
)
NOT_CONFIGURED_MESSAGE = "No Xray credentials are stored yet."
UNREADABLE_MESSAGE = (
    "The stored secret can no longer be decrypted (the encryption keys changed). Enter the secret again."
)
ACTION_LABELS = {
    "saved": "Saved",
    "changed": "Changed",
    "removed": "Removed",
    "tested": "Tested",
    "save_failed": "Save attempt",
}


class XrayUnreachableForSave(AppError):
    """Xray did not answer while saving; the admin may store the pair as not verified with a second click."""

    status, code, default_message = 422, "xray_unreachable", UNREACHABLE_MESSAGE


@dataclass(frozen=True)
class CredentialInput:
    client_id: str
    client_secret: str | None  # None: keep the stored secret
    region: str
    store_unverified: bool


@dataclass(frozen=True)
class XrayAccess:
    """What a caller needs to talk to Xray for a tenant (the backup engine uses this)."""

    base_url: str
    client_id: str
    client_secret: str
    region: str


# ---------------------------------------------------------------- validation (pure)


def _text_problem(value, label: str, required: bool) -> tuple[str | None, str | None]:
    """Return (trimmed value or None, problem or None); never echo the value in the problem."""
    if value is None:
        return None, (f"{label} is required." if required else None)
    if not isinstance(value, str):
        return None, f"{label} must be text."
    value = value.strip()
    if not value:
        return None, (f"{label} is required." if required else None)
    if len(value) > MAX_LENGTH:
        return None, f"{label} must be at most {MAX_LENGTH} characters."
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp") for ch in value):
        return None, f"{label} must not contain control characters or line breaks."
    return value, None


def parse_input(body, *, has_stored_secret: bool, stored_region: str | None) -> CredentialInput:
    """Validate a PUT body; raise ValidationFailed with a message per field."""
    from .xray.regions import REGIONS

    if not isinstance(body, dict):
        raise ValidationFailed("The request body must be a JSON object.", {})
    fields: dict[str, str] = {}
    client_id, problem = _text_problem(body.get("clientId"), "Client ID", required=True)
    if problem:
        fields["clientId"] = problem
    secret, problem = _text_problem(body.get("clientSecret"), "Client secret", required=not has_stored_secret)
    if problem:
        fields["clientSecret"] = problem
    region = body.get("region")
    if region is None or region == "":
        region = stored_region or "global"
    elif not isinstance(region, str) or region not in REGIONS:
        fields["region"] = "Choose one of: " + ", ".join(REGION_LABELS.get(r, r) for r in REGIONS) + "."
    store_unverified = body.get("storeUnverified", False)
    if not isinstance(store_unverified, bool):
        fields["storeUnverified"] = "storeUnverified must be true or false."
    if fields:
        raise ValidationFailed("Some fields need your attention.", fields)
    return CredentialInput(client_id, secret, region, store_unverified)


# ---------------------------------------------------------------- reads


def stored_credential(tenant: Tenant) -> XrayCredential | None:
    return db.session.scalar(select(XrayCredential).where(XrayCredential.tenant_id == tenant.id))


def xray_base_url(region: str) -> str:
    """The Xray host for a region, derived from the configured XRAY_API_URL."""
    from . import app_config
    from .xray.regions import region_base_url

    return region_base_url(app_config().xray_api_url, region)


def xray_access(tenant: Tenant) -> XrayAccess | None:
    """The tenant's decrypted Xray access, or None when no credentials are stored.

    Raises app.crypto.DecryptionError when the key ring can no longer open the stored secret.
    """
    row = stored_credential(tenant)
    if row is None:
        return None
    return XrayAccess(xray_base_url(row.region), row.client_id, _stored_secret(tenant, row), row.region)


def _stored_secret(tenant: Tenant, row: XrayCredential) -> str:
    from .secrets import open_text

    return open_text(tenant.client_key, SECRET_FIELD, row.client_secret_enc)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def credential_view(tenant: Tenant) -> dict:
    """The API shape of the tenant's credentials; never the secret."""
    row = stored_credential(tenant)
    if row is None:
        return {
            "configured": False,
            "clientId": None,
            "region": None,
            "status": None,
            "verifiedAt": None,
            "updatedAt": None,
            "updatedBy": None,
            "testsVisible": None,
            "statusMessage": None,
        }
    return {
        "configured": True,
        "clientId": row.client_id,
        "region": row.region,
        "status": row.status,
        "verifiedAt": _iso(row.verified_at),
        "updatedAt": _iso(row.updated_at),
        "updatedBy": row.updated_by,
        "testsVisible": row.tests_visible,
        "statusMessage": row.status_message,
    }


def recent_audit(tenant: Tenant, limit: int = 10) -> list[dict]:
    """The newest audit rows as API dicts (who, what, when, outcome)."""
    rows = db.session.scalars(
        select(CredentialAudit)
        .where(CredentialAudit.tenant_id == tenant.id)
        .order_by(CredentialAudit.at.desc(), CredentialAudit.id.desc())
        .limit(limit)
    )
    return [
        {
            "at": _iso(r.at),
            "accountId": r.account_id,
            "action": r.action,
            "actionLabel": ACTION_LABELS.get(r.action, r.action),
            "outcome": r.outcome,
        }
        for r in rows
    ]


# ---------------------------------------------------------------- writes


def _audit(tenant: Tenant, account_id: str | None, action: str, outcome: str, now: datetime) -> None:
    db.session.add(CredentialAudit(tenant_id=tenant.id, account_id=account_id, action=action, outcome=outcome[:255], at=now))


VERIFY_MAX_WAIT_SECONDS = 10.0


def _default_verify(tenant: Tenant):
    """Verify through the tenant's pacer, shared with its backups in every process.

    An admin is waiting: when a running backup has used the tenant's request budget, answer at once
    that Xray is busy instead of holding the page until a slot frees up (which can take minutes).
    """
    from . import app_config
    from .xray.shared_pacer import shared_pacer_for
    from .xray.verify import Verification, verify_credentials

    pacer = shared_pacer_for(tenant.client_key, app_config().xray_rate_limit)

    def verify(base_url: str, client_id: str, client_secret: str):
        wait = pacer.delay()
        if wait > VERIFY_MAX_WAIT_SECONDS:
            return Verification("unreachable", None, "A backup is using this site's Xray request budget right now; "
                                f"try again in about {int(wait) + 1} seconds.")
        return verify_credentials(base_url, client_id, client_secret, pacer=pacer)

    verify.pacer = pacer
    return verify


def _connected_text(tests_visible: int | None) -> str:
    if tests_visible is None:
        return "connected"
    return f"connected ({tests_visible} test{'' if tests_visible == 1 else 's'} visible)"


def _rejection(result) -> tuple[str, dict[str, str]]:
    """The message and fields for a rejected pair: a wrong key, or a key whose data lives in another region."""
    from .xray.verify import REGION_HINT

    if result.message == REGION_HINT:
        return REGION_HINT, {"region": REGION_HINT}
    return REJECTED_MESSAGE, {"clientId": REJECTED_MESSAGE, "clientSecret": REJECTED_MESSAGE}


def save_credentials(
    tenant: Tenant,
    account_id: str | None,
    body,
    *,
    now: datetime | None = None,
    verify: Callable | None = None,
) -> XrayCredential:
    """Verify the pair with Xray, then store it; rejected → nothing stored; unreachable → stored only on request."""
    from .crypto import DecryptionError
    from .secrets import seal

    now = now or utcnow()
    verify = verify or _default_verify(tenant)
    row = stored_credential(tenant)
    data = parse_input(body, has_stored_secret=row is not None, stored_region=row.region if row else None)
    secret_kept = data.client_secret is None
    try:
        secret = _stored_secret(tenant, row) if secret_kept else data.client_secret
    except DecryptionError:
        logger.error("tenant %s: the stored Xray secret cannot be decrypted with ENCRYPTION_KEYS", tenant.id)
        raise ValidationFailed(UNREADABLE_MESSAGE, {"clientSecret": UNREADABLE_MESSAGE}) from None
    action = "changed" if row is not None else "saved"

    result = verify(xray_base_url(data.region), data.client_id, secret)
    logger.info("xray credentials check for tenant %s: %s", tenant.id, result.status)
    if result.status == "rejected":
        _audit(tenant, account_id, "save_failed", "Xray rejected them; nothing stored", now)
        db.session.commit()
        message, fields = _rejection(result)
        raise ValidationFailed(message, fields)
    if result.status != "connected" and not data.store_unverified:
        _audit(tenant, account_id, "save_failed", "Xray unreachable; nothing stored", now)
        db.session.commit()
        raise XrayUnreachableForSave()

    if row is None:
        row = XrayCredential(tenant_id=tenant.id)
        db.session.add(row)
    changes = []
    if action == "changed":
        if row.client_id != data.client_id:
            changes.append("Client ID changed")
        changes.append("secret kept" if secret_kept else "secret replaced")
        if row.region != data.region:
            changes.append(f"region set to {REGION_LABELS.get(data.region, data.region)}")
    row.client_id = data.client_id
    if not secret_kept:
        row.client_secret_enc = seal(tenant.client_key, SECRET_FIELD, secret)
    row.region = data.region
    row.updated_at = now
    row.updated_by = account_id
    if result.status == "connected":
        row.status, row.status_message = "connected", None
        row.tests_visible, row.verified_at = result.tests_visible, now
        outcome = _connected_text(result.tests_visible)
    else:
        row.status, row.status_message = "unverified", "Not verified: Xray was unreachable when they were saved."
        row.tests_visible, row.verified_at = None, None
        outcome = "stored as not verified (Xray unreachable)"
    _audit(tenant, account_id, action, "; ".join(changes + [outcome]), now)
    try:
        db.session.commit()
    except IntegrityError:
        # Another admin stored a first pair at the same moment (one row per tenant).
        db.session.rollback()
        raise Conflict("Someone else saved Xray credentials at the same time. Reload the page and check them.") from None
    return row


def verify_stored(
    tenant: Tenant, account_id: str | None, *, now: datetime | None = None, verify: Callable | None = None
) -> tuple[bool, str]:
    """Test the stored pair again, record the outcome on the row and in the audit trail."""
    from .crypto import DecryptionError

    now = now or utcnow()
    verify = verify or _default_verify(tenant)
    try:
        access = xray_access(tenant)
    except DecryptionError:
        logger.error("tenant %s: the stored Xray secret cannot be decrypted with ENCRYPTION_KEYS", tenant.id)
        raise Conflict(UNREADABLE_MESSAGE) from None
    if access is None:
        raise Conflict(NOT_CONFIGURED_MESSAGE)
    result = verify(access.base_url, access.client_id, access.client_secret)
    row = stored_credential(tenant)
    if result.status == "connected":
        row.status, row.status_message = "connected", None
        row.tests_visible, row.verified_at = result.tests_visible, now
        n = result.tests_visible
        message = "Connected to Xray." if n is None else f"Connected to Xray: {n} test{'' if n == 1 else 's'} visible."
        outcome, ok = _connected_text(n), True
    elif result.status == "rejected":
        message = _rejection(result)[0]
        row.status, row.status_message = "rejected", message
        row.tests_visible, row.verified_at = None, now
        outcome, ok = "rejected by Xray", False
    else:
        # A failed check says nothing about the pair: keep the last known verification time.
        row.status, row.status_message = "unverified", "Not verified: Xray was unreachable at the last test."
        message = "Xray could not be reached. The stored credentials were not checked; try again in a few minutes."
        outcome, ok = "Xray unreachable", False
    _audit(tenant, account_id, "tested", outcome, now)
    db.session.commit()
    return ok, message


def remove_credentials(tenant: Tenant, account_id: str | None, *, now: datetime | None = None) -> bool:
    """Delete the stored pair; return whether there was one."""
    now = now or utcnow()
    row = stored_credential(tenant)
    if row is None:
        return False
    db.session.delete(row)
    _audit(tenant, account_id, "removed", "credentials removed", now)
    db.session.commit()
    return True
