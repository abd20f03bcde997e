"""The queue as an operator sees it: what waits, what runs, what is stuck (its worker stopped heartbeating).

One read model over every kind of queued job: backup runs and restores (both queues work the same way: a
lease, heartbeats, takeovers). Another kind of job adds its own source with `register_queue_source`.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable
from urllib.parse import urlsplit

from sqlalchemy import select

from ..models import BackupRun, Tenant
from ..restore.models import Restore


@dataclass(frozen=True)
class QueueEntry:
    job: str                  # "backup", "restore"
    id: str
    tenant_id: int
    site: str                 # the Jira site's host, for the operator
    status: str               # "queued", "running", "stuck" (running, lease expired)
    trigger: str | None
    queued_at: datetime
    started_at: datetime | None
    attempts: int
    worker_id: str | None
    lease_expires_at: datetime | None  # running: when the lease ends; queued: "not before" of a retry

    def age(self, now: datetime) -> float:
        return max(0.0, (now - self.queued_at).total_seconds())


def _status(status: str, lease_expires_at: datetime | None, now: datetime) -> str:
    if status == "running" and lease_expires_at is not None and lease_expires_at < now:
        return "stuck"
    return status


def _entries(session, now: datetime, model, job: str, trigger_of: Callable) -> list[QueueEntry]:
    """Queued and running jobs of one table (both queues have the same lease columns), oldest first."""
    rows = session.execute(
        select(model, Tenant.base_url).join(Tenant, Tenant.id == model.tenant_id)
        .where(model.status.in_(("queued", "running"))).order_by(model.queued_at, model.id)
    ).all()
    return [QueueEntry(job, row.id, row.tenant_id, urlsplit(base_url).hostname or base_url,
                       _status(row.status, row.lease_expires_at, now), trigger_of(row), row.queued_at,
                       row.started_at, row.attempts or 0, row.worker_id, row.lease_expires_at)
            for row, base_url in rows]


def backup_entries(session, now: datetime) -> list[QueueEntry]:
    """Queued and running backup runs."""
    return _entries(session, now, BackupRun, "backup", lambda run: run.trigger)


def restore_entries(session, now: datetime) -> list[QueueEntry]:
    """Queued and running restores; the trigger says whether one is a dry run."""
    return _entries(session, now, Restore, "restore", lambda job: "dry run" if job.dry_run else "restore")


QueueSource = Callable[[object, datetime], list[QueueEntry]]
_SOURCES: list[QueueSource] = [backup_entries, restore_entries]


def register_queue_source(source: QueueSource) -> None:
    """Add another kind of queued job."""
    if source not in _SOURCES:
        _SOURCES.append(source)


def queue_entries(session, now: datetime) -> list[QueueEntry]:
    """Every queued, running and stuck job of every kind, oldest first."""
    entries = [entry for source in _SOURCES for entry in source(session, now)]
    return sorted(entries, key=lambda entry: (entry.queued_at, entry.id))
