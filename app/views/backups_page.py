"""The Backups admin page: server-rendered with schedule, runs, chart and banner; static/js/backups.js enhances it.

The formatting helpers here have twins in backups.js (live updates re-render rows there); keep them alike.
"""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, g, render_template
from sqlalchemy import func, select

from .. import app_config
from ..extensions import db
from ..models import BackupRun, utcnow

bp = Blueprint("backups_page", __name__)

PAGE_SIZE = 10
CHART_RUNS = 30
FREQUENCY_LABELS = {"daily": "Daily", "every_6h": "Every 6 hours", "every_12h": "Every 12 hours", "weekly": "Weekly"}
DAY_LABELS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
ENTITY_LABELS = {
    "tests": "tests",
    "preconditions": "preconditions",
    "test_sets": "test sets",
    "test_plans": "test plans",
    "test_executions": "test executions",
    "test_runs": "test runs",
    "folders": "folders",
    "project_settings": "project settings",
    "attachments": "attachments",
}
STATUS_LOZENGES = {
    "queued": ("Queued", "default"),
    "running": ("Running", "inprogress"),
    "succeeded": ("Succeeded", "success"),
    "failed": ("Failed", "removed"),
    "skipped": ("Skipped", "moved"),
    "cancelled": ("Cancelled", "default"),
}


@bp.get("/pages/backups")
def backups_page():
    """Render the page so its first HTML already shows schedule, retention, runs and the credentials banner."""
    tenant, now = g.tenant, utcnow()
    runs = recent_runs(tenant, limit=PAGE_SIZE + 1)
    return render_template(
        "backups/page.html",
        settings=settings_json(tenant, now),
        runs=runs[:PAGE_SIZE],
        has_more=len(runs) > PAGE_SIZE,
        page_size=PAGE_SIZE,
        total_runs=count_runs(tenant),
        chart=chart_points(tenant),
        credentials_configured=credentials_configured(tenant),
        credentials_href=credentials_page_href(tenant.base_url, app_config().app_key),
        # tojson sorts object keys: orders travel as lists.
        labels={"frequency": FREQUENCY_LABELS, "days": DAY_LABELS, "entities": ENTITY_LABELS,
                "entityOrder": list(ENTITY_LABELS), "status": STATUS_LOZENGES},
        fmt=Formatters(now),
    )


# ---------------------------------------------------------------- what the page shows (read model)


def settings_json(tenant, now: datetime) -> dict:
    """The tenant's settings in the `GET /api/backup-settings` shape."""
    from ..backups.settings import get_settings

    return get_settings(tenant, now)


def recent_runs(tenant, *, limit: int, offset: int = 0) -> list[dict]:
    """The tenant's runs, newest first, in the `GET /api/backups/<id>` shape."""
    rows = db.session.scalars(
        select(BackupRun)
        .where(BackupRun.tenant_id == tenant.id)
        .order_by(BackupRun.queued_at.desc(), BackupRun.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    return [run_json(run) for run in rows]


def count_runs(tenant) -> int:
    return db.session.scalar(select(func.count()).select_from(BackupRun).where(BackupRun.tenant_id == tenant.id))


def run_json(run: BackupRun) -> dict:
    """A run as `GET /api/backups/<id>` describes it, plus whether its snapshot is still stored."""
    return {
        "id": run.id,
        "status": run.status,
        "trigger": run.trigger,
        "queuedAt": _iso(run.queued_at),
        "startedAt": _iso(run.started_at),
        "finishedAt": _iso(run.finished_at),
        "counts": run.counts or {},
        "bytes": run.bytes,
        "message": run.message,
        "warnings": run.warnings or [],
        "progress": run.progress,
        "downloadable": run.status == "succeeded" and bool(run.snapshot_key) and run.deleted_at is None,
    }


def chart_points(tenant) -> list[dict]:
    """Size and duration of the last succeeded snapshots, oldest first."""
    rows = db.session.scalars(
        select(BackupRun)
        .where(BackupRun.tenant_id == tenant.id, BackupRun.status == "succeeded", BackupRun.started_at.is_not(None))
        .order_by(BackupRun.started_at.desc())
        .limit(CHART_RUNS)
    ).all()
    return [
        {
            "at": _iso(run.started_at),
            "bytes": run.bytes or 0,
            "seconds": round((run.finished_at - run.started_at).total_seconds()) if run.finished_at else 0,
        }
        for run in reversed(rows)
    ]


def credentials_configured(tenant) -> bool:
    from ..credentials import stored_credential

    return stored_credential(tenant) is not None


def credentials_page_href(jira_base_url: str, app_key: str) -> str:
    """Where the Credentials admin page lives in Jira (used when AP.navigator is unavailable)."""
    return f"{jira_base_url.rstrip('/')}/plugins/servlet/ac/{app_key}/xray-credentials"


# ---------------------------------------------------------------- wording (twins in static/js/backups.js)


class Formatters:
    """Format times, durations, sizes and counts for the page, relative to one `now`."""

    def __init__(self, now: datetime):
        self.now = now

    @staticmethod
    def time(iso: str | None) -> str:
        """`28 Nov 2026, 06:00 UTC` (as XB.formatTime writes it)."""
        value = _parse(iso)
        return value.strftime("%d %b %Y, %H:%M UTC") if value else "—"

    def relative(self, iso: str | None) -> str:
        """`in 3 hours`, `5 minutes ago`."""
        value = _parse(iso)
        if value is None:
            return ""
        seconds = (value - self.now).total_seconds()
        text = _amount(abs(seconds))
        if abs(seconds) < 45:
            return "now"
        return f"in {text}" if seconds > 0 else f"{text} ago"

    def elapsed(self, run: dict) -> str:
        """A finished run's duration, or how long a running one has been going."""
        if run["status"] in ("queued", "running"):
            return self.duration(run.get("startedAt"), _iso(self.now)) if run.get("startedAt") else "—"
        return self.duration(run.get("startedAt"), run.get("finishedAt"))

    @staticmethod
    def progress(run: dict) -> str:
        """`Backing up tests in PROJ · 1,200 items so far`."""
        if run["status"] == "queued":
            return "Waiting for a worker…"
        progress = run.get("progress") or {}
        first = f"Backing up {progress['stage']}" if progress.get("stage") else "Backing up…"
        if progress.get("project"):
            first += f" in {progress['project']}"
        parts = [first]
        done = sum(v for v in (progress.get("counts") or {}).values() if isinstance(v, int))
        if done:
            parts.append(f"{done:,} items so far")
        if progress.get("rateLimitWaits"):
            parts.append("pacing for Xray’s rate limit")
        return " · ".join(parts)

    @staticmethod
    def duration(start_iso: str | None, end_iso: str | None) -> str:
        start, end = _parse(start_iso), _parse(end_iso)
        if start is None or end is None:
            return "—"
        seconds = max(0, round((end - start).total_seconds()))
        if seconds < 60:
            return f"{seconds} s"
        if seconds < 3600:
            return f"{seconds // 60} min {seconds % 60} s"
        return f"{seconds // 3600} h {seconds % 3600 // 60} min"

    @staticmethod
    def size(value: int | None) -> str:
        if value is None:
            return "—"
        size, unit = float(value), "bytes"
        for unit in ("bytes", "KB", "MB", "GB", "TB"):
            if size < 1024 or unit == "TB":
                break
            size /= 1024
        return f"{value:,} bytes" if unit == "bytes" else f"{size:.1f} {unit}"

    @staticmethod
    def counts(counts: dict | None) -> list[str]:
        if not counts:
            return []
        ordered = [name for name in ENTITY_LABELS if name in counts] + sorted(set(counts) - set(ENTITY_LABELS))
        return [f"{counts[name]:,} {ENTITY_LABELS.get(name, name.replace('_', ' '))}" for name in ordered]

    @staticmethod
    def warning(item) -> str:
        if isinstance(item, str):
            return item
        if isinstance(item, dict):
            return str(item.get("message") or item.get("text") or item)
        return str(item)


def _amount(seconds: float) -> str:
    for size, name in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = round(seconds / size)
            return f"{n} {name}{'' if n == 1 else 's'}"
    n = round(seconds)
    return f"{n} second{'' if n == 1 else 's'}"


def _parse(iso: str | None) -> datetime | None:
    if not iso:
        return None
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None

