"""Process heartbeats: every web, scheduler and `backup run` process records itself and beats from a thread.

A row says what the process is (kind, host, pid), which ENCRYPTION_KEYS ids it holds, how many backup workers it
runs and whether it schedules. It is live while its last beat is younger than 3 × its interval. `/readyz` needs a
live process running workers, `/metrics` reports the heartbeat age, `keys rotate` refuses while a live process does
not hold the new first key. Each beat also deletes rows that stopped beating long ago, and moves this process's
Xray request counts into the shared metric counters. Every write is its own short transaction on the engine.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import delete, insert, select, update

from ..logs import Damper
from ..models import utcnow
from . import metrics
from .models import ProcessHeartbeat

logger = logging.getLogger(__name__)

HEARTBEAT_SECONDS = 15.0
LIVE_BEATS = 3  # a process is live while its last beat is younger than this many intervals
EXPIRE_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class ProcessInfo:
    id: str
    kind: str
    host: str
    pid: int
    key_ids: tuple[str, ...]
    workers: int
    schedules: bool
    interval_seconds: float
    started_at: datetime
    beat_at: datetime

    @property
    def label(self) -> str:
        return f"{self.kind} process {self.host}:{self.pid}"

    def age(self, now: datetime) -> float:
        return max(0.0, (now - self.beat_at).total_seconds())

    def live(self, now: datetime) -> bool:
        return self.age(now) < LIVE_BEATS * self.interval_seconds

    @property
    def live_for_seconds(self) -> float:
        return LIVE_BEATS * self.interval_seconds


def _info(row) -> ProcessInfo:
    return ProcessInfo(row.id, row.kind, row.host, row.pid, tuple(k for k in (row.key_ids or "").split(",") if k),
                       row.workers, bool(row.schedules), row.interval_seconds, row.started_at, row.beat_at)


def list_processes(conn, now: datetime, *, live_only: bool = True) -> list[ProcessInfo]:
    """Recorded processes (only the live ones unless asked), most recent beat first."""
    rows = conn.execute(select(ProcessHeartbeat.__table__).order_by(ProcessHeartbeat.beat_at.desc())).all()
    found = [_info(row) for row in rows]
    return [p for p in found if p.live(now)] if live_only else found


def processes_lacking_key(conn, kid: str, now: datetime) -> list[ProcessInfo]:
    """Live processes whose key ring does not hold `kid` (they could not read what is sealed under it)."""
    return [p for p in list_processes(conn, now) if kid not in p.key_ids]


def expire(conn, now: datetime) -> int:
    """Delete rows whose process stopped beating more than EXPIRE_AFTER ago."""
    table = ProcessHeartbeat.__table__
    return conn.execute(delete(table).where(table.c.beat_at < now - EXPIRE_AFTER)).rowcount


class ProcessBeat:
    """This process's row, beaten every `interval` seconds from a daemon thread until `stop()` deletes it."""

    def __init__(self, engine, *, kind: str, key_ids: tuple[str, ...], workers: int = 0, schedules: bool = False,
                 interval: float = HEARTBEAT_SECONDS, clock: Callable[[], datetime] = utcnow):
        self.engine, self.kind, self.interval, self.clock = engine, kind, interval, clock
        self.host = socket.gethostname()[:100]
        self.pid = os.getpid()
        self.id = f"{kind}:{self.host}:{self.pid}:{uuid.uuid4().hex[:8]}"
        self.values = dict(kind=kind, host=self.host, pid=self.pid, key_ids=",".join(key_ids)[:512],
                           workers=workers, schedules=schedules, interval_seconds=interval)
        self.started_at = clock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"heartbeat-{kind}", daemon=True)
        self._damper = Damper(logger)

    def start(self) -> "ProcessBeat":
        """Beat once now (so the process is visible at once), then in the background."""
        self.beat()
        self._thread.start()
        return self

    def beat(self) -> bool:
        """Record one beat (and expire old rows, and record Xray request counts); False if the database failed."""
        table = ProcessHeartbeat.__table__
        now = self.clock()
        try:
            with self.engine.begin() as conn:
                changed = conn.execute(update(table).where(table.c.id == self.id).values(beat_at=now)).rowcount
                if not changed:
                    conn.execute(insert(table).values(id=self.id, started_at=self.started_at, beat_at=now,
                                                      **self.values))
                expire(conn, now)
        except Exception as exc:  # the database is down: the row goes stale, readiness says so
            self._damper.failure(f"heartbeat of {self.kind} {self.host}:{self.pid}", logging.WARNING,
                            "heartbeat of %s %s:%s failed (%s)", self.kind, self.host, self.pid, type(exc).__name__)
            return False
        self._damper.ok(f"heartbeat of {self.kind} {self.host}:{self.pid}")
        metrics.record(self.engine, {})
        return True

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def stop(self) -> None:
        """Stop beating and delete the row: a process that stopped cleanly is gone at once."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=self.interval + 5)
        metrics.record(self.engine, {})
        table = ProcessHeartbeat.__table__
        try:
            with self.engine.begin() as conn:
                conn.execute(delete(table).where(table.c.id == self.id))
        except Exception as exc:  # it will go stale and expire
            logger.warning("could not remove the heartbeat of %s (%s)", self.id, type(exc).__name__)
