"""The runs as the API and the Backups page show them (read model): one run's JSON, pages of runs, the chart."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, func, or_, select

from ...errors import NotFound, ValidationFailed
from ...extensions import db
from ...models import BackupRun, Tenant
from ...presentation import iso
from .status import RunStatus

CHART_RUNS = 30


def run_json(run: BackupRun) -> dict:
    """A run as `GET /api/backups` lists it, plus whether its snapshot is still stored.

    `startedAt` is when the first attempt started (one duration across retries); `attemptStartedAt` the current
    attempt's start. A queued run with attempts behind it is `retrying`.
    """
    return {
        "id": run.id,
        "status": run.status,
        "trigger": run.trigger,
        "queuedAt": iso(run.queued_at),
        "startedAt": iso(run.first_started_at or run.started_at),
        "attemptStartedAt": iso(run.started_at),
        "finishedAt": iso(run.finished_at),
        "attempts": run.attempts or 0,
        "retrying": run.status == RunStatus.QUEUED and (run.attempts or 0) > 0,
        "reason": run.reason,
        "detail": run.detail,
        "projects": [{"key": p.get("key"), "name": p.get("name")} for p in run.projects or []],
        "counts": run.counts or {},
        "bytes": run.bytes,
        "message": run.message,
        "warnings": run.warnings or [],
        "progress": run.progress,
        "requests": run.requests,
        # Incremental backups: what the run was, what it built on, what changed, what it added to storage.
        "kind": run.kind,
        "parentId": run.parent_id,
        "changed": run.changed,
        "storedBytes": run.stored_bytes,
        "fullRequested": bool(run.full_requested),
        "downloadable": is_downloadable(run),
    }


def run_details(run: BackupRun) -> dict:
    """One run as `GET /api/backups/<id>` describes it: the list shape plus error text and attempts."""
    return {**run_json(run), "error": run.message if run.status == RunStatus.FAILED else None}


def is_downloadable(run: BackupRun) -> bool:
    return run.status == RunStatus.SUCCEEDED and bool(run.snapshot_key) and run.deleted_at is None


def tenant_run(tenant: Tenant, run_id: str) -> BackupRun:
    """One of the tenant's runs; NotFound for an unknown id or another tenant's run."""
    run = db.session.get(BackupRun, run_id) if isinstance(run_id, str) and 0 < len(run_id) <= 32 else None
    if run is None or run.tenant_id != tenant.id:
        raise NotFound("No backup run with this id.")
    return run


@dataclass(frozen=True)
class RunPage:
    runs: list[dict]
    total: int
    next: str | None  # the id to pass as `before` for the following page


def parse_statuses(raw: str | None) -> tuple[str, ...] | None:
    """`?status=failed,skipped` → ("failed", "skipped"); None for no filter; ValidationFailed naming the field."""
    if not raw:
        return None
    wanted = tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))
    known = [status.value for status in RunStatus]
    unknown = [s for s in wanted if s not in known]
    if unknown or not wanted:
        raise ValidationFailed("Unknown run status in the filter.",
                               fields={"status": "Expected any of: " + ", ".join(known) + " (comma-separated)."})
    return wanted


def list_runs(tenant: Tenant, *, limit: int, offset: int = 0, before: str | None = None,
              statuses: tuple[str, ...] | None = None) -> RunPage:
    """The tenant's runs, newest first: `limit` of them after `offset`, or after the run `before` (keyset);
    only those in `statuses` when given."""
    query = select(BackupRun).where(*_filter(tenant, statuses))
    if before:
        anchor = tenant_run(tenant, before)
        query = query.where(or_(BackupRun.queued_at < anchor.queued_at,
                                and_(BackupRun.queued_at == anchor.queued_at, BackupRun.id < anchor.id)))
    rows = db.session.scalars(query.order_by(BackupRun.queued_at.desc(), BackupRun.id.desc())
                              .limit(limit + 1).offset(offset)).all()
    runs = [run_json(run) for run in rows[:limit]]
    return RunPage(runs, count_runs(tenant, statuses), runs[-1]["id"] if len(rows) > limit else None)


def latest_run(tenant: Tenant) -> BackupRun | None:
    """The tenant's newest run, whatever its status (the first row `GET /api/backups` lists), or None."""
    return db.session.scalars(select(BackupRun).where(BackupRun.tenant_id == tenant.id)
                              .order_by(BackupRun.queued_at.desc(), BackupRun.id.desc()).limit(1)).first()




def _filter(tenant: Tenant, statuses: tuple[str, ...] | None) -> list:
    conditions = [BackupRun.tenant_id == tenant.id]
    if statuses:
        conditions.append(BackupRun.status.in_(statuses))
    return conditions


def count_runs(tenant: Tenant, statuses: tuple[str, ...] | None = None) -> int:
    return db.session.scalar(select(func.count()).select_from(BackupRun).where(*_filter(tenant, statuses)))


def chart_points(tenant: Tenant) -> list[dict]:
    """Size and duration of the last succeeded snapshots, oldest first."""
    rows = db.session.scalars(
        select(BackupRun)
        .where(BackupRun.tenant_id == tenant.id, BackupRun.status == RunStatus.SUCCEEDED,
               BackupRun.started_at.is_not(None))
        .order_by(BackupRun.started_at.desc())
        .limit(CHART_RUNS)
    ).all()
    return [
        {
            "at": iso(run.started_at),
            "bytes": run.bytes or 0,
            "seconds": round((run.finished_at - (run.first_started_at or run.started_at)).total_seconds())
            if run.finished_at else 0,
        }
        for run in reversed(rows)
    ]
