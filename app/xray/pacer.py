"""Per-tenant request pacing so the client keeps under Xray's rate limit instead of causing 429s."""
from __future__ import annotations

import bisect
import threading
import time
from contextlib import contextmanager
from typing import Iterator

WINDOW_SECONDS = 300.0
# Xray counts a request when it arrives, which is after the pacer let it start. ``slot()`` therefore
# records a request at the moment its answer came back (Xray had counted it by then); the margin
# covers clocks that differ a little between here and Xray.
MARGIN_SECONDS = 1.0


class Pacer:
    """A sliding window: at most ``limit`` requests within any ``window`` seconds (plus a margin)."""

    def __init__(self, limit: int, window: float = WINDOW_SECONDS, *, margin: float = MARGIN_SECONDS,
                 clock=time.monotonic, sleep=time.sleep):
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit, self.window, self.margin = limit, window, margin
        self._clock, self._sleep = clock, sleep
        self._times: list[float] = []  # sorted moments the requests in the window are counted at
        self._hold_until = 0.0
        self._lock = threading.Lock()

    def delay(self) -> float:
        """Seconds until another request may start (0 when one may start now)."""
        with self._lock:
            return self._delay(self._clock())

    def _delay(self, now: float) -> float:
        span = self.window + self.margin
        del self._times[:bisect.bisect_right(self._times, now - span)]
        wait = max(0.0, self._hold_until - now)
        if len(self._times) >= self.limit:
            wait = max(wait, self._times[len(self._times) - self.limit] + span - now)
        return wait

    def _take(self) -> tuple[float, float]:
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait = self._delay(now)
                if wait <= 0:
                    bisect.insort(self._times, now)
                    return waited, now
            self._sleep(wait)
            waited += wait

    def acquire(self) -> float:
        """Wait for a free slot, take it (counted from now), and return the seconds waited."""
        return self._take()[0]

    @contextmanager
    def slot(self) -> Iterator[float]:
        """Take a slot for one request; it counts from when the block ends. Yields the seconds waited."""
        waited, taken = self._take()
        try:
            yield waited
        finally:
            with self._lock:
                index = bisect.bisect_left(self._times, taken)
                if index < len(self._times) and self._times[index] == taken:
                    del self._times[index]
                bisect.insort(self._times, max(taken, self._clock()))

    def hold(self, seconds: float) -> None:
        """Let no request start for ``seconds`` (Xray said so with a 429)."""
        with self._lock:
            self._hold_until = max(self._hold_until, self._clock() + seconds)

    def used(self) -> int:
        """Requests counted within the current window."""
        with self._lock:
            self._delay(self._clock())
            return len(self._times)
