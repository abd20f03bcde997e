"""The uninstall grace purge, and erasure on request.

Grace purge: past `purge_after`, delete a tenant's snapshots, shred its data key, drop its data. A reinstall clears
`purge_after` (app/tenants.py), so it cancels a purge that has not started; the tenant is re-checked right before
each irreversible step. Erasure (`flask tenant purge`): now, installed or not, and the data key is shredded first,
so whatever happens to the storage afterwards, nothing of the tenant can be read again.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update

from ...extensions import db
from ...models import BackupRun, Tenant
from ...ops import events
from ...ops.events import RunFacts
from ..store.backend import StorageError
from ...xray.shared_pacer import forget_tenant
from . import datakeys

logger = logging.getLogger(__name__)


def _purgeable(now: datetime):
    return (Tenant.installed.is_(False), Tenant.purge_after.is_not(None), Tenant.purge_after <= now)


def purge_due(now: datetime, store) -> int:
    """Purge every uninstalled tenant whose grace period has ended; return how many were purged."""
    ids = db.session.scalars(select(Tenant.id).where(*_purgeable(now))).all()
    db.session.rollback()
    if not ids:
        return 0
    purged = 0
    for tenant_id in ids:
        try:
            purged += purge_tenant(tenant_id, now, store)
        except Exception as exc:  # storage down: the tenant stays due and the next pass retries
            db.session.rollback()
            logger.warning("purge of tenant %s failed (%s); will retry", tenant_id, type(exc).__name__)
    return purged


def purge_tenant(tenant_id: int, now: datetime, store) -> bool:
    """Delete one tenant's snapshots, shred its data key and delete its rows, if it is (still) due."""
    tenant = _still_due(tenant_id, now)
    if tenant is None:
        return False
    db.session.execute(
        update(BackupRun)
        .where(BackupRun.tenant_id == tenant_id, BackupRun.snapshot_key.is_not(None), BackupRun.deleted_at.is_(None))
        .values(deleted_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    keys = db.session.scalars(
        select(BackupRun.snapshot_key).where(BackupRun.tenant_id == tenant_id, BackupRun.snapshot_key.is_not(None))
    ).all()
    for key in keys:
        store.delete(key)
    store.delete_tenant(tenant.client_key)
    tenant = _still_due(tenant_id, now)
    if tenant is None:
        return False
    datakeys.shred(tenant)
    forget_tenant(db.session, tenant.client_key)  # its Xray pacing rows (keyed by a hash of the clientKey)
    # Runs, settings, credentials, audit, data keys and links go with the tenant (ON DELETE CASCADE).
    removed = db.session.execute(
        delete(Tenant).where(Tenant.id == tenant_id, *_purgeable(now)).execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    logger.info("purged tenant %s after its uninstall grace period", tenant_id)
    return bool(removed)


def _still_due(tenant_id: int, now: datetime) -> Tenant | None:
    tenant = db.session.scalar(
        select(Tenant).where(Tenant.id == tenant_id, *_purgeable(now)).execution_options(populate_existing=True)
    )
    return tenant


ERASED = "The site's data was erased on request."


@dataclass
class Erasure:
    """What an erasure did; `storage_error` set when stored data remains (unreadable: its key is shredded)."""

    tenant_id: int
    cancelled: int = 0
    shredded: bool = False
    snapshots: int = 0
    rows_deleted: bool = False
    storage_error: str | None = None


def erase_tenant(tenant_id: int, now: datetime, store) -> Erasure:
    """Erase a tenant now: stop its runs, shred its data key, delete its stored data, then its rows.

    If the storage fails, the rows stay with the tenant uninstalled and due for purge, so the hourly purge
    (or running this again) finishes the deletion; the stored data is unreadable from the shredding on.
    """
    tenant = db.session.get(Tenant, tenant_id, populate_existing=True)
    if tenant is None:
        raise LookupError(f"no tenant {tenant_id}")
    erasure = Erasure(tenant_id)
    db.session.execute(update(Tenant).where(Tenant.id == tenant_id).values(
        installed=False, enabled=False, uninstalled_at=tenant.uninstalled_at or now, purge_after=now, updated_at=now))
    cancelled = db.session.execute(
        update(BackupRun).where(BackupRun.tenant_id == tenant_id, BackupRun.status.in_(("queued", "running")))
        .values(status="cancelled", finished_at=now, lease_expires_at=None, message=ERASED)
        .returning(BackupRun).execution_options(synchronize_session=False)).scalars().all()
    facts = [RunFacts.of(run) for run in cancelled]
    db.session.commit()
    erasure.cancelled = len(facts)
    for run in facts:
        events.run_finished(db.session.get_bind(), run, "cancelled", now, ERASED)
    erasure.shredded = datakeys.shred(tenant)  # first: from here on no stored snapshot of the tenant can be read
    keys = db.session.scalars(select(BackupRun.snapshot_key).where(
        BackupRun.tenant_id == tenant_id, BackupRun.snapshot_key.is_not(None))).all()
    try:
        for key in keys:
            store.delete(key)
            erasure.snapshots += 1
        store.delete_tenant(tenant.client_key)
    except StorageError as exc:
        db.session.rollback()
        erasure.storage_error = str(exc)
        logger.warning("erasure of tenant %s: stored data could not be deleted yet (%s)", tenant_id,
                       type(exc).__name__)
        return erasure
    forget_tenant(db.session, tenant.client_key)
    db.session.execute(delete(Tenant).where(Tenant.id == tenant_id).execution_options(synchronize_session=False))
    db.session.commit()
    erasure.rows_deleted = True
    logger.info("erased tenant %s on request (%d snapshot(s))", tenant_id, erasure.snapshots)
    return erasure
