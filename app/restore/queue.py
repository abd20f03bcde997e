"""The restore queue as the worker pool serves it (`WorkerPool(restores=RestoreQueue(...))`).

A worker claims a restore with a lease, runs it while the lease heartbeats, and records the attempt's outcome
with `jobs.settle_restore`: finished, failed, or queued again to resume after an outage. A worker that lost its
lease records nothing; the next one resumes the restore.
"""
from __future__ import annotations

import logging
from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError
from flask import Flask
from sqlalchemy.exc import DBAPIError, OperationalError

from ..backups.runs.status import DEFAULT_RETRY, RetryPolicy, RunOutcome
from ..backups.store.backend import StorageError
from ..extensions import db
from ..models import utcnow
from ..ops import events
from .jobs import claim_next_restore, heartbeat_restore, release_restore, settle_restore
from .models import Restore
from .runner import execute_restore

logger = logging.getLogger(__name__)

LOST_LEASE = "Its worker stopped heartbeating in time (paused or cut off from the database)."


def failure_message(exc: BaseException) -> str:
    """Words an admin can act on, never the exception text (it can carry connection details)."""
    if isinstance(exc, (OperationalError, DBAPIError)):
        return "The database was unavailable during the restore."
    if isinstance(exc, (StorageError, OSError, BotoCoreError, ClientError)):
        return "The snapshot storage was unavailable during the restore."
    return f"The restore stopped on an unexpected error ({type(exc).__name__})."


class RestoreQueue:
    def __init__(self, app: Flask, services, *, retry: RetryPolicy = DEFAULT_RETRY, clock: Callable = utcnow,
                 execute: Callable | None = None):
        self.app, self.services, self.retry, self.clock = app, services, retry, clock
        self.execute = execute or (lambda job_id, **kw: execute_restore(job_id, services, **kw))

    def claim(self, worker_id: str, now, lease_seconds: int) -> str | None:
        return claim_next_restore(worker_id, now, lease_seconds, retry=self.retry)

    @staticmethod
    def heartbeat(job_id: str, worker_id: str, now, lease_seconds: int) -> bool:
        return heartbeat_restore(job_id, worker_id, now, lease_seconds)

    def run(self, job_id: str, worker_id: str, lease) -> None:
        """Run one claimed restore under its lease and record how the attempt ended."""
        outcome: RunOutcome | None = None
        with self.app.app_context():
            try:
                outcome = self.execute(job_id, now=self.clock, still_owner=lease.still_owner)
            except Exception as exc:
                db.session.rollback()
                logger.warning("restore %s: attempt failed with %s", job_id, type(exc).__name__, exc_info=True)
                outcome = RunOutcome.failed(failure_message(exc), retryable=True)
        lease.stop()
        try:
            with self.app.app_context():
                if lease.aborted and not lease.lost:
                    release_restore(job_id, worker_id, self.clock())
                    return
                if outcome is None:
                    restore = db.session.get(Restore, job_id, populate_existing=True)
                    if restore is None or restore.status != "running" or restore.worker_id != worker_id:
                        return  # taken over or finished elsewhere
                    outcome = RunOutcome.failed(LOST_LEASE, retryable=True)
                status = settle_restore(job_id, worker_id, self.clock(), outcome, self.retry)
                if status is not None:
                    log_finished(job_id, status)
        except Exception as exc:  # the lease expires and another worker takes the restore over
            logger.warning("restore %s: could not record the outcome (%s)", job_id, type(exc).__name__)


def log_finished(restore_id: str, status: str) -> None:
    """Tell operations how a restore attempt ended: the log lines and the counters (app/ops/events.py).

    An attempt queued again after an outage logs its WARNING only; a restore that ended is counted once.
    """
    restore = db.session.get(Restore, restore_id, populate_existing=True)
    if restore is None:
        return
    if status == "queued":
        logger.warning("restore %s attempt %s failed (tenant %s; queued again to resume): %s", restore.id,
                       restore.attempts, restore.tenant_id, restore.message,
                       extra=dict(event="restore_attempt_failed", restore_id=restore.id, tenant_id=restore.tenant_id,
                                  error=restore.message))
        return
    seconds = (restore.finished_at - restore.started_at).total_seconds() \
        if restore.finished_at and restore.started_at else None
    events.restore_finished(db.session.get_bind(), restore_id=restore.id, tenant_id=restore.tenant_id, status=status,
                            duration=seconds, counts=restore.counts, requests=restore.requests,
                            dry_run=restore.dry_run, message=restore.message)
