"""Per-tenant request pacing so the client keeps under Xray's rate limit instead of causing 429s."""
from __future__ import annotations

import threading
import time
from collections import deque

WINDOW_SECONDS = 300.0
# The server counts a request when it arrives, the pacer when it is sent: a small margin absorbs the
# difference in transit time between two requests a window apart.
MARGIN_SECONDS = 1.0


class Pacer:
    """A sliding window: at most ``limit`` requests start within any ``window`` seconds."""

    def __init__(self, limit: int, window: float = WINDOW_SECONDS, *, margin: float = MARGIN_SECONDS,
                 clock=time.monotonic, sleep=time.sleep):
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit, self.window, self.margin = limit, window, margin
        self._clock, self._sleep = clock, sleep
        self._starts: deque[float] = deque()
        self._hold_until = 0.0
        self._lock = threading.Lock()

    def delay(self) -> float:
        """Seconds until another request may start (0 when one may start now)."""
        with self._lock:
            return self._delay(self._clock())

    def _delay(self, now: float) -> float:
        span = self.window + self.margin
        while self._starts and self._starts[0] <= now - span:
            self._starts.popleft()
        wait = max(0.0, self._hold_until - now)
        if len(self._starts) >= self.limit:
            wait = max(wait, self._starts[len(self._starts) - self.limit] + span - now)
        return wait

    def acquire(self) -> float:
        """Wait for a free slot, take it, and return the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                wait = self._delay(now)
                if wait <= 0:
                    self._starts.append(now)
                    return waited
            self._sleep(wait)
            waited += wait

    def hold(self, seconds: float) -> None:
        """Let no request start for ``seconds`` (Xray said so with a 429)."""
        with self._lock:
            self._hold_until = max(self._hold_until, self._clock() + seconds)

    def used(self) -> int:
        """Requests started within the current window."""
        with self._lock:
            self._delay(self._clock())
            return len(self._starts)


_registry: dict[str, Pacer] = {}
_registry_lock = threading.Lock()


def pacer_for(tenant_key: str, limit: int, window: float = WINDOW_SECONDS) -> Pacer:
    """The process-wide pacer of a tenant (created on first use; a changed limit takes effect at once)."""
    with _registry_lock:
        pacer = _registry.get(tenant_key)
        if pacer is None or pacer.window != window:
            pacer = _registry[tenant_key] = Pacer(limit, window)
        pacer.limit = limit
        return pacer


def forget_pacers() -> None:
    """Drop every registered pacer (tests, uninstall)."""
    with _registry_lock:
        _registry.clear()
