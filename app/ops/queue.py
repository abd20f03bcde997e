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


def backup_entries(session, now: datetime) -> list[QueueEntry]:
    """Queued and running backup runs, oldest first."""
    rows = session.execute(
        select(BackupRun, Tenant.base_url).join(Tenant, Tenant.id == BackupRun.tenant_id)
        .where(BackupRun.status.in_(("queued", "running"))).order_by(BackupRun.queued_at, BackupRun.id)
    ).all()
    return [QueueEntry("backup", run.id, run.tenant_id, urlsplit(base_url).hostname or base_url,
                       _status(run.status, run.lease_expires_at, now), run.trigger, run.queued_at, run.started_at,
                       run.attempts or 0, run.worker_id, run.lease_expires_at)
            for run, base_url in rows]


def restore_entries(session, now: datetime) -> list[QueueEntry]:
    """Queued and running restores (and dry runs), oldest first; their trigger says which."""
    rows = session.execute(
        select(Restore, Tenant.base_url).join(Tenant, Tenant.id == Restore.tenant_id)
        .where(Restore.status.in_(("queued", "running"))).order_by(Restore.queued_at, Restore.id)
    ).all()
    return [QueueEntry("restore", job.id, job.tenant_id, urlsplit(base_url).hostname or base_url,
                       _status(job.status, job.lease_expires_at, now), "dry run" if job.dry_run else "restore",
                       job.queued_at, job.started_at, job.attempts or 0, job.worker_id, job.lease_expires_at)
            for job, base_url in rows]


QueueSource = Callable[[object, datetime], list[QueueEntry]]
_SOURCES: list[QueueSource] = [backup_entries, restore_entries]


def register_queue_source(source: QueueSource) -> None:
    """Add a kind of queued job (the restore engine registers its restores)."""
    if source not in _SOURCES:
        _SOURCES.append(source)


def queue_entries(session, now: datetime) -> list[QueueEntry]:
    """Every queued, running and stuck job of every kind, oldest first."""
    entries = [entry for source in _SOURCES for entry in source(session, now)]
    return sorted(entries, key=lambda entry: (entry.queued_at, entry.id))
