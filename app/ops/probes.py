"""Health and readiness probes that answer in bounded time, whatever the database or the storage does.

Each check runs in a daemon thread and is waited for at most `CHECK_SECONDS`; a check that hangs (a database that
accepts connections and never answers, an unreachable S3 endpoint) makes the probe fail in time instead of holding
a web worker. The database check has its own engine without a pool, with connect and statement timeouts, so it
neither waits for a busy pool nor keeps a broken connection.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Callable

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from ..extensions import postgresql_timeouts
from .heartbeats import list_processes

logger = logging.getLogger(__name__)

CHECK_SECONDS = 4.0           # /healthz and /readyz answer within 5 s
DB_CONNECT_TIMEOUT = 3        # seconds (psycopg's minimum is 2)
DB_STATEMENT_TIMEOUT_MS = 3000
MAX_PENDING = 4               # checks still hanging from earlier calls: beyond this, fail at once


class BoundedCheck:
    """Run `check()` in a daemon thread and wait at most the given time; True/its value, or a failure."""

    def __init__(self, name: str, check: Callable[[], object]):
        self.name, self.check = name, check
        self._pending = 0
        self._lock = threading.Lock()

    def start(self) -> "_Running | None":
        with self._lock:
            if self._pending >= MAX_PENDING:
                return None  # earlier checks are still hanging: do not pile up threads
            self._pending += 1
        running = _Running()
        threading.Thread(target=self._run, args=(running,), name=f"probe-{self.name}", daemon=True).start()
        return running

    def _run(self, running: "_Running") -> None:
        try:
            running.value = self.check()
            running.ok = True
        except Exception as exc:
            running.error = type(exc).__name__
        finally:
            with self._lock:
                self._pending -= 1
            running.done.set()


class _Running:
    def __init__(self):
        self.done = threading.Event()
        self.ok = False
        self.value = None
        self.error: str | None = None


def wait_all(checks: dict[str, BoundedCheck], timeout: float = CHECK_SECONDS) -> dict[str, _Running | None]:
    """Start every check at once and wait for all of them until one shared deadline."""
    started = {name: check.start() for name, check in checks.items()}
    deadline = time.monotonic() + timeout
    for name, running in started.items():
        if running is not None and not running.done.wait(max(0.0, deadline - time.monotonic())):
            running.error = "timeout"
        if running is not None and not running.ok:
            logger.warning("probe %s failed (%s)", name, running.error)
    return started


def probe_engine(database_url: str):
    """An engine for the probes only: no pool, short connect and statement timeouts."""
    if database_url.startswith("sqlite"):
        return create_engine(database_url, poolclass=NullPool, connect_args={"timeout": DB_CONNECT_TIMEOUT})
    # The probe's own short timeouts win over DATABASE_URL's; its other options (a search_path) stay.
    return create_engine(database_url, poolclass=NullPool, connect_args=postgresql_timeouts(
        database_url, connect_timeout=DB_CONNECT_TIMEOUT, statement_timeout_ms=DB_STATEMENT_TIMEOUT_MS,
        override=True))


@dataclass
class Readiness:
    database: str
    storage: str
    scheduler: str

    @property
    def ready(self) -> bool:
        return self.database == self.storage == self.scheduler == "ok"

    def as_dict(self) -> dict:
        body = {"database": self.database, "storage": self.storage, "scheduler": self.scheduler}
        problems = []
        if self.database != "ok":
            problems.append("the database does not answer")
        if self.storage != "ok":
            problems.append("the snapshot storage is unreachable")
        if self.scheduler == "missing":
            problems.append("no live scheduler/worker process (no heartbeat within 3 intervals)")
        if problems:
            body["message"] = "Not ready: " + "; ".join(problems) + "."
        return body


class Probes:
    """The app's health and readiness checks (built once; views call them)."""

    def __init__(self, database_url: str, store, clock: Callable[[], datetime]):
        self.engine = probe_engine(database_url)
        self.clock = clock
        self.database = BoundedCheck("database", self._database)
        self.workers = BoundedCheck("database", self._live_workers)
        self.storage = BoundedCheck("storage", store.probe)

    def _database(self) -> bool:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True

    def _live_workers(self) -> int:
        """Live processes that run backup workers (the database answering is implied)."""
        with self.engine.connect() as conn:
            return sum(p.workers for p in list_processes(conn, self.clock()))

    def healthy(self) -> bool:
        """Whether the database answers, within CHECK_SECONDS."""
        running = wait_all({"database": self.database})["database"]
        return running is not None and running.ok

    def readiness(self) -> Readiness:
        """Database, storage and a live scheduler/worker process, checked at once within CHECK_SECONDS."""
        results = wait_all({"database": self.workers, "storage": self.storage})
        database, storage = results["database"], results["storage"]
        database_ok = database is not None and database.ok
        return Readiness(
            database="ok" if database_ok else "unavailable",
            storage="ok" if storage is not None and storage.ok else "unreachable",
            scheduler=("ok" if database.value else "missing") if database_ok else "unknown",
        )
