"""What `backup run` prints while it waits: why (the shared Xray budget, Xray's throttling, a retry) and how long.

The Xray client and its pacer sleep through `WaitDisplay.sleep`; the client's `on_event` hook says beforehand why
the next sleep happens (a retry, a 429). A sleep nobody announced is the pacer waiting for the tenant's shared
request budget. On a terminal the countdown is rewritten in place every second; otherwise a line every 30 s.
"""
from __future__ import annotations

import sys
import time

from ..presentation import duration

SHOW_FROM_SECONDS = 1.0  # shorter pacing waits (jitter) pass silently; a retry is always shown
PLAIN_EVERY_SECONDS = 30.0


class WaitDisplay:
    def __init__(self, rate_limit: int, *, stream=None, sleep=time.sleep, clock=time.monotonic,
                 before_wait=lambda: None):
        self.rate_limit = rate_limit
        self.stream = stream or sys.stdout
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self._sleep, self._clock = sleep, clock
        self._before_wait = before_wait  # e.g. end the live progress line first
        self._reason: str | None = None
        self.waits: list[tuple[str, float]] = []

    def on_event(self, kind: str, info: dict) -> None:
        """The Xray client's hook: remember why its next sleep happens."""
        query = info.get("query") or "a request"
        if kind == "retry":
            self._reason = (f"Xray failed on {query} ({info.get('reason')}); retrying (attempt "
                            f"{int(info.get('attempt') or 0) + 1})")
        elif kind == "rate_limit_wait" and info.get("source") == "xray":
            self._reason = f"Xray asked to slow down (rate limited) on {query}"

    def sleep(self, seconds: float) -> None:
        reason, self._reason = self._reason, None
        if reason is None and seconds < SHOW_FROM_SECONDS:  # pacing jitter: not worth a line
            self._sleep(max(0.0, seconds))
            return
        reason = reason or (f"this site's shared Xray budget ({self.rate_limit} requests per 5 minutes, shared by "
                            "every backup and connection test of the site) is used up")
        self.waits.append((reason, seconds))
        self._before_wait()
        self._write(f"Waiting {duration(seconds) if seconds >= SHOW_FROM_SECONDS else 'a moment'}: {reason}.\n")
        deadline = self._clock() + seconds
        last_plain = self._clock()
        while True:
            left = deadline - self._clock()
            if left <= 0:
                break
            if self.tty:
                self._write(f"\r  {duration(left)} left ".ljust(24))
            elif self._clock() - last_plain >= PLAIN_EVERY_SECONDS:
                last_plain = self._clock()
                self._write(f"  still waiting: {duration(left)} left\n")
            self._sleep(min(1.0, left))
        if self.tty:
            self._write("\r" + " " * 24 + "\r")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()
