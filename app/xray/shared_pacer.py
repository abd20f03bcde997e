"""A tenant's Xray pacer shared by every process through the database (web workers, schedulers, runners).

Same interface as :class:`app.xray.pacer.Pacer` (``slot()``, ``acquire()``, ``hold()``, ``delay()``,
``used()``), but the window lives in the ``xray_pacer_slots`` table, so a "Test connection" in a web worker
and a backup in a scheduler process together stay under XRAY_RATE_LIMIT.

Taking a slot, without locks: insert a row (tenant hash, ``at`` = now) and COMMIT it, then count the tenant's
rows in the window. At or under the limit: go. Over it: delete the row and sleep until enough counted rows
leave the window (plus a little jitter), then try again. Because every process commits its row before it
counts, of two processes racing for the last slot the later counter always sees both rows, so the two
together never exceed the limit (at worst both back off once). When the answer is back the row's ``at``
moves to that moment: Xray counted the request on arrival, which is before the answer came back.

Rows are keyed by the first 32 hex digits of sha256(clientKey); clientKeys never enter these tables.
Each operation runs in its own short transaction on the engine, never in the caller's ORM session.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from sqlalchemy import and_, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from ..crypto import tenant_hash
from ..logs import Damper
from ..models import XrayPacerHold, XrayPacerSlot
from .pacer import MARGIN_SECONDS, WINDOW_SECONDS, Pacer

logger = logging.getLogger(__name__)
_damper = Damper(logger)

JITTER_SECONDS = 0.05
PRUNE_EVERY = 25  # takes between two prunes of the tenant's old rows


def _tables():
    return XrayPacerSlot.__table__, XrayPacerHold.__table__


class DatabasePacer:
    """A sliding window of ``limit`` requests per ``window`` seconds (plus a margin), shared by all processes."""

    def __init__(self, engine, tenant_key: str, limit: int, window: float = WINDOW_SECONDS, margin: float = MARGIN_SECONDS,
                 clock=time.time, sleep=time.sleep, rng: random.Random | None = None):
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.engine, self.tenant = engine, tenant_hash(tenant_key)
        self.window, self.margin = window, margin
        # When the database fails, requests are paced in this process only rather than failing a backup.
        self._local = Pacer(limit, window, margin=margin, sleep=sleep)
        self.limit = limit
        self._clock, self._sleep = clock, sleep
        self._rng = rng or random.Random()
        self._slots, self._holds = _tables()
        self._takes = 0
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DatabasePacer(tenant={self.tenant!r}, limit={self.limit}, window={self.window})"

    @property
    def limit(self) -> int:
        return self._limit

    @limit.setter
    def limit(self, value: int) -> None:
        self._limit = self._local.limit = value

    @property
    def span(self) -> float:
        return self.window + self.margin

    # ---- reading the shared state

    def _state(self, conn, now: float, mine: int | None = None) -> tuple[int, list[float], float]:
        """How many requests the window counts, the moments of those other than ``mine`` (ascending), the hold end."""
        slots, holds = self._slots, self._holds
        rows = conn.execute(select(slots.c.id, slots.c.at).where(slots.c.tenant_hash == self.tenant,
                                                                  slots.c.at > now - self.span).order_by(slots.c.at))
        rows = rows.all()
        hold = conn.scalar(select(holds.c.hold_until).where(holds.c.tenant_hash == self.tenant)) or 0.0
        return len(rows), [at for row_id, at in rows if row_id != mine], hold

    def _wait(self, times: list[float], hold: float, now: float, others: int) -> float:
        """Seconds until a request may start, given the counted moments of ``others`` other requests."""
        wait = max(0.0, hold - now)
        if others >= self.limit:
            wait = max(wait, times[others - self.limit] + self.span - now)
        return wait

    def delay(self) -> float:
        """Seconds until another request may start (0 when one may start now)."""
        now = self._clock()
        with self.engine.connect() as conn:
            _, times, hold = self._state(conn, now)
        return self._wait(times, hold, now, len(times))

    def used(self) -> int:
        """Requests counted within the current window, by every process."""
        now = self._clock()
        with self.engine.connect() as conn:
            return conn.scalar(select(func.count()).select_from(self._slots).where(
                self._slots.c.tenant_hash == self.tenant, self._slots.c.at > now - self.span))

    # ---- taking a slot

    def _take(self) -> tuple[float, int]:
        """Wait for a free slot and take it; return (seconds waited, the slot's row id)."""
        slots = self._slots
        waited = 0.0
        self._maybe_prune()
        while True:
            now = self._clock()
            with self.engine.connect() as conn:
                # Committed BEFORE counting: a racing process that counts later sees this row.
                row_id = conn.execute(insert(slots).values(tenant_hash=self.tenant, at=now)).inserted_primary_key[0]
                conn.commit()
                counted, others, hold = self._state(conn, now, row_id)
                conn.commit()
                if counted <= self.limit and hold <= now:
                    return waited, row_id
                conn.execute(delete(slots).where(slots.c.id == row_id))
                conn.commit()
            wait = self._wait(others, hold, now, len(others))
            wait = max(wait, 0.001) + self._rng.uniform(0, JITTER_SECONDS)
            self._sleep(wait)
            waited += wait

    def acquire(self) -> float:
        """Wait for a free slot, take it (counted from now), and return the seconds waited."""
        return self._guarded_take()[0]

    @contextmanager
    def slot(self) -> Iterator[float]:
        """Take a slot for one request; it counts from when the block ends. Yields the seconds waited."""
        waited, row_id, local = self._guarded_take()
        if local is not None:  # the database failed: pace this request in this process only
            with local.slot() as extra:
                yield waited + extra
            return
        try:
            yield waited
        finally:
            self._arrived(row_id)

    def _arrived(self, row_id: int) -> None:
        slots = self._slots
        now = self._clock()
        try:
            with self.engine.begin() as conn:
                conn.execute(update(slots).where(slots.c.id == row_id, slots.c.at < now).values(at=now))
        except SQLAlchemyError as exc:  # the row keeps its start time: it still counts, a little shorter
            _damper.failure("xray pacer answers", logging.WARNING, "xray pacer: could not record a request's answer "
                            "(%s)", type(exc).__name__)

    def _guarded_take(self):
        """Take a slot; if the database fails, fall back to this process's own pacer rather than fail a backup."""
        try:
            waited, row_id = self._take()
        except SQLAlchemyError as exc:
            # Once a minute, not per request, while the database is down.
            _damper.failure("xray pacer", logging.WARNING, "xray pacer: the database failed (%s); pacing in this "
                            "process only", type(exc).__name__)
            return 0.0, None, self._local
        _damper.ok("xray pacer")
        return waited, row_id, None

    # ---- holds and housekeeping

    def hold(self, seconds: float) -> None:
        """Let no request of this tenant start, in any process, for ``seconds`` (Xray said so with a 429)."""
        until = self._clock() + seconds
        holds = self._holds
        for _ in range(3):
            try:
                with self.engine.begin() as conn:
                    changed = conn.execute(update(holds).where(holds.c.tenant_hash == self.tenant)
                                           .where(holds.c.hold_until < until).values(hold_until=until)).rowcount
                    if changed or conn.scalar(select(func.count()).select_from(holds)
                                              .where(holds.c.tenant_hash == self.tenant)):
                        return
                    conn.execute(insert(holds).values(tenant_hash=self.tenant, hold_until=until))
                return
            except IntegrityError:  # another process inserted the row first: update it instead
                continue
            except SQLAlchemyError as exc:
                logger.warning("xray pacer: could not record a hold (%s); holding in this process only",
                               type(exc).__name__)
                self._local.hold(seconds)
                return

    def _maybe_prune(self) -> None:
        with self._lock:
            self._takes += 1
            due = self._takes % PRUNE_EVERY == 1
        if due:
            self.prune()

    def prune(self) -> int:
        """Delete this tenant's rows that left the window and its ended hold; return how many slot rows went."""
        now = self._clock()
        slots, holds = self._slots, self._holds
        try:
            with self.engine.begin() as conn:
                removed = conn.execute(delete(slots).where(
                    and_(slots.c.tenant_hash == self.tenant, slots.c.at <= now - self.span))).rowcount
                conn.execute(delete(holds).where(holds.c.tenant_hash == self.tenant, holds.c.hold_until < now))
            return removed
        except SQLAlchemyError as exc:  # pruning is housekeeping: the next take tries again
            logger.info("xray pacer: pruning skipped (%s)", type(exc).__name__)
            return 0


def prune_all(engine, older_than: float, *, now: float | None = None) -> int:
    """Delete every tenant's slot rows older than ``older_than`` seconds and every ended hold."""
    now = time.time() if now is None else now
    slots, holds = _tables()
    with engine.begin() as conn:
        removed = conn.execute(delete(slots).where(slots.c.at <= now - older_than)).rowcount
        conn.execute(delete(holds).where(holds.c.hold_until < now))
    return removed


def forget_tenant(conn, tenant_key: str) -> None:
    """Delete a tenant's pacer rows on the given connection or session (uninstall purge)."""
    slots, holds = _tables()
    key = tenant_hash(tenant_key)
    conn.execute(delete(slots).where(slots.c.tenant_hash == key))
    conn.execute(delete(holds).where(holds.c.tenant_hash == key))


class PacerRegistry:
    """The app's pacers: one DatabasePacer per tenant over the app's engine, so every thread shares it."""

    def __init__(self, engine, limit: int, window: float = WINDOW_SECONDS):
        self.engine, self.limit, self.window = engine, limit, window
        self._pacers: dict[str, DatabasePacer] = {}
        self._lock = threading.Lock()

    def for_tenant(self, tenant_key: str, *, sleep=None) -> DatabasePacer:
        """The tenant's pacer (created on first use); with `sleep`, a pacer of its own that waits through it
        (`backup run` shows a countdown) over the same shared window."""
        if sleep is not None:
            return DatabasePacer(self.engine, tenant_key, self.limit, self.window, sleep=sleep)
        with self._lock:
            pacer = self._pacers.get(tenant_key)
            if pacer is None:
                pacer = self._pacers[tenant_key] = DatabasePacer(self.engine, tenant_key, self.limit, self.window)
            return pacer
