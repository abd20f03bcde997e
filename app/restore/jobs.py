"""The restore queue: one active restore per tenant, claimed by a worker with a lease, taken over when its
worker stops heartbeating, settled once — the same mechanism as backup runs (`app/backups/runs`), over the
`restores` table. Every function commits its own short transaction and takes `now` from the caller.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import and_, case, literal, or_, select, update

from ..backups.runs.status import DEFAULT_RETRY, RetryPolicy, RunOutcome
from ..errors import Conflict
from ..extensions import db, insert_ignoring_conflict, is_postgresql
from ..models import Tenant, new_id
from .models import Restore

logger = logging.getLogger(__name__)

TAKEN_OVER = "The previous attempt's worker stopped responding; another worker took the restore over."


class RestoreAlreadyActive(Conflict):
    default_message = "A restore (or a dry run) is already queued or running for this site; wait for it to finish."


def enqueue_restore(tenant: Tenant, run_id: str, now: datetime, *, targets: dict, issue_keys: list | None,
                    dry_run: bool, requested_by: str | None) -> Restore:
    """Queue a restore; RestoreAlreadyActive (409) when one is queued or running for the tenant."""
    restore_id = new_id()
    statement = insert_ignoring_conflict(Restore, dict(
        id=restore_id, tenant_id=tenant.id, run_id=run_id, status="queued", dry_run=dry_run, targets=targets,
        issue_keys=issue_keys, requested_by=requested_by, queued_at=now, attempts=0,
    )).returning(Restore.id)
    if not db.session.execute(statement).all():
        db.session.rollback()
        raise RestoreAlreadyActive()
    db.session.commit()
    return db.session.get(Restore, restore_id)


def _claim_values(worker_id: str, now: datetime, lease_seconds: int) -> dict:
    return dict(status="running", worker_id=worker_id, started_at=case((Restore.started_at.is_(None), now),
                                                                       else_=Restore.started_at),
                finished_at=None, heartbeat_at=now, lease_expires_at=now + timedelta(seconds=lease_seconds),
                attempts=Restore.attempts + 1,
                message=case((Restore.status == "running", literal(TAKEN_OVER)), else_=Restore.message))


def claim_next_restore(worker_id: str, now: datetime, lease_seconds: int, *,
                       retry: RetryPolicy = DEFAULT_RETRY) -> str | None:
    """Claim the oldest claimable restore (queued, or running with an expired lease); its id, or None."""
    ready = or_(
        and_(Restore.status == "queued", or_(Restore.lease_expires_at.is_(None), Restore.lease_expires_at <= now)),
        and_(Restore.status == "running", Restore.lease_expires_at < now, Restore.attempts < retry.max_attempts),
    )
    candidates = (select(Restore.id).join(Tenant, Tenant.id == Restore.tenant_id)
                  .where(ready, Tenant.installed.is_(True), Tenant.enabled.is_(True))
                  .order_by(Restore.queued_at, Restore.id).limit(1))
    values = _claim_values(worker_id, now, lease_seconds)
    if is_postgresql():
        restore_id = db.session.scalar(candidates.with_for_update(skip_locked=True, of=Restore))
        if restore_id is not None:
            db.session.execute(update(Restore).where(Restore.id == restore_id).values(**values)
                               .execution_options(synchronize_session=False))
    else:
        # One statement: SQLite's single writer makes the check and the claim atomic.
        restore_id = db.session.execute(
            update(Restore).where(Restore.id == candidates.correlate(None).scalar_subquery(), ready).values(**values)
            .returning(Restore.id).execution_options(synchronize_session=False)).scalar()
    if restore_id is None:
        db.session.rollback()
        return None
    db.session.commit()
    logger.info("restore %s claimed by %s", restore_id, worker_id)
    return restore_id


def claim_restore(restore_id: str, worker_id: str, now: datetime, lease_seconds: int) -> bool:
    """Claim one particular queued restore (the CLI runs the restore it queued); False if another took it."""
    claimed = db.session.execute(update(Restore).where(Restore.id == restore_id, Restore.status == "queued")
                                 .values(**_claim_values(worker_id, now, lease_seconds))
                                 .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    return claimed == 1


def heartbeat_restore(restore_id: str, worker_id: str, now: datetime, lease_seconds: int) -> bool:
    """Renew this worker's lease; False when the restore is no longer this worker's."""
    result = db.session.execute(
        update(Restore).where(Restore.id == restore_id, Restore.worker_id == worker_id, Restore.status == "running")
        .values(heartbeat_at=now, lease_expires_at=now + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1


def take_over_expired_restores(now: datetime, *, retry: RetryPolicy = DEFAULT_RETRY) -> int:
    """Queue again restores whose lease expired, fail those out of attempts, cancel those of inactive tenants."""
    expired = and_(Restore.status == "running", Restore.lease_expires_at < now)
    statements = [
        update(Restore).where(expired, Restore.attempts >= retry.max_attempts).values(
            status="failed", finished_at=now, lease_expires_at=None,
            message=f"The restore was interrupted {retry.max_attempts} times (its worker stopped responding); gave "
                    "up. Start it again: what it restored is not created twice."),
        update(Restore).where(expired, Restore.attempts < retry.max_attempts).values(
            status="queued", worker_id=None, lease_expires_at=None,
            message="The previous attempt's worker stopped responding; queued again to resume."),
        update(Restore).where(Restore.status == "queued", Restore.tenant_id.in_(
            select(Tenant.id).where(or_(Tenant.installed.is_(False), Tenant.enabled.is_(False))))).values(
            status="cancelled", finished_at=now, message="The app is uninstalled or disabled on this site."),
    ]
    changed = sum(db.session.execute(s.execution_options(synchronize_session=False)).rowcount for s in statements)
    db.session.commit()
    return changed


def _owned(restore_id: str, worker_id: str | None) -> list:
    conditions = [Restore.id == restore_id, Restore.status == "running"]
    if worker_id is not None:
        conditions.append(Restore.worker_id == worker_id)
    return conditions


def settle_restore(restore_id: str, worker_id: str | None, now: datetime, outcome: RunOutcome,
                   retry: RetryPolicy | None = None) -> str | None:
    """Record an attempt's outcome if the restore is still this worker's; its new status (None: not ours).

    A retryable failure (an outage) is queued again after `retry.delay` while attempts remain: the next attempt
    resumes where this one stopped.
    """
    values = dict(outcome.fields)
    if outcome.retryable and retry is not None:
        attempts = db.session.scalar(select(Restore.attempts).where(*_owned(restore_id, worker_id)))
        if attempts is None:
            db.session.rollback()
            return None
        if attempts < retry.max_attempts:
            values.update(status="queued", worker_id=None, lease_expires_at=now + timedelta(seconds=retry.delay),
                          message=f"Attempt {attempts} stopped: {outcome.message} It will resume.")
        else:
            values.update(status="failed", finished_at=now, lease_expires_at=None,
                          message=f"{outcome.message} Gave up after {attempts} attempts.")
    else:
        values.update(status=outcome.status.value, finished_at=now, lease_expires_at=None)
        if outcome.message is not None:
            values["message"] = outcome.message
    changed = db.session.execute(update(Restore).where(*_owned(restore_id, worker_id)).values(**values)
                                 .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if not changed:
        logger.warning("restore %s: its outcome was not recorded (no longer this worker's)", restore_id)
        return None
    return values["status"]


def release_restore(restore_id: str, worker_id: str, now: datetime) -> bool:
    """Hand a restore back to the queue without counting the attempt (graceful shutdown)."""
    result = db.session.execute(update(Restore).where(*_owned(restore_id, worker_id)).values(
        status="queued", worker_id=None, lease_expires_at=None, attempts=Restore.attempts - 1,
        message="Interrupted by a worker shutting down; queued again.").execution_options(synchronize_session=False))
    db.session.commit()
    return result.rowcount == 1
