"""How this process's Xray requests ended (`ok`, `throttled`, `error`), counted for the metrics.

Every `XrayClient` adds to the one process-wide tally (a backup, a restore, a "Test connection" alike); the
process's heartbeat moves the counts into the shared metric counters with `take()`, so nothing is lost or counted
twice however many threads and clients there are.
"""
from __future__ import annotations

import threading

OUTCOMES = ("ok", "throttled", "error")


class RequestTally:
    def __init__(self):
        self._counts = dict.fromkeys(OUTCOMES, 0)
        self._lock = threading.Lock()

    def add(self, outcome: str) -> None:
        with self._lock:
            self._counts[outcome] += 1

    def take(self) -> dict[str, int]:
        """The counts since the last take, and start again from zero."""
        with self._lock:
            counts, self._counts = self._counts, dict.fromkeys(OUTCOMES, 0)
        return {outcome: n for outcome, n in counts.items() if n}

    def put_back(self, counts: dict[str, int]) -> None:
        """Return counts that could not be recorded (the database was down): the next take has them."""
        with self._lock:
            for outcome, n in counts.items():
                self._counts[outcome] += n


requests_by_outcome = RequestTally()
