"""The simulated Xray's clock: real UTC time plus a skew, stamping changes in strictly increasing order.

Xray's clock is not the app's: a skew lets tests model an Xray running ahead of or behind the app, which
is why an incremental backup reads ``modifiedSince`` with an overlap.
"""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone
from typing import Callable

_MS = timedelta(milliseconds=1)


def iso_ms(moment: datetime) -> str:
    """A UTC moment in the form Xray returns (``2025-01-06T09:00:00.123Z``)."""
    moment = moment.astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class SimClock:
    """Real time (or an injected ``source``) plus ``skew_seconds``; ``stamp()`` never repeats a value."""

    def __init__(self, skew_seconds: float = 0.0, source: Callable[[], datetime] | None = None):
        self.skew_seconds = float(skew_seconds)
        self._source = source or (lambda: datetime.now(timezone.utc))
        self._last: datetime | None = None
        self._lock = threading.Lock()

    def set_skew(self, seconds: float) -> None:
        """Move the clock; stamps restart from the new time, earlier than before if the skew went back."""
        with self._lock:
            self.skew_seconds = float(seconds)
            self._last = None

    def now(self) -> datetime:
        """The simulated Xray's current time."""
        return self._source() + timedelta(seconds=self.skew_seconds)

    def stamp(self) -> str:
        """The time of a change: now, or 1 ms after the previous stamp if now has not moved past it."""
        with self._lock:
            # Two changes in the same millisecond must still be ordered, or "modified after" would lose one.
            current = self.now()
            moment = current.replace(microsecond=current.microsecond // 1000 * 1000)
            if self._last is not None and moment <= self._last:
                moment = self._last + _MS
            self._last = moment
            return iso_ms(moment)
