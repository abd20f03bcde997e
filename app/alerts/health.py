"""`GET /api/backup-health`: what the top of the Backups page shows, from the facts and the rules."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select

from ..backups.runs.history import run_json
from ..backups.schedule.settings import get_settings
from ..extensions import db
from ..models import BackupRun, Tenant
from ..presentation import iso
from .facts import gather
from .rules import assess


def backup_health(tenant: Tenant, now: datetime) -> dict:
    """The tenant's backup health in the contract's shape."""
    assessment = assess(gather(tenant, now))
    newest = db.session.scalars(select(BackupRun).where(BackupRun.tenant_id == tenant.id)
                                .order_by(BackupRun.queued_at.desc(), BackupRun.id.desc()).limit(1)).first()
    covered = db.session.scalars(
        select(BackupRun).where(BackupRun.tenant_id == tenant.id, BackupRun.status == "succeeded",
                                BackupRun.projects.is_not(None))
        .order_by(BackupRun.finished_at.desc()).limit(1)).first()
    last_success = db.session.scalar(select(func.max(BackupRun.finished_at)).where(
        BackupRun.tenant_id == tenant.id, BackupRun.status == "succeeded", BackupRun.trigger != "imported"))
    # Snapshots share what did not change: each kept run counts what it added (older runs: their whole size).
    stored = db.session.scalar(select(func.coalesce(func.sum(func.coalesce(BackupRun.stored_bytes, BackupRun.bytes)),
                                                    0)).where(
        BackupRun.tenant_id == tenant.id, BackupRun.status == "succeeded", BackupRun.snapshot_key.is_not(None),
        BackupRun.deleted_at.is_(None)))
    return {
        "state": assessment.state,
        "message": assessment.message,
        "lastSuccessAt": iso(last_success),
        "lastRun": run_json(newest) if newest is not None else None,
        "nextRunAt": get_settings(tenant, now)["nextRunAt"],
        "projects": [{"key": p.get("key"), "name": p.get("name")} for p in (covered.projects if covered else [])],
        "storedBytes": int(stored or 0),
    }
