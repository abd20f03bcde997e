"""A run's status and the one way an attempt ends.

The runner returns a `RunOutcome`; whoever executed it — a worker of the pool or the `backup run` command —
records it with `settle`, which alone writes a run's terminal transition (or queues it again for a retry).
Every write is conditional on the run still being this worker's, so a worker that lost its lease records nothing.
"""
from __future__ import annotations

import enum
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import update

from ...extensions import db
from ...models import BackupRun
from ...ops import events
from ...ops.events import RunFacts

logger = logging.getLogger(__name__)


class RunStatus(str, enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


ACTIVE = (RunStatus.QUEUED.value, RunStatus.RUNNING.value)
FINAL = (RunStatus.SUCCEEDED.value, RunStatus.FAILED.value, RunStatus.SKIPPED.value, RunStatus.CANCELLED.value)


@dataclass(frozen=True)
class RunOutcome:
    """How an attempt ended: its status, the admin-facing message, the fields to record, whether to retry."""

    status: RunStatus
    message: str | None = None
    fields: dict = field(default_factory=dict)
    retryable: bool = False  # an outage: worth another attempt after a back-off

    @classmethod
    def failed(cls, message: str, *, retryable: bool = False, **fields) -> "RunOutcome":
        return cls(RunStatus.FAILED, message, fields, retryable)


@dataclass(frozen=True)
class RetryPolicy:
    delay: float = 30.0  # seconds before a failed attempt is tried again
    max_attempts: int = 3


DEFAULT_RETRY = RetryPolicy()


def _owned(run_id: str, worker_id: str | None) -> list:
    conditions = [BackupRun.id == run_id, BackupRun.status == RunStatus.RUNNING.value]
    if worker_id is not None:
        conditions.append(BackupRun.worker_id == worker_id)
    return conditions


def settle(run_id: str, worker_id: str | None, now: datetime, outcome: RunOutcome,
           retry: RetryPolicy | None = None, *, ended: Callable[[str], None] | None = None) -> str | None:
    """Record an attempt's outcome if the run is still this worker's; return the run's new status (None: not ours).

    A retryable failure goes back to the queue after `retry.delay` (its `lease_expires_at` means "not before")
    while attempts remain; without a `retry` policy every outcome is final. `ended(run_id)` is called once the
    run has really ended (the alerts evaluate the tenant's health then).
    """
    values = dict(outcome.fields)
    if outcome.retryable and retry is not None:
        attempts = db.session.scalar(db.select(BackupRun.attempts).where(*_owned(run_id, worker_id)))
        if attempts is None:
            db.session.rollback()
            return None
        if attempts < retry.max_attempts:
            values.update(status=RunStatus.QUEUED.value, worker_id=None,
                          lease_expires_at=now + timedelta(seconds=retry.delay),
                          message=f"Attempt {attempts} failed: {outcome.message} Retrying.")
        else:
            values.update(status=RunStatus.FAILED.value, finished_at=now, lease_expires_at=None,
                          message=f"{outcome.message} Gave up after {attempts} attempts.")
    else:
        values.update(status=outcome.status.value, finished_at=now, lease_expires_at=None)
        if outcome.message is not None:  # an outcome without words keeps what the run says (e.g. a takeover)
            values["message"] = outcome.message
    run = db.session.execute(update(BackupRun).where(*_owned(run_id, worker_id)).values(**values)
                             .returning(BackupRun).execution_options(synchronize_session=False)).scalar()
    facts = RunFacts.of(run) if run is not None else None
    message = run.message if run is not None else None
    db.session.commit()
    if facts is None:
        logger.warning("run %s: its outcome was not recorded (no longer this worker's)", run_id)
        return None
    # The one place an attempt ends, so the one place its log lines and counters are written.
    if values["status"] == RunStatus.QUEUED.value:
        events.run_attempt_failed(facts, outcome.message, retry_in=retry.delay)
    else:
        events.run_finished(db.session.get_bind(), facts, values["status"], now, message)
    if ended is not None and values["status"] in FINAL:
        ended(run_id)
    return values["status"]


def release(run_id: str, worker_id: str, now: datetime) -> bool:
    """Hand a run back to the queue without counting the attempt (graceful shutdown)."""
    result = db.session.execute(
        update(BackupRun)
        .where(*_owned(run_id, worker_id))
        .values(status=RunStatus.QUEUED.value, worker_id=None, lease_expires_at=None,
                attempts=BackupRun.attempts - 1, message="Interrupted by a worker shutting down; queued again.")
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return result.rowcount == 1
