"""Gather what the rules need about one tenant's backups from the database (the I/O half of app/alerts/rules.py)."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select

from ..backups.schedule import rules as schedule_rules
from ..backups.schedule.settings import settings_for
from ..extensions import db
from ..models import BackupRun, CredentialAudit, Tenant, XrayCredential
from .rules import Facts, RunFact

ENDED = ("succeeded", "failed", "skipped")


def gather(tenant: Tenant, now: datetime) -> Facts:
    """The facts about `tenant` at `now`."""
    settings = settings_for(tenant, now)
    enabled = bool(settings.enabled)
    has_credentials = db.session.scalar(
        select(func.count()).select_from(XrayCredential).where(XrayCredential.tenant_id == tenant.id)) > 0
    removed_at = db.session.scalar(select(func.max(CredentialAudit.at)).where(
        CredentialAudit.tenant_id == tenant.id, CredentialAudit.action == "removed"))
    expected_since = max(d for d in (tenant.installed_at, removed_at) if d is not None)
    return Facts(
        now=now,
        has_credentials=has_credentials,
        schedule_enabled=enabled,
        interval=timedelta(hours=schedule_rules.STEP_HOURS[settings.frequency]) if enabled else None,
        expected_since=expected_since,
        last_slot=schedule_rules.last_slot_at_or_before(settings, now) if enabled else None,
        last_run=_run_fact(last_ended_run(tenant)),
        last_success_at=last_success_at(tenant),
    )


def _counted(tenant: Tenant):
    # Imported snapshots say nothing about whether backups run.
    return (BackupRun.tenant_id == tenant.id, BackupRun.trigger != "imported")


def last_ended_run(tenant: Tenant) -> BackupRun | None:
    return db.session.scalars(
        select(BackupRun).where(*_counted(tenant), BackupRun.status.in_(ENDED))
        .order_by(BackupRun.finished_at.desc(), BackupRun.id.desc()).limit(1)).first()


def last_success_at(tenant: Tenant) -> datetime | None:
    return db.session.scalar(select(func.max(BackupRun.finished_at)).where(
        *_counted(tenant), BackupRun.status == "succeeded"))


def _run_fact(run: BackupRun | None) -> RunFact | None:
    if run is None:
        return None
    return RunFact(id=run.id, status=run.status, trigger=run.trigger, finished_at=run.finished_at,
                   reason=run.reason, warnings=len(run.warnings or []), message=run.message)
