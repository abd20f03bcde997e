"""Xray credential use-cases: read, save with verification, verify the stored pair, remove, audit.

`CredentialService` is built once per app (app/services.py) with what it needs: the sealer for the secret,
the configured Xray base URL, and the per-tenant pacers its checks share with backups.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ..crypto import DecryptionError
from ..errors import AppError, Conflict, ValidationFailed
from ..extensions import db
from ..models import XRAY_SECRET_FIELD, CredentialAudit, Tenant, XrayCredential, utcnow
from ..presentation import iso, plural
from ..sealing import Sealer
from ..xray.regions import region_base_url
from ..xray.verify import REGION_HINT, Verification, verify_credentials
from .validation import REGION_LABELS, parse_input

logger = logging.getLogger(__name__)

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
VERIFY_MAX_WAIT_SECONDS = 10.0

Verify = Callable[[str, str, str], Verification]  # (base URL, client id, secret) → verdict


class XrayUnreachableForSave(AppError):
    """Xray did not answer while saving; the admin may store the pair as not verified with a second click."""

    status, code, default_message = 422, "xray_unreachable", UNREACHABLE_MESSAGE


@dataclass(frozen=True)
class XrayAccess:
    """What a caller needs to talk to Xray for a tenant (the backup engine uses this)."""

    base_url: str
    client_id: str
    client_secret: str
    region: str


def _connected_text(tests_visible: int | None) -> str:
    if tests_visible is None:
        return "connected"
    return f"connected ({plural(tests_visible, 'test')} visible)"


def _rejection(result) -> tuple[str, dict[str, str]]:
    """The message and fields for a rejected pair: a wrong key, or a key whose data lives in another region."""
    if result.message == REGION_HINT:
        return REGION_HINT, {"region": REGION_HINT}
    return REJECTED_MESSAGE, {"clientId": REJECTED_MESSAGE, "clientSecret": REJECTED_MESSAGE}


def _audit(tenant: Tenant, account_id: str | None, action: str, outcome: str, now: datetime) -> None:
    db.session.add(CredentialAudit(tenant_id=tenant.id, account_id=account_id, action=action, outcome=outcome[:255],
                                   at=now))


class CredentialService:
    """A tenant's Xray API key: stored sealed, checked against Xray before it is kept, audited."""

    def __init__(self, sealer: Sealer, xray_api_url: str, pacers):
        self.sealer, self.xray_api_url, self.pacers = sealer, xray_api_url, pacers

    # ---------------------------------------------------------------- reads

    @staticmethod
    def stored(tenant: Tenant) -> XrayCredential | None:
        return db.session.scalar(select(XrayCredential).where(XrayCredential.tenant_id == tenant.id))

    def base_url(self, region: str) -> str:
        """The Xray host for a region, derived from the configured XRAY_API_URL."""
        return region_base_url(self.xray_api_url, region)

    def access(self, tenant: Tenant) -> XrayAccess | None:
        """The tenant's decrypted Xray access, or None when no credentials are stored.

        Raises app.crypto.DecryptionError when the key ring can no longer open the stored secret.
        """
        row = self.stored(tenant)
        if row is None:
            return None
        return XrayAccess(self.base_url(row.region), row.client_id, self._secret(tenant, row), row.region)

    def _secret(self, tenant: Tenant, row: XrayCredential) -> str:
        return self.sealer.open_text(tenant.client_key, XRAY_SECRET_FIELD, row.client_secret_enc)

    def view(self, tenant: Tenant) -> dict:
        """The API shape of the tenant's credentials; never the secret."""
        row = self.stored(tenant)
        if row is None:
            return {"configured": False, "clientId": None, "region": None, "status": None, "verifiedAt": None,
                    "updatedAt": None, "updatedBy": None, "testsVisible": None, "statusMessage": None}
        return {
            "configured": True,
            "clientId": row.client_id,
            "region": row.region,
            "status": row.status,
            "verifiedAt": iso(row.verified_at),
            "updatedAt": iso(row.updated_at),
            "updatedBy": row.updated_by,
            "testsVisible": row.tests_visible,
            "statusMessage": row.status_message,
        }

    @staticmethod
    def audit(tenant: Tenant, limit: int = 10) -> list[dict]:
        """The newest audit rows as API dicts (who, what, when, outcome)."""
        return CredentialService.audit_page(tenant, limit)[0]

    @staticmethod
    def audit_page(tenant: Tenant, limit: int = 10, before: int | None = None) -> tuple[list[dict], bool]:
        """Audit rows newest first, older than the entry `before` when given; and whether older ones exist."""
        query = select(CredentialAudit).where(CredentialAudit.tenant_id == tenant.id)
        if before is not None:
            anchor = db.session.get(CredentialAudit, before)
            if anchor is None or anchor.tenant_id != tenant.id:
                raise ValidationFailed("Unknown audit entry.", {"before": "Not an entry of this site's audit trail."})
            query = query.where((CredentialAudit.at < anchor.at)
                                | ((CredentialAudit.at == anchor.at) & (CredentialAudit.id < anchor.id)))
        rows = db.session.scalars(
            query.order_by(CredentialAudit.at.desc(), CredentialAudit.id.desc()).limit(limit + 1)).all()
        return [{"id": r.id, "at": iso(r.at), "accountId": r.account_id, "action": r.action,
                 "actionLabel": ACTION_LABELS.get(r.action, r.action), "outcome": r.outcome}
                for r in rows[:limit]], len(rows) > limit

    # ---------------------------------------------------------------- checks against Xray

    def paced_verifier(self, tenant: Tenant) -> Verify:
        """Verify through the tenant's pacer, shared with its backups in every process.

        An admin is waiting: when a running backup has used the tenant's request budget, answer at once
        that Xray is busy instead of holding the page until a slot frees up (which can take minutes).
        """
        pacer = self.pacers.for_tenant(tenant.client_key)

        def verify(base_url: str, client_id: str, client_secret: str) -> Verification:
            wait = pacer.delay()
            if wait > VERIFY_MAX_WAIT_SECONDS:
                return Verification("unreachable", None, "A backup is using this site's Xray request budget right "
                                    f"now; try again in about {int(wait) + 1} seconds.")
            return verify_credentials(base_url, client_id, client_secret, pacer=pacer)

        verify.pacer = pacer
        return verify

    # ---------------------------------------------------------------- writes

    def save(self, tenant: Tenant, account_id: str | None, body, *, now: datetime | None = None,
             verify: Verify | None = None) -> XrayCredential:
        """Verify the pair with Xray, then store it; rejected → nothing stored; unreachable → stored only on request."""
        now = now or utcnow()
        verify = verify or self.paced_verifier(tenant)
        row = self.stored(tenant)
        data = parse_input(body, has_stored_secret=row is not None, stored_region=row.region if row else None)
        secret_kept = data.client_secret is None
        try:
            secret = self._secret(tenant, row) if secret_kept else data.client_secret
        except DecryptionError:
            logger.error("tenant %s: the stored Xray secret cannot be decrypted with ENCRYPTION_KEYS", tenant.id)
            raise ValidationFailed(UNREADABLE_MESSAGE, {"clientSecret": UNREADABLE_MESSAGE}) from None
        action = "changed" if row is not None else "saved"

        result = verify(self.base_url(data.region), data.client_id, secret)
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
            row.client_secret_enc = self.sealer.seal(tenant.client_key, XRAY_SECRET_FIELD, secret)
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
            raise Conflict("Someone else saved Xray credentials at the same time. Reload the page and check them.") \
                from None
        return row

    def verify_stored(self, tenant: Tenant, account_id: str | None, *, now: datetime | None = None,
                      verify: Verify | None = None) -> tuple[bool, str]:
        """Test the stored pair again, record the outcome on the row and in the audit trail."""
        now = now or utcnow()
        verify = verify or self.paced_verifier(tenant)
        try:
            access = self.access(tenant)
        except DecryptionError:
            logger.error("tenant %s: the stored Xray secret cannot be decrypted with ENCRYPTION_KEYS", tenant.id)
            raise Conflict(UNREADABLE_MESSAGE) from None
        if access is None:
            raise Conflict(NOT_CONFIGURED_MESSAGE)
        result = verify(access.base_url, access.client_id, access.client_secret)
        row = self.stored(tenant)
        if result.status == "connected":
            row.status, row.status_message = "connected", None
            row.tests_visible, row.verified_at = result.tests_visible, now
            n = result.tests_visible
            message = "Connected to Xray." if n is None else f"Connected to Xray: {plural(n, 'test')} visible."
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

    def remove(self, tenant: Tenant, account_id: str | None, *, now: datetime | None = None) -> bool:
        """Delete the stored pair; return whether there was one."""
        now = now or utcnow()
        row = self.stored(tenant)
        if row is None:
            return False
        db.session.delete(row)
        _audit(tenant, account_id, "removed", "credentials removed", now)
        db.session.commit()
        return True
