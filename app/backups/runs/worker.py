"""A per-process pool of backup workers: claim a run, execute it under a heartbeated lease, settle it, repeat.

Each worker thread claims one run at a time and executes it while a `Lease` renews it; the run's outcome (or the
error it raised) is recorded with `status.settle`, the one way an attempt ends. A worker that was paused or cut
off from the database stops without publishing and records nothing.
"""
from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
import time
import uuid
from typing import Callable

from botocore.exceptions import BotoCoreError, ClientError
from flask import Flask
from sqlalchemy.exc import DBAPIError, OperationalError

from ...config import MAX_BACKUP_WORKERS
from ...extensions import db
from ...logs import Damper, run_logging
from ...models import BackupRun, utcnow
from ..store.backend import StorageError
from .claims import claim_next
from . import reasons
from .lease import Lease
from .runner import execute_run
from .status import DEFAULT_RETRY, FINAL, RetryPolicy, RunOutcome, RunStatus, release, settle

logger = logging.getLogger(__name__)

LOST_LEASE = "Its worker stopped heartbeating in time (paused or cut off from the database)."
NO_RESULT = "The backup ended without a result."


def failure_message(exc: BaseException) -> str:
    """Words an admin can act on, never the exception text (it can carry connection details)."""
    if isinstance(exc, (OperationalError, DBAPIError)):
        return "The database was unavailable during the backup."
    if isinstance(exc, (StorageError, OSError, BotoCoreError, ClientError)):
        return "The backup storage was unavailable during the backup."
    return f"The backup stopped on an unexpected error ({type(exc).__name__})."


def failure_reason(exc: BaseException) -> str:
    if isinstance(exc, (OperationalError, DBAPIError)):
        return reasons.DATABASE_UNAVAILABLE
    if isinstance(exc, (StorageError, OSError, BotoCoreError, ClientError)):
        return reasons.STORAGE_UNAVAILABLE
    return reasons.UNEXPECTED


class WorkerPool:
    """N worker threads (bounded by MAX_BACKUP_WORKERS) that claim and execute queued runs.

    `execute(run_id, *, now, still_owner)` returns a RunOutcome (or None when there is nothing to record); the
    default is the real runner with the app's services. `restores` (app/restore/queue.py) is a second queue the
    same workers serve first: `claim`, `heartbeat` and `run(job_id, worker_id, lease)`.
    """

    def __init__(self, app: Flask, services, *, workers: int = 2, lease_seconds: float | None = None,
                 poll_interval: float = 2.0, retry: RetryPolicy = DEFAULT_RETRY, execute: Callable | None = None,
                 clock: Callable = utcnow, name: str | None = None, restores=None):
        if not 1 <= workers <= MAX_BACKUP_WORKERS:
            raise ValueError(f"workers must be between 1 and {MAX_BACKUP_WORKERS}, got {workers}")
        self.app, self.services = app, services
        self.workers = workers
        self.lease_seconds = lease_seconds or services.config.backup_lease_seconds
        self.poll_interval = poll_interval
        self.retry = retry
        self._real_runner = execute is None
        self.execute = execute or (lambda run_id, **kw: execute_run(run_id, services, **kw))
        self.clock = clock
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._stopping = threading.Event()
        self._wake = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._leases: dict[str, Lease] = {}
        self._damper = Damper(logger)
        self.restores = restores

    def start(self) -> "WorkerPool":
        for index in range(self.workers):
            thread = threading.Thread(target=self._loop, args=(index,), name=f"backup-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        logger.info("worker pool %s started with %d workers", self.name, self.workers)
        return self

    def wake(self) -> None:
        """Claim sooner than the next poll (e.g. right after enqueueing)."""
        with self._wake:
            self._wake.notify_all()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop claiming; give running backups `timeout` seconds, then hand them back to the queue."""
        self._stopping.set()
        self.wake()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        for lease in list(self._leases.values()):
            lease.aborted = True  # still_owner() turns False: the runner stops at its next check
        for thread in self._threads:
            thread.join(self.lease_seconds)
        logger.info("worker pool %s stopped", self.name)

    @property
    def running(self) -> bool:
        return any(thread.is_alive() for thread in self._threads)

    def _loop(self, index: int) -> None:
        while not self._stopping.is_set():
            try:
                worked = self.run_once(index)
                self._damper.ok(f"backup workers of {self.name}")
            except Exception as exc:
                # Once a minute, not once per poll and thread, while the database is down.
                self._damper.failure(f"backup workers of {self.name}", logging.ERROR,
                                "backup workers of %s: claiming failed (%s)", self.name, type(exc).__name__,
                                exc_info=True)
                worked = False
            if not worked and not self._stopping.is_set():
                with self._wake:
                    self._wake.wait(self.poll_interval)

    def run_once(self, index: int = 0) -> bool:
        """Claim and execute at most one run; True if one was claimed."""
        # A fresh id per claim: a resumed, stale execution can never pass for the new owner.
        worker_id = f"{self.name}:{index}:{uuid.uuid4().hex[:8]}"
        if self.restores is not None and self._run_restore(worker_id):
            return True
        with self.app.app_context():
            run = claim_next(worker_id, self.clock(), int(self.lease_seconds), retry=self.retry)
            run_id = run.id if run is not None else None
            attempts = run.attempts if run is not None else 0
        if run_id is None:
            return False
        self._execute(run_id, worker_id)
        if attempts > 1 and self._real_runner:
            self._discard_earlier_attempts(run_id)
        return True

    def _run_restore(self, worker_id: str) -> bool:
        """Claim and run one restore (an admin is waiting for it) under the same kind of lease; True if claimed."""
        with self.app.app_context():
            job_id = self.restores.claim(worker_id, self.clock(), int(self.lease_seconds))
        if job_id is None:
            return False
        lease = Lease(self.app, job_id, worker_id, self.lease_seconds, clock=self.clock,
                      renew=self.restores.heartbeat).start()
        self._leases[job_id] = lease
        try:
            self.restores.run(job_id, worker_id, lease)
        finally:
            lease.stop()
            self._leases.pop(job_id, None)
        return True

    def _discard_earlier_attempts(self, run_id: str) -> None:
        """Once a taken-over run has ended, remove the local data its earlier attempts left (a killed process).

        Only then: a paused earlier worker may still be mid-run, and must find its files to stop cleanly.
        """
        try:
            with self.app.app_context():
                run = db.session.get(BackupRun, run_id, populate_existing=True)
                if run is None or run.status not in FINAL:
                    return
            for leftover in self.services.config.temp_path.glob(f"{run_id}-*"):
                shutil.rmtree(leftover, ignore_errors=True)
                logger.info("run %s: removed an earlier attempt's local data", run_id)
        except Exception as exc:  # the runner's own stale-data cleanup remains the backstop
            logger.warning("run %s: could not remove earlier local data (%s)", run_id, type(exc).__name__)

    def _execute(self, run_id: str, worker_id: str) -> None:
        with run_logging(run_id):
            self._execute_logged(run_id, worker_id)

    def _execute_logged(self, run_id: str, worker_id: str) -> None:
        lease = Lease(self.app, run_id, worker_id, self.lease_seconds, clock=self.clock).start()
        self._leases[run_id] = lease
        outcome: RunOutcome | None = None
        try:
            with self.app.app_context():
                try:
                    outcome = self.execute(run_id, now=self.clock, still_owner=lease.still_owner)
                except Exception as exc:
                    logger.warning("run %s: attempt failed with %s", run_id, type(exc).__name__, exc_info=True)
                    outcome = RunOutcome.failed(failure_message(exc), retryable=True, reason=failure_reason(exc))
        finally:
            lease.stop()
            self._leases.pop(run_id, None)
        self._settle(run_id, worker_id, lease, outcome)

    def _settle(self, run_id: str, worker_id: str, lease: Lease, outcome: RunOutcome | None) -> None:
        """Record the attempt: its outcome, a hand-back on shutdown, or a retry when it ended without one."""
        try:
            with self.app.app_context():
                if lease.aborted and not lease.lost:
                    release(run_id, worker_id, self.clock())
                    return
                if outcome is None:
                    run = db.session.get(BackupRun, run_id, populate_existing=True)
                    if run is None or run.status != RunStatus.RUNNING or run.worker_id != worker_id:
                        return  # taken over or finished elsewhere: nothing of ours to record
                    lost = lease.lost or not lease.still_owner()
                    outcome = RunOutcome.failed(LOST_LEASE if lost else NO_RESULT, retryable=True,
                                                reason=reasons.WORKER_LOST if lost else reasons.UNEXPECTED)
                settle(run_id, worker_id, self.clock(), outcome, self.retry,
                       ended=getattr(self.services, "run_ended", None))
        except Exception as exc:
            # The lease will expire and another worker will take the run over.
            logger.warning("run %s: could not record the outcome (%s)", run_id, type(exc).__name__)
