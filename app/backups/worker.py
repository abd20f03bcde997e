"""A per-process pool of backup workers: claim a run, execute it under a heartbeated lease, repeat.

Each worker thread claims one run at a time; a heartbeat thread renews the lease every lease/3 and
`still_owner()` turns False as soon as the lease was lost or could not be renewed in time, so a worker
that was paused or cut off from the database stops without publishing.
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

from flask import Flask

from ..models import BackupRun, utcnow
from . import queue

logger = logging.getLogger(__name__)

MAX_WORKERS = 16


def default_execute(run_id: str, **kwargs):
    """The real run: imported lazily so the pool works before (and without) the runner module."""
    from .runner import execute_run

    return execute_run(run_id, **kwargs)


def failure_message(exc: BaseException) -> str:
    """Words an admin can act on, never the exception text (it can carry connection details)."""
    from sqlalchemy.exc import DBAPIError, OperationalError

    if isinstance(exc, (OperationalError, DBAPIError)):
        return "The database was unavailable during the backup."
    if isinstance(exc, OSError) or type(exc).__module__.split(".")[0] in {"botocore", "boto3"}:
        return "The backup storage was unavailable during the backup."
    if type(exc).__name__.endswith("StorageError") or "storage" in type(exc).__module__:
        return "The backup storage was unavailable during the backup."
    return f"The backup stopped on an unexpected error ({type(exc).__name__})."


class Lease:
    """Renews one run's lease in the background; tells the runner whether it still owns the run."""

    def __init__(self, app: Flask, run_id: str, worker_id: str, lease_seconds: float, *, clock=utcnow):
        self.app, self.run_id, self.worker_id = app, run_id, worker_id
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.lost = False
        self.aborted = False
        # Counted on this process's monotonic clock: a paused process wakes up past its deadline.
        self._deadline = time.monotonic() + lease_seconds * 0.8
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{run_id[:8]}", daemon=True)

    def start(self) -> "Lease":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.lease_seconds)

    def still_owner(self) -> bool:
        return not self.lost and not self.aborted and time.monotonic() < self._deadline

    def _loop(self) -> None:
        interval = max(self.lease_seconds / 3.0, 0.05)
        while not self._stop.wait(interval):
            if not self.renew():
                return

    def renew(self) -> bool:
        if time.monotonic() >= self._deadline:
            # Too late: another worker may already have taken the run over; never resume it.
            self.lost = True
            logger.warning("run %s: lease of %s expired before it could be renewed", self.run_id, self.worker_id)
            return False
        started = time.monotonic()
        try:
            with self.app.app_context():
                owned = queue.heartbeat(self.run_id, self.worker_id, self.clock(), int(self.lease_seconds) or 1)
        except Exception as exc:  # the database may be briefly unreachable: keep trying until the deadline
            logger.warning("run %s: heartbeat failed (%s)", self.run_id, type(exc).__name__)
            return True
        if not owned:
            self.lost = True
            logger.warning("run %s: %s lost its lease", self.run_id, self.worker_id)
            return False
        self._deadline = started + self.lease_seconds * 0.8
        return True


class WorkerPool:
    """N worker threads (bounded by MAX_WORKERS) that claim and execute queued runs."""

    def __init__(
        self,
        app: Flask,
        *,
        workers: int = 2,
        lease_seconds: float | None = None,
        poll_interval: float = 2.0,
        retry_delay: float = queue.DEFAULT_RETRY_DELAY,
        max_attempts: int = queue.MAX_ATTEMPTS,
        execute: Callable | None = None,
        clock: Callable = utcnow,
        name: str | None = None,
    ):
        from .. import app_config

        if not 1 <= workers <= MAX_WORKERS:
            raise ValueError(f"workers must be between 1 and {MAX_WORKERS}, got {workers}")
        self.app = app
        self.workers = workers
        self.lease_seconds = lease_seconds or app_config(app).backup_lease_seconds
        self.poll_interval = poll_interval
        self.retry_delay = retry_delay
        self.max_attempts = max_attempts
        self.execute = execute or default_execute
        self.clock = clock
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self._stopping = threading.Event()
        self._wake = threading.Condition()
        self._threads: list[threading.Thread] = []
        self._leases: dict[str, Lease] = {}

    def start(self) -> "WorkerPool":
        self.app.extensions[queue.RETRY_DELAY_EXTENSION] = self.retry_delay
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
            except Exception:
                logger.exception("backup worker %s-%d: claiming failed", self.name, index)
                worked = False
            if not worked and not self._stopping.is_set():
                with self._wake:
                    self._wake.wait(self.poll_interval)

    def run_once(self, index: int = 0) -> bool:
        """Claim and execute at most one run; True if one was claimed."""
        # A fresh id per claim: a resumed, stale execution can never pass for the new owner.
        worker_id = f"{self.name}:{index}:{uuid.uuid4().hex[:8]}"
        with self.app.app_context():
            run = queue.claim_next(worker_id, self.clock(), int(self.lease_seconds), max_attempts=self.max_attempts)
            run_id = run.id if run is not None else None
            attempts = run.attempts if run is not None else 0
        if run_id is None:
            return False
        self._execute(run_id, worker_id)
        if attempts > 1:
            self._discard_earlier_attempts(run_id)
        return True

    def _discard_earlier_attempts(self, run_id: str) -> None:
        """Once a taken-over run has ended, remove the local data its earlier attempts left (a killed process).

        Only then: a paused earlier worker may still be mid-run, and must find its files to stop cleanly.
        """
        if self.execute is not default_execute:
            return
        try:
            from ..extensions import db
            from ..models import FINAL_STATUSES
            from .runner import temp_root

            with self.app.app_context():
                run = db.session.get(BackupRun, run_id, populate_existing=True)
                if run is None or run.status not in FINAL_STATUSES:
                    return
                root = temp_root()
            for leftover in root.glob(f"{run_id}-*"):
                shutil.rmtree(leftover, ignore_errors=True)
                logger.info("run %s: removed an earlier attempt's local data", run_id)
        except Exception as exc:  # the runner's own stale-data cleanup remains the backstop
            logger.warning("run %s: could not remove earlier local data (%s)", run_id, type(exc).__name__)

    def _execute(self, run_id: str, worker_id: str) -> None:
        lease = Lease(self.app, run_id, worker_id, self.lease_seconds, clock=self.clock).start()
        self._leases[run_id] = lease
        error: BaseException | None = None
        try:
            with self.app.app_context():
                try:
                    self.execute(run_id, now=self.clock, still_owner=lease.still_owner)
                except Exception as exc:
                    error = exc
                    logger.warning("run %s: attempt failed with %s", run_id, type(exc).__name__, exc_info=True)
        finally:
            lease.stop()
            self._leases.pop(run_id, None)
        self._settle(run_id, worker_id, lease, error)

    def _settle(self, run_id: str, worker_id: str, lease: Lease, error: BaseException | None) -> None:
        """Whatever the runner left undone: retry after an error, hand back on shutdown."""
        try:
            with self.app.app_context():
                from ..extensions import db

                if lease.aborted and not lease.lost:
                    queue.release(run_id, worker_id, self.clock())
                    return
                if error is not None:
                    queue.fail_or_retry(
                        run_id,
                        worker_id,
                        self.clock(),
                        failure_message(error),
                        retry_delay=self.retry_delay,
                        max_attempts=self.max_attempts,
                    )
                    return
                run = db.session.get(BackupRun, run_id, populate_existing=True)
                if run is not None and run.status == "running" and run.worker_id == worker_id:
                    lost = lease.lost or not lease.still_owner()
                    queue.fail_or_retry(
                        run_id,
                        worker_id,
                        self.clock(),
                        "Its worker stopped heartbeating in time (paused or cut off from the database)."
                        if lost else "The backup ended without a result.",
                        retry_delay=self.retry_delay,
                        max_attempts=self.max_attempts,
                    )
        except Exception as exc:
            # The lease will expire and another worker will take the run over.
            logger.warning("run %s: could not record the outcome (%s)", run_id, type(exc).__name__)
