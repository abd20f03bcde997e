"""Full or incremental: which snapshot a run builds on, and why a run reads everything.

`choose_kind` is the pure rule; `plan_backup` gathers its inputs from the database. The parent is the tenant's
newest kept `succeeded` snapshot of any kind, never an imported one (its data did not come from this tenant's
Xray as we read it, so "changed since" means nothing for it).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select

from ...extensions import db
from ...models import BackupRun, BackupSettings
from ..schedule.rules import DEFAULT_FULL_EVERY_DAYS, full_backup_due
from .status import RunStatus

FULL = "full"
INCREMENTAL = "incremental"


@dataclass(frozen=True)
class BackupPlan:
    kind: str
    parent: BackupRun | None  # the run whose snapshot an incremental run builds on
    reason: str | None  # why a run is full, in words an admin reads in its message
    # The snapshot whose stored records and files the publish may reuse, full runs included: a full run reads
    # everything from Xray but need not store again what did not change.
    reuse: BackupRun | None = None


def choose_kind(*, full_requested: bool, has_parent: bool, full_due: bool,
                full_every_days: int | None) -> tuple[str, str | None]:
    """(kind, reason a full read is needed): the first matching rule wins."""
    if full_requested:
        return FULL, "a full backup was requested"
    if not has_parent:
        return FULL, "there is no earlier snapshot to build on"
    if full_due and full_every_days is None:
        return FULL, "no earlier full snapshot is recorded"
    if full_due:
        return FULL, f"a full backup is taken every {full_every_days} day{'s' if full_every_days != 1 else ''}"
    return INCREMENTAL, None


def _started():
    return func.coalesce(BackupRun.first_started_at, BackupRun.started_at, BackupRun.queued_at)


def find_parent(tenant_id: int, run_id: str) -> BackupRun | None:
    """The tenant's newest kept succeeded snapshot that a backup may build on, or None."""
    return db.session.scalars(
        select(BackupRun)
        .where(BackupRun.tenant_id == tenant_id, BackupRun.id != run_id,
               BackupRun.status == RunStatus.SUCCEEDED.value, BackupRun.trigger != "imported",
               BackupRun.snapshot_key.is_not(None), BackupRun.deleted_at.is_(None))
        .order_by(_started().desc(), BackupRun.id.desc()).limit(1)).first()


def last_full_started(tenant_id: int, run_id: str) -> datetime | None:
    """When the tenant's newest succeeded full snapshot started (deleted ones count: the age rule is about time)."""
    last = db.session.scalars(
        select(BackupRun)
        .where(BackupRun.tenant_id == tenant_id, BackupRun.id != run_id,
               BackupRun.status == RunStatus.SUCCEEDED.value, BackupRun.trigger != "imported",
               func.coalesce(BackupRun.kind, FULL) == FULL)
        .order_by(_started().desc()).limit(1)).first()
    return (last.first_started_at or last.started_at or last.queued_at) if last is not None else None


def plan_backup(run: BackupRun, now: datetime) -> BackupPlan:
    """Decide whether `run` is full or incremental, and on which parent."""
    settings = db.session.get(BackupSettings, run.tenant_id)
    every = settings.full_every_days if settings is not None else DEFAULT_FULL_EVERY_DAYS
    parent = find_parent(run.tenant_id, run.id)
    last_full = last_full_started(run.tenant_id, run.id)
    kind, reason = choose_kind(full_requested=bool(run.full_requested), has_parent=parent is not None,
                               full_due=full_backup_due(every, last_full, now), full_every_days=every)
    return BackupPlan(kind, parent if kind == INCREMENTAL else None, reason, reuse=parent)
