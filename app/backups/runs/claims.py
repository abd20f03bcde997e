"""Claiming runs: a worker takes the oldest claimable run with a lease and keeps it by heartbeating.

Manual runs go first. The claim is atomic: `FOR UPDATE SKIP LOCKED` on PostgreSQL, one conditional UPDATE on
SQLite (whose single writer makes it atomic). A run whose lease expired is claimed again (taken over), up to
the retry policy's attempts, then fails with a message. Every function commits its own short transaction and
takes `now` from the caller.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, literal, or_, select, update

from ...extensions import db, is_postgresql
from ...models import BackupRun, Tenant
from ...ops import events
from ...ops.events import RunFacts
from .status import DEFAULT_RETRY, RetryPolicy

logger = logging.getLogger(__name__)

TAKEN_OVER = "The previous attempt's worker stopped responding; another worker took the backup over."


def _claim_values(worker_id: str, now: datetime, lease_seconds: int) -> dict:
    return dict(
        status="running",
        worker_id=worker_id,
        started_at=now,
        first_started_at=func.coalesce(BackupRun.first_started_at, literal(now, BackupRun.first_started_at.type)),
        finished_at=None,
        heartbeat_at=now,
        lease_expires_at=now + timedelta(seconds=lease_seconds),
        attempts=BackupRun.attempts + 1,
        message=case((BackupRun.status == "running", literal(TAKEN_OVER)), else_=BackupRun.message),
    )


def claim_next(worker_id: str, now: datetime, lease_seconds: int, *,
               retry: RetryPolicy = DEFAULT_RETRY) -> BackupRun | None:
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
            BackupRun.attempts < retry.max_attempts,
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
    values = _claim_values(worker_id, now, lease_seconds)
    if is_postgresql():
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
    if run.message == TAKEN_OVER:  # the case() above wrote it: the run was running under an expired lease
        events.lease_taken_over(db.session.get_bind(), replace(RunFacts.of(run), attempts=run.attempts - 1),
                                by=worker_id, outcome="taken over")
    return run


def claim_run(run_id: str, worker_id: str, now: datetime, lease_seconds: int) -> bool:
    """Claim one particular queued run (the `backup run` command runs the run it queued); False if taken."""
    claimed = db.session.execute(
        update(BackupRun).where(BackupRun.id == run_id, BackupRun.status == "queued")
        .values(**_claim_values(worker_id, now, lease_seconds)).execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return claimed == 1


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


def take_over_expired(now: datetime, *, retry: RetryPolicy = DEFAULT_RETRY) -> int:
    """Queue again the runs whose lease expired, fail those out of attempts, cancel those of inactive tenants."""
    expired = and_(BackupRun.status == "running", BackupRun.lease_expires_at < now)
    statements = [
        update(BackupRun)
        .where(expired, BackupRun.attempts >= retry.max_attempts)
        .values(
            status="failed",
            finished_at=now,
            lease_expires_at=None,
            message=f"The backup was interrupted {retry.max_attempts} times (its worker stopped responding); gave up.",
        ),
        update(BackupRun)
        .where(expired, BackupRun.attempts < retry.max_attempts)
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
    # RETURNING the changed runs: each one gets its log lines and is counted.
    gave_up, queued, cancelled = [_changed(statement) for statement in statements]
    db.session.commit()
    engine = db.session.get_bind()
    for facts, _message in queued:
        events.lease_taken_over(engine, facts, by=None, outcome="queued again")
    for facts, message in gave_up:
        events.lease_taken_over(engine, facts, by=None, outcome="gave up")
        events.run_finished(engine, facts, "failed", now, message, attempt_logged=True)
    for facts, message in cancelled:
        events.run_finished(engine, facts, "cancelled", now, message)
    return len(gave_up) + len(queued) + len(cancelled)


def _changed(statement) -> list[tuple[RunFacts, str | None]]:
    """Execute an UPDATE of runs; what each changed run now says (its facts and its message)."""
    runs = db.session.execute(statement.returning(BackupRun).execution_options(synchronize_session=False)).scalars()
    return [(RunFacts.of(run), run.message) for run in runs]
