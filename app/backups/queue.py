"""The run queue: the database decides who runs what.

- Enqueue: one run per tenant and slot (`uq_backup_runs_tenant_slot`), at most one queued or running run per
  tenant (`uq_backup_runs_one_active`); inserts use ON CONFLICT DO NOTHING, so several schedulers and web
  processes race safely and nobody reads-then-writes.
- Claim: a worker takes the oldest claimable run (manual ones first) with a lease (`FOR UPDATE SKIP LOCKED` on PostgreSQL; one
  conditional UPDATE on SQLite, whose single writer makes it atomic), and keeps it by heartbeating.
- Takeover: a run whose lease expired is claimed again, up to MAX_ATTEMPTS, then fails with a message.

A queued run's `lease_expires_at` means "not before": a retry waits out its back-off there.
Every function commits its own short transaction and takes `now` from the caller.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, case, literal, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from ..errors import Conflict
from ..extensions import db
from ..models import BackupRun, BackupSettings, Tenant, new_id
from . import schedule

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
ENQUEUE_BATCH = 200
DEFAULT_RETRY_DELAY = 30.0
RETRY_DELAY_EXTENSION = "backup_retry_delay"
TAKEN_OVER = "The previous attempt's worker stopped responding; another worker took the backup over."


class RunAlreadyActive(Conflict):
    default_message = "A backup is already queued or running for this site."


def enqueue_manual(tenant: Tenant, now: datetime) -> BackupRun:
    """Queue a backup now; raise RunAlreadyActive (409) when one is queued or running."""
    run_id = new_id()
    inserted = _insert_run(run_id, tenant.id, "manual", None, now)
    if not inserted:
        db.session.rollback()
        raise RunAlreadyActive()
    db.session.commit()
    return db.session.get(BackupRun, run_id)


def enqueue_due(now: datetime) -> int:
    """Queue one scheduled run per active tenant whose slot is due, advance its next slot; return runs queued."""
    from .settings import create_missing_settings

    create_missing_settings(now)
    queued = 0
    while True:
        query = (
            select(BackupSettings)
            .join(Tenant, Tenant.id == BackupSettings.tenant_id)
            .where(
                BackupSettings.enabled.is_(True),
                BackupSettings.next_run_at <= now,
                Tenant.installed.is_(True),
                Tenant.enabled.is_(True),
            )
            .order_by(BackupSettings.next_run_at)
            .limit(ENQUEUE_BATCH)
        )
        if _is_postgresql():
            query = query.with_for_update(skip_locked=True, of=BackupSettings)
        due = db.session.scalars(query).all()
        for settings in due:
            slot = schedule.due_slot(settings, now)
            if slot is None:
                continue
            # A slot falling while a run is already active is covered by that run (one active per tenant).
            queued += _insert_run(new_id(), settings.tenant_id, "scheduled", slot, now)
            db.session.execute(
                update(BackupSettings)
                .where(
                    BackupSettings.tenant_id == settings.tenant_id,
                    BackupSettings.next_run_at == settings.next_run_at,
                )
                .values(next_run_at=schedule.next_slot(settings, now))
                .execution_options(synchronize_session=False)
            )
        db.session.commit()
        if len(due) < ENQUEUE_BATCH:
            return queued


def claim_next(
    worker_id: str, now: datetime, lease_seconds: int, *, max_attempts: int = MAX_ATTEMPTS
) -> BackupRun | None:
    """Claim the oldest claimable run for this worker with a lease, or None when there is nothing to do."""
    ready = or_(
        and_(
            BackupRun.status == "queued",
            or_(BackupRun.lease_expires_at.is_(None), BackupRun.lease_expires_at <= now),
        ),
        # Taking over directly: the previous worker stopped heartbeating.
        and_(
            BackupRun.status == "running",
            BackupRun.lease_expires_at < now,
            BackupRun.attempts < max_attempts,
        ),
    )
    candidates = (
        select(BackupRun.id)
        .join(Tenant, Tenant.id == BackupRun.tenant_id)
        .where(ready, Tenant.installed.is_(True), Tenant.enabled.is_(True))
        # "Back up now" goes ahead of scheduled runs (a catch-up after downtime can queue thousands).
        .order_by(case((BackupRun.trigger == "manual", 0), else_=1), BackupRun.queued_at, BackupRun.id)
        .limit(1)
    )
    values = dict(
        status="running",
        worker_id=worker_id,
        started_at=now,
        finished_at=None,
        heartbeat_at=now,
        lease_expires_at=now + timedelta(seconds=lease_seconds),
        attempts=BackupRun.attempts + 1,
        message=case(
            (BackupRun.status == "running", literal(TAKEN_OVER)),
            else_=BackupRun.message,
        ),
    )
    if _is_postgresql():
        run_id = db.session.scalar(candidates.with_for_update(skip_locked=True, of=BackupRun))
        if run_id is None:
            db.session.rollback()
            return None
        db.session.execute(
            update(BackupRun).where(BackupRun.id == run_id).values(**values).execution_options(synchronize_session=False)
        )
    else:
        # One statement: SQLite runs it under its single write lock, so the check and the claim are atomic.
        result = db.session.execute(
            update(BackupRun)
            .where(BackupRun.id == candidates.correlate(None).scalar_subquery(), ready)
            .values(**values)
            .returning(BackupRun.id)
            .execution_options(synchronize_session=False)
        )
        run_id = result.scalar()
        if run_id is None:
            db.session.rollback()
            return None
    db.session.commit()
    run = db.session.get(BackupRun, run_id, populate_existing=True)
    logger.info("run %s claimed by %s (attempt %s)", run_id, worker_id, run.attempts)
    return run


def heartbeat(run_id: str, worker_id: str, now: datetime, lease_seconds: int) -> bool:
    """Renew this worker's lease; False when the run is no longer this worker's (taken over or finished)."""
    result = db.session.execute(
        update(BackupRun)
        .where(BackupRun.id == run_id, BackupRun.worker_id == worker_id, BackupRun.status == "running")
        .values(heartbeat_at=now, lease_expires_at=now + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def finish(run_id: str, worker_id: str | None, now: datetime, status: str, **fields) -> bool:
    """Set a final status if the run is still running (and still this worker's, when one is named)."""
    conditions = [BackupRun.id == run_id, BackupRun.status == "running"]
    if worker_id is not None:
        conditions.append(BackupRun.worker_id == worker_id)
    result = db.session.execute(
        update(BackupRun)
        .where(*conditions)
        .values(status=status, finished_at=now, lease_expires_at=None, **fields)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def fail_or_retry(
    run_id: str,
    worker_id: str,
    now: datetime,
    message: str,
    *,
    retry_delay: float | None = None,
    max_attempts: int = MAX_ATTEMPTS,
) -> str | None:
    """After a failed attempt: queue the run again after a back-off, or fail it for good; the new status.

    Without `retry_delay`, the back-off is this process's worker setting (`flask scheduler --retry-delay`).
    """
    if retry_delay is None:
        retry_delay = current_app.extensions.get(RETRY_DELAY_EXTENSION, DEFAULT_RETRY_DELAY)
    run = db.session.get(BackupRun, run_id, populate_existing=True)
    if run is None or run.status != "running" or run.worker_id != worker_id:
        db.session.rollback()
        return None
    owned = [BackupRun.id == run_id, BackupRun.status == "running", BackupRun.worker_id == worker_id]
    if run.attempts >= max_attempts:
        text = f"{message} Gave up after {run.attempts} attempts."
        values = dict(status="failed", finished_at=now, lease_expires_at=None, message=text)
    else:
        text = f"Attempt {run.attempts} failed: {message} Retrying."
        values = dict(
            status="queued",
            worker_id=None,
            lease_expires_at=now + timedelta(seconds=retry_delay),
            message=text,
        )
    result = db.session.execute(
        update(BackupRun).where(*owned).values(**values).execution_options(synchronize_session=False)
    )
    db.session.commit()
    return values["status"] if result.rowcount == 1 else None


def release(run_id: str, worker_id: str, now: datetime) -> bool:
    """Hand a run back to the queue without counting the attempt (graceful shutdown)."""
    result = db.session.execute(
        update(BackupRun)
        .where(BackupRun.id == run_id, BackupRun.status == "running", BackupRun.worker_id == worker_id)
        .values(
            status="queued",
            worker_id=None,
            lease_expires_at=None,
            attempts=BackupRun.attempts - 1,
            message="Interrupted by a worker shutting down; queued again.",
        )
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1


def take_over_expired(now: datetime, *, max_attempts: int = MAX_ATTEMPTS) -> int:
    """Queue again the runs whose lease expired, fail those out of attempts, cancel those of inactive tenants."""
    expired = and_(BackupRun.status == "running", BackupRun.lease_expires_at < now)
    statements = [
        update(BackupRun)
        .where(expired, BackupRun.attempts >= max_attempts)
        .values(
            status="failed",
            finished_at=now,
            lease_expires_at=None,
            message=f"The backup was interrupted {max_attempts} times (its worker stopped responding); gave up.",
        ),
        update(BackupRun)
        .where(expired, BackupRun.attempts < max_attempts)
        .values(
            status="queued",
            worker_id=None,
            lease_expires_at=None,
            message="The previous attempt's worker stopped responding; queued again.",
        ),
        update(BackupRun)
        .where(
            BackupRun.status == "queued",
            BackupRun.tenant_id.in_(
                select(Tenant.id).where(or_(Tenant.installed.is_(False), Tenant.enabled.is_(False)))
            ),
        )
        .values(status="cancelled", finished_at=now, message="The app is uninstalled or disabled on this site."),
    ]
    changed = 0
    for statement in statements:
        changed += db.session.execute(statement.execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return changed


def _insert_run(run_id: str, tenant_id: int, trigger: str, slot_at: datetime | None, now: datetime) -> int:
    insert = postgresql.insert if _is_postgresql() else sqlite.insert
    statement = (
        insert(BackupRun)
        .values(
            id=run_id,
            tenant_id=tenant_id,
            status="queued",
            trigger=trigger,
            slot_at=slot_at,
            queued_at=now,
            attempts=0,
        )
        .on_conflict_do_nothing()
        .returning(BackupRun.id)
    )
    # RETURNING, not rowcount: the driver reports -1 for skipped conflicts through the ORM path.
    return len(db.session.execute(statement).all())


def _is_postgresql() -> bool:
    return db.session.get_bind().dialect.name == "postgresql"
