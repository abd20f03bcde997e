"""The uninstall grace purge: past `purge_after`, delete a tenant's snapshots, shred its data key, drop its data.

A reinstall clears `purge_after` (app/tenants.py), so it cancels a purge that has not started; the tenant
is re-checked right before each irreversible step.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import delete, select, update

from ...extensions import db
from ...models import BackupRun, Tenant
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
