"""Backup settings use-cases: defaults for new tenants, read, validated update with a recomputed next run."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from ...errors import BadRequest, ValidationFailed
from ...extensions import db, insert_ignoring_conflict
from ...models import BackupSettings, Tenant
from ...presentation import iso
from . import rules

DEFAULT_RETENTION_DAYS = 30


def default_settings(tenant: Tenant, now: datetime) -> BackupSettings:
    """Enabled, daily at the tenant's spread time, keep 30 days, a full backup every 7 days."""
    settings = BackupSettings(
        tenant_id=tenant.id,
        enabled=True,
        frequency="daily",
        time_of_day=rules.default_time_for(tenant.client_key),
        day_of_week=None,
        retention_days=DEFAULT_RETENTION_DAYS,
        retention_count=None,
        full_every_days=rules.DEFAULT_FULL_EVERY_DAYS,
        updated_at=now,
    )
    settings.next_run_at = rules.next_slot(settings, now)
    return settings


def settings_for(tenant: Tenant, now: datetime) -> BackupSettings:
    """The tenant's settings, created with the defaults on first use."""
    settings = db.session.get(BackupSettings, tenant.id)
    if settings is None:
        _insert_ignoring_conflict([_row(default_settings(tenant, now))])
        db.session.commit()
        settings = db.session.get(BackupSettings, tenant.id)
    return settings


def create_missing_settings(now: datetime) -> int:
    """Give every installed tenant without settings the defaults (so new tenants get scheduled)."""
    missing = db.session.execute(
        select(Tenant.id, Tenant.client_key)
        .outerjoin(BackupSettings, BackupSettings.tenant_id == Tenant.id)
        .where(BackupSettings.tenant_id.is_(None), Tenant.installed.is_(True))
        .order_by(Tenant.id)  # the same insert order in every process: concurrent schedulers cannot deadlock
    ).all()
    if not missing:
        return 0
    rows = [_row(default_settings(Tenant(id=tid, client_key=key), now)) for tid, key in missing]
    _insert_ignoring_conflict(rows)
    db.session.commit()
    return len(rows)


def settings_json(settings: BackupSettings) -> dict:
    """The API shape of the settings."""
    return {
        "enabled": settings.enabled,
        "frequency": settings.frequency,
        "timeOfDay": settings.time_of_day,
        "dayOfWeek": settings.day_of_week,
        "retentionDays": settings.retention_days,
        "retentionCount": settings.retention_count,
        "fullEveryDays": settings.full_every_days,
        "nextRunAt": iso(settings.next_run_at) if settings.enabled else None,
    }


def get_settings(tenant: Tenant, now: datetime) -> dict:
    """GET /api/backup-settings."""
    return settings_json(settings_for(tenant, now))


def update_settings(tenant: Tenant, body, now: datetime) -> dict:
    """PUT /api/backup-settings: merge, validate (422 with fields), store, recompute the next run."""
    if not isinstance(body, dict):
        raise BadRequest("The request body must be a JSON object.")
    settings = settings_for(tenant, now)
    merged = {**settings_json(settings), **body}
    if merged["frequency"] != "weekly" and "dayOfWeek" not in body:
        merged["dayOfWeek"] = None
    fields = {**rules.unknown_fields(body), **rules.validate_settings(merged)}
    if fields:
        raise ValidationFailed("Some settings are invalid.", fields=fields)
    settings.enabled = merged["enabled"]
    settings.frequency = merged["frequency"]
    settings.time_of_day = merged["timeOfDay"]
    settings.day_of_week = merged["dayOfWeek"] if merged["frequency"] == "weekly" else None
    settings.retention_days = merged["retentionDays"]
    settings.retention_count = merged["retentionCount"]
    settings.full_every_days = merged["fullEveryDays"]
    settings.next_run_at = rules.next_slot(settings, now)
    settings.updated_at = now
    db.session.commit()
    return settings_json(settings)


def _row(settings: BackupSettings) -> dict:
    return {
        column: getattr(settings, column)
        for column in (
            "tenant_id", "enabled", "frequency", "time_of_day", "day_of_week",
            "retention_days", "retention_count", "full_every_days", "next_run_at", "updated_at",
        )
    }


def _insert_ignoring_conflict(rows: list[dict]) -> None:
    # Two processes may create the same tenant's defaults at once: the primary key keeps the first.
    db.session.execute(insert_ignoring_conflict(BackupSettings, rows))
