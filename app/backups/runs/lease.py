"""A run's lease, renewed in the background while the run executes; it answers `still_owner()`.

The heartbeat renews the lease every lease/3. Ownership is judged on this process's monotonic clock (passed in,
so tests need not sleep): a process that was paused wakes up past its deadline and knows at once that another
worker may have taken the run over.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from flask import Flask

from ...logs import Damper
from ...models import utcnow
from .claims import heartbeat

logger = logging.getLogger(__name__)
_damper = Damper(logger)

RENEW_BEFORE = 0.8  # ownership ends at 80 % of the lease: renewal must land before any other worker may take over


class Lease:
    """Renews one run's lease in the background; tells the runner whether it still owns the run."""

    def __init__(self, app: Flask, run_id: str, worker_id: str, lease_seconds: float, *, clock=utcnow,
                 monotonic: Callable[[], float] = time.monotonic, renew: Callable | None = None):
        self.app, self.run_id, self.worker_id = app, run_id, worker_id
        self._renew = renew  # the queue's heartbeat: restores pass theirs; None is the backup runs'
        self.lease_seconds = lease_seconds
        self.clock, self.monotonic = clock, monotonic
        self.lost = False
        self.aborted = False
        self._deadline = self.monotonic() + lease_seconds * RENEW_BEFORE
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{run_id[:8]}", daemon=True)

    def start(self) -> "Lease":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.lease_seconds)

    def still_owner(self) -> bool:
        return not self.lost and not self.aborted and self.monotonic() < self._deadline

    def _loop(self) -> None:
        interval = max(self.lease_seconds / 3.0, 0.05)
        while not self._stop.wait(interval):
            if not self.renew():
                return

    def renew(self) -> bool:
        """Extend the lease once; False when it is lost (too late, or the run is no longer this worker's)."""
        if self.monotonic() >= self._deadline:
            # Too late: another worker may already have taken the run over; never resume it.
            self.lost = True
            logger.warning("run %s: lease of %s expired before it could be renewed", self.run_id, self.worker_id)
            return False
        started = self.monotonic()
        try:
            with self.app.app_context():
                owned = (self._renew or heartbeat)(self.run_id, self.worker_id, self.clock(),
                                                   int(self.lease_seconds) or 1)
        except Exception as exc:  # the database may be briefly unreachable: keep trying until the deadline
            _damper.failure(f"lease of run {self.run_id}", logging.WARNING, "run %s: heartbeat failed (%s)",
                            self.run_id, type(exc).__name__)
            return True
        _damper.ok(f"lease of run {self.run_id}")
        if not owned:
            self.lost = True
            logger.warning("run %s: %s lost its lease", self.run_id, self.worker_id)
            return False
        self._deadline = started + self.lease_seconds * RENEW_BEFORE
        return True
