"""Retention: delete whole snapshots older than the tenant keeps, never its newest succeeded one; then sweep the
tenant's shared objects no kept snapshot references any more.

Order of a deletion: the run record says `deleted_at` first (committed), then storage deletes, then the run's
`snapshot_key` is cleared. A crash in between leaves a run marked deleted whose bytes may remain, and the next
pass finishes the deletion; never a run that points at a snapshot which is gone without a record of it.

Deleting a snapshot removes only its marker and own files; objects it shared with others stay until a sweep
(`SnapshotStore.sweep`) finds no complete snapshot referencing them — judged from storage's markers, not from the
database, so a snapshot still stored is never swept from under, whatever state a crash left the records in.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Callable, Iterable

from sqlalchemy import select, update

from ...extensions import db
from ...models import BackupRun, BackupSettings, Tenant, TenantDataKey
from ...sealing import Sealer
from .datakeys import existing_data_key

logger = logging.getLogger(__name__)

# Objects younger than this are never swept: they may belong to a publish still uploading (a publish that takes
# longer is caught by its own check before it reveals anything, and simply fails).
SWEEP_GRACE = timedelta(hours=6)


def snapshots_to_delete(
    snapshots: list[tuple[str, datetime]], retention_days: int | None, retention_count: int | None, now: datetime
) -> list[str]:
    """Pure rule over (run id, finished at) pairs: delete what no rule keeps; the newest is always kept."""
    if retention_days is None and retention_count is None:
        return []
    newest_first = sorted(snapshots, key=lambda item: item[1], reverse=True)
    cutoff = now - timedelta(days=retention_days) if retention_days is not None else None
    doomed = []
    for index, (run_id, finished_at) in enumerate(newest_first):
        kept = (
            index == 0
            or (cutoff is not None and finished_at >= cutoff)
            or (retention_count is not None and index < retention_count)
        )
        if not kept:
            doomed.append(run_id)
    return doomed


def retain_after_run(run_id: str, now: datetime, store, sealer: Sealer | None = None) -> int:
    """After a succeeded backup, apply its tenant's retention at once (not only at the hourly pass)."""
    run = db.session.get(BackupRun, run_id)
    tenant_id = run.tenant_id if run is not None and run.status == "succeeded" else None
    db.session.rollback()
    return apply_retention(now, store, sealer, tenant_ids=[tenant_id]) if tenant_id is not None else 0


def apply_retention(now: datetime, store, sealer: Sealer | None = None, *,
                    tenant_ids: Iterable[int] | None = None) -> int:
    """Delete the snapshots every installed tenant's (or those of `tenant_ids`) retention no longer keeps; how many.

    With the `sealer` (to open data keys), each such tenant's unreferenced shared objects are swept afterwards.
    """
    finish_pending_deletions(store)
    rows = db.session.execute(
        select(BackupRun.id, BackupRun.tenant_id, BackupRun.finished_at,
               BackupSettings.retention_days, BackupSettings.retention_count)
        .join(BackupSettings, BackupSettings.tenant_id == BackupRun.tenant_id)
        .join(Tenant, Tenant.id == BackupRun.tenant_id)
        .where(
            BackupRun.status == "succeeded",
            BackupRun.snapshot_key.is_not(None),
            BackupRun.deleted_at.is_(None),
            Tenant.installed.is_(True),
            *([BackupRun.tenant_id.in_(list(tenant_ids))] if tenant_ids is not None else []),
        )
    ).all()
    db.session.rollback()
    by_tenant: dict[int, list] = {}
    for row in rows:
        by_tenant.setdefault(row.tenant_id, []).append(row)
    deleted = 0
    for tenant_rows in by_tenant.values():
        days, count = tenant_rows[0].retention_days, tenant_rows[0].retention_count
        pairs = [(row.id, row.finished_at or now) for row in tenant_rows]
        for run_id in snapshots_to_delete(pairs, days, count, now):
            deleted += delete_snapshot(run_id, now, store)
    if sealer is not None:
        sweep_unreferenced(now, store, sealer, tenant_ids=by_tenant.keys())
    return deleted


def sweep_unreferenced(now: datetime, store, sealer: Sealer, *, tenant_ids: Iterable[int] | None = None,
                       older_than: datetime | None = None,
                       report: Callable[[str, int, int], None] | None = None) -> tuple[int, int]:
    """Sweep the shared objects of tenants with a data key (all, or `tenant_ids`): (objects, bytes) removed.

    A tenant whose sweep fails (storage down, a marker unreadable) is logged and left for the next pass.
    """
    query = select(Tenant).join(TenantDataKey, TenantDataKey.tenant_id == Tenant.id).order_by(Tenant.id)
    if tenant_ids is not None:
        query = query.where(Tenant.id.in_(list(tenant_ids)))
    tenants = db.session.scalars(query).all()
    cutoff = older_than or now - SWEEP_GRACE
    removed = freed = 0
    for tenant in tenants:
        data_key = existing_data_key(tenant, sealer)
        db.session.rollback()
        if data_key is None:
            continue  # shredded meanwhile: its storage goes with the purge
        try:
            objects, size = store.sweep(tenant.client_key, cutoff, data_key, report=report)
        except Exception as exc:  # storage down: nothing was removed that a kept snapshot needs; retried next pass
            logger.warning("storage sweep of tenant %s failed (%s); will retry", tenant.id, type(exc).__name__)
            continue
        removed, freed = removed + objects, freed + size
    return removed, freed


def delete_snapshot(run_id: str, now: datetime, store) -> int:
    """Mark the run deleted, then delete its snapshot from storage, then clear its key; 1 if this call marked it."""
    marked = db.session.execute(
        update(BackupRun)
        .where(BackupRun.id == run_id, BackupRun.deleted_at.is_(None), BackupRun.snapshot_key.is_not(None))
        .values(deleted_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if marked:
        _delete_stored(run_id, store)
    return marked


def finish_pending_deletions(store) -> int:
    """Delete from storage what runs are marked deleted for but still point at (a crash or storage outage)."""
    pending = db.session.scalars(
        select(BackupRun.id).where(BackupRun.deleted_at.is_not(None), BackupRun.snapshot_key.is_not(None))
    ).all()
    db.session.rollback()
    return sum(_delete_stored(run_id, store) for run_id in pending)


def _delete_stored(run_id: str, store) -> int:
    key = db.session.scalar(select(BackupRun.snapshot_key).where(BackupRun.id == run_id))
    if key is None:
        return 0
    try:
        store.delete(key)
    except Exception as exc:  # storage down: the mark stays, the next pass retries
        db.session.rollback()
        logger.warning("retention: could not delete the snapshot of run %s yet (%s)", run_id, type(exc).__name__)
        return 0
    db.session.execute(
        update(BackupRun).where(BackupRun.id == run_id).values(snapshot_key=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    logger.info("retention: deleted the snapshot of run %s", run_id)
    return 1
