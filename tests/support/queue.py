"""Helpers for the scheduling tests: tenants and settings written straight into a test app's database."""
from __future__ import annotations

from datetime import datetime, timezone

from app.backups.lifecycle.datakeys import data_key_for
from app.extensions import db
from app.services import current_services
from app.models import BackupRun, BackupSettings, Tenant, XrayCredential, new_id

T0 = datetime(2026, 3, 10, 12, 0, tzinfo=timezone.utc)


def add_tenant(app, key: str, *, installed: bool = True, enabled: bool = True, settings: dict | None = None,
               now: datetime = T0, credentials: bool = True) -> int:
    """Insert a tenant (with Xray credentials unless told otherwise, and its backup settings when given)."""
    with app.app_context():
        tenant = Tenant(client_key=key, shared_secret_enc="sealed", base_url=f"https://{key}.atlassian.net",
                        installed=installed, enabled=enabled, installed_at=now, updated_at=now)
        db.session.add(tenant)
        db.session.flush()
        if credentials:  # scheduled runs are queued only for tenants with credentials
            db.session.add(XrayCredential(tenant_id=tenant.id, client_id="client", client_secret_enc="sealed",
                                          region="global", status="connected", updated_at=now))
        if settings is not None:
            values = dict(enabled=True, frequency="daily", time_of_day="12:00", retention_days=30, updated_at=now)
            values.update(settings)
            # A Core insert: the ORM would replace an explicit None with the column default.
            db.session.execute(db.insert(BackupSettings).values(tenant_id=tenant.id, **values))
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


def add_snapshot(app, tenant_id: int, finished_at: datetime, tmp_path, store) -> str:
    """A succeeded run with a real snapshot published in `store`; return the run id."""
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        run_id = new_id()
        local = tmp_path / f"snap-{run_id}"
        local.mkdir()
        (local / "manifest.json").write_text('{"format": "xray-backup/1"}')
        key = store.publish(tenant.client_key, run_id, local, data_key_for(tenant, finished_at, current_services().sealer))
        db.session.add(BackupRun(id=run_id, tenant_id=tenant_id, status="succeeded", trigger="scheduled",
                                 slot_at=finished_at, queued_at=finished_at, started_at=finished_at,
                                 finished_at=finished_at, snapshot_key=key))
        db.session.commit()
        return run_id
