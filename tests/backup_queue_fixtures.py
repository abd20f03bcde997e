"""Helpers for the scheduling tests: tenants and settings written straight into a test app's database."""
from __future__ import annotations

from datetime import datetime, timezone

from app.extensions import db
from app.models import BackupRun, BackupSettings, Tenant

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)


def add_tenant(app, key: str, *, installed: bool = True, enabled: bool = True, settings: dict | None = None,
               now: datetime = T0) -> int:
    """Insert a tenant (and, when given, its backup settings); return its id."""
    with app.app_context():
        tenant = Tenant(client_key=key, shared_secret_enc="sealed", base_url=f"https://{key}.atlassian.net",
                        installed=installed, enabled=enabled, installed_at=now, updated_at=now)
        db.session.add(tenant)
        db.session.flush()
        if settings is not None:
            values = dict(enabled=True, frequency="daily", time_of_day="12:00", retention_days=30, updated_at=now)
            values.update(settings)
            db.session.add(BackupSettings(tenant_id=tenant.id, **values))
        db.session.commit()
        return tenant.id


def runs(app, **filters) -> list[BackupRun]:
    with app.app_context():
        query = db.select(BackupRun).filter_by(**filters).order_by(BackupRun.queued_at, BackupRun.id)
        found = db.session.scalars(query).all()
        db.session.expunge_all()
        return found


def get_run(app, run_id: str) -> BackupRun:
    with app.app_context():
        run = db.session.get(BackupRun, run_id)
        db.session.expunge_all()
        return run


def get_settings(app, tenant_id: int) -> BackupSettings:
    with app.app_context():
        settings = db.session.get(BackupSettings, tenant_id)
        db.session.expunge_all()
        return settings
