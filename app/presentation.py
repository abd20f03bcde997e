"""Time and wording in one home: ISO 8601 'Z' strings, "5 minutes ago", dates, durations, sizes, counts.

static/js/api.js has the browser's twins (XB.iso, XB.relative, XB.formatTime, XB.duration, XB.size) for live
updates; keep both alike. Pure: callers pass `now`.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

from .catalogue import LABELS

_UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"))

# Run statuses as Atlassian lozenges: (label, appearance); static/js/backups.js receives these.
RUN_LOZENGES = {
    "queued": ("Queued", "default"),
    "running": ("Running", "inprogress"),
    "retrying": ("Running (retrying)", "inprogress"),
    "succeeded": ("Succeeded", "success"),
    "warnings": ("Succeeded with warnings", "moved"),
    "failed": ("Failed", "removed"),
    "skipped": ("Skipped", "moved"),
    "cancelled": ("Cancelled", "default"),
}
# Health states: (lozenge label, lozenge appearance, section-message appearance, section-message title).
HEALTH_STATES = {
    "healthy": ("Healthy", "success", "success", "Backups are OK"),
    "warnings": ("Warnings", "moved", "warning", "Backups are OK, with warnings"),
    "failing": ("Failing", "removed", "error", "Backups are failing"),
    "stale": ("Out of date", "moved", "warning", "Backups are out of date"),
    "waiting_for_credentials": ("Waiting for credentials", "default", "warning", "Waiting for Xray credentials"),
}


def iso(value: datetime | None) -> str | None:
    """An aware datetime as ISO 8601 UTC with a 'Z' (the API's timestamps), or None."""
    if value is None:
        return None
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def parse_iso(text: str | None) -> datetime | None:
    """The inverse of `iso` (accepts any offset); None for None or ''."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def plural(n: int, word: str, words: str | None = None) -> str:
    """`1 test`, `3 tests`, `1,200 tests`."""
    return f"{n:,} {word if n == 1 else (words or word + 's')}"


def relative(moment: datetime | str | None, now: datetime) -> str:
    """`just now`, `5 minutes ago`, `in 3 hours` (whole units, rounded down)."""
    when = parse_iso(moment) if isinstance(moment, str) or moment is None else moment
    if when is None:
        return ""
    seconds = (when - now).total_seconds()
    distance = abs(seconds)
    for size, unit in _UNITS:
        if distance >= size:
            text = plural(int(distance // size), unit)
            return f"in {text}" if seconds > 0 else f"{text} ago"
    return "just now"


def format_time(moment: datetime | str | None, empty: str = "") -> str:
    """`28 Nov 2026, 06:00 UTC`."""
    when = parse_iso(moment) if isinstance(moment, str) or moment is None else moment
    return when.astimezone(timezone.utc).strftime("%d %b %Y, %H:%M UTC") if when else empty


def duration(seconds: float | None) -> str:
    """`45 s`, `2 min 5 s`, `1 h 3 min`; '—' when unknown."""
    if seconds is None:
        return "—"
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min"


def size(value: int | None) -> str:
    """`512 bytes`, `3.4 MB`; '—' when unknown."""
    if value is None:
        return "—"
    amount, unit = float(value), "bytes"
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if amount < 1024 or unit == "TB":
            break
        amount /= 1024
    return f"{value:,} bytes" if unit == "bytes" else f"{amount:.1f} {unit}"


def counts(values: dict | None) -> list[str]:
    """`1,200 tests`, `3 test runs`, … in the catalogue's order."""
    if not values:
        return []
    ordered = [name for name in LABELS if name in values] + sorted(set(values) - set(LABELS))
    return [f"{values[name]:,} {LABELS.get(name, name.replace('_', ' '))}" for name in ordered]


class Wording:
    """The pages' formatters, relative to one `now` (templates call them as `fmt.…`)."""

    def __init__(self, now: datetime):
        self.now = now

    def time(self, moment) -> str:
        return format_time(moment, empty="—")

    def relative(self, moment) -> str:
        return relative(moment, self.now)

    @staticmethod
    def size(value: int | None) -> str:
        return size(value)

    @staticmethod
    def counts(values: dict | None) -> list[str]:
        return counts(values)

    def elapsed(self, run: dict) -> str:
        """A finished run's duration, or how long a running one has been going."""
        start = parse_iso(run.get("startedAt"))
        if start is None:
            return "—"
        end = self.now if run["status"] in ("queued", "running") else parse_iso(run.get("finishedAt"))
        return duration((end - start).total_seconds()) if end else "—"

    @staticmethod
    def progress(run: dict) -> str:
        """`Backing up tests in PROJ · 1,200 items so far`."""
        if run["status"] == "queued" and run.get("retrying"):
            return f"Attempt {run.get('attempts')} failed; trying again shortly…"
        if run["status"] == "queued":
            return "Waiting for a worker…"
        progress = run.get("progress") or {}
        first = f"Backing up {progress['stage']}" if progress.get("stage") else "Backing up…"
        if progress.get("project"):
            first += f" in {progress['project']}"
        parts = [first]
        if (run.get("attempts") or 0) > 1:
            parts.insert(0, f"Attempt {run['attempts']}")
        done = sum(v for v in (progress.get("counts") or {}).values() if isinstance(v, int))
        if done:
            parts.append(f"{done:,} items so far")
        if progress.get("rateLimitWaits"):
            parts.append("pacing for Xray’s rate limit")
        return " · ".join(parts)

    @staticmethod
    def lozenge(run: dict) -> tuple[str, str]:
        """The run's lozenge: "Running (retrying)" while a retry waits, "Succeeded with warnings", …"""
        status = run["status"]
        if status == "queued" and run.get("retrying"):
            status = "retrying"
        elif status == "succeeded" and run.get("warnings"):
            status = "warnings"
        return RUN_LOZENGES.get(status, (status.capitalize(), "default"))

    @staticmethod
    def changed(changed: dict | None) -> str:
        """An incremental run's changes in one line: `12 added · 3 modified · 1 removed`."""
        totals = {"added": 0, "modified": 0, "removed": 0}
        for entity in (changed or {}).values():
            for what in totals:
                totals[what] += (entity or {}).get(what) or 0
        if not any(totals.values()):
            return "No changes since the previous snapshot"
        return " · ".join(f"{n:,} {what}" for what, n in totals.items() if n)

    @staticmethod
    def attempts(run: dict) -> str:
        """`3 attempts` when a run needed more than one, else ''."""
        n = run.get("attempts") or 0
        return f"{n} attempts" if n > 1 else ""

    @staticmethod
    def warning_parts(item, keys) -> list[tuple[str, str | None]]:
        """A warning as (text, issue key or None) pieces: the keys of the run's projects become links."""
        text = Wording.warning(item)
        if not keys:
            return [(text, None)]
        pattern = re.compile(r"\b((?:" + "|".join(re.escape(k) for k in sorted(keys, key=len, reverse=True)) +
                             r")-\d+)\b")
        parts, at = [], 0
        for match in pattern.finditer(text):
            if match.start() > at:
                parts.append((text[at:match.start()], None))
            parts.append((match.group(1), match.group(1)))
            at = match.end()
        if at < len(text):
            parts.append((text[at:], None))
        return parts

    @staticmethod
    def warning(item) -> str:
        if isinstance(item, dict):
            return str(item.get("message") or item.get("text") or item)
        return str(item)

    def credential_status(self, view: dict) -> str:
        """The Credentials page's one-line status of the stored pair, after its lozenge (never repeating it)."""
        if not view.get("configured"):
            return "Not configured: backups skip all Xray data until credentials are stored."
        status = view.get("status")
        if status == "connected":
            n = view.get("testsVisible")
            visible = "" if n is None else f"{plural(n, 'test')} visible, "
            return f"{visible}verified {self.relative(view.get('verifiedAt'))}"
        if status == "rejected":
            return "Xray rejected them at the last test"
        return "Xray could not be reached to check them"

    @staticmethod
    def person(account_id: str | None, me: str | None, names: dict[str, str]) -> str:
        """`you`, another admin's display name, or words that never show a raw account id."""
        if not account_id:
            return "an unknown user"
        if account_id == me:
            return "you"
        return names.get(account_id) or "another administrator"

    def credential_stored(self, view: dict, account_id: str | None) -> str:
        """`Stored 28 Nov 2026, 06:00 UTC by you`."""
        if not view.get("configured"):
            return ""
        who = view.get("updatedBy")
        names = {who: view["updatedByName"]} if who and view.get("updatedByName") else {}
        by = f" by {self.person(who, account_id, names)}" if who else ""
        return f"Stored {format_time(view.get('updatedAt'))}{by}"
