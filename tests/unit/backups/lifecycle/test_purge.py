"""The uninstall grace purge: snapshots deleted, data key shredded, rows dropped; a reinstall cancels it."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.services import current_services, services_of
from app.backups.lifecycle.purge import purge_due

from app.extensions import db
from app.models import BackupRun, BackupSettings, Tenant, TenantDataKey

from tests.support.queue import T0, add_snapshot, add_tenant

DAY = timedelta(days=1)


@pytest.fixture
def store(db_app):
    return services_of(db_app).store


def uninstall(app, tenant_id, purge_after):
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        tenant.installed, tenant.uninstalled_at, tenant.purge_after = False, T0 - 30 * DAY, purge_after
        db.session.commit()


def rows(app, model, tenant_id):
    with app.app_context():
        return db.session.scalars(db.select(model).filter_by(tenant_id=tenant_id)).all()


def test_a_tenant_past_its_grace_period_is_purged_everywhere(db_app, tmp_path, store):
    gone = add_tenant(db_app, "gone", settings={"next_run_at": T0})
    kept = add_tenant(db_app, "kept", settings={"next_run_at": T0})
    for age in (1, 2):
        add_snapshot(db_app, gone, T0 - age * DAY - 30 * DAY, tmp_path, store)
    add_snapshot(db_app, kept, T0 - DAY, tmp_path, store)
    uninstall(db_app, gone, T0 - timedelta(minutes=1))
    with db_app.app_context():
        assert purge_due(T0, store) == 1
        assert db.session.get(Tenant, gone) is None
    assert store.list_snapshots("gone") == []
    assert rows(db_app, TenantDataKey, gone) == [] and rows(db_app, BackupRun, gone) == []
    assert rows(db_app, BackupSettings, gone) == []
    assert len(store.list_snapshots("kept")) == 1 and len(rows(db_app, TenantDataKey, kept)) == 1
    with db_app.app_context():
        assert purge_due(T0 + DAY, store) == 0


def test_nothing_is_purged_before_the_grace_period_ends(db_app, tmp_path, store):
    tid = add_tenant(db_app, "leaving")
    add_snapshot(db_app, tid, T0 - DAY, tmp_path, store)
    uninstall(db_app, tid, T0 + timedelta(minutes=1))
    with db_app.app_context():
        assert purge_due(T0, store) == 0
    assert len(store.list_snapshots("leaving")) == 1 and len(rows(db_app, TenantDataKey, tid)) == 1


def test_a_reinstall_cancels_the_purge(db_app, tmp_path, store):
    tid = add_tenant(db_app, "back")
    add_snapshot(db_app, tid, T0 - DAY, tmp_path, store)
    uninstall(db_app, tid, T0 - DAY)
    with db_app.app_context():  # the reinstall clears purge_after
        tenant = db.session.get(Tenant, tid)
        tenant.installed, tenant.purge_after = True, None
        db.session.commit()
        assert purge_due(T0, store) == 0
    assert len(store.list_snapshots("back")) == 1 and len(rows(db_app, TenantDataKey, tid)) == 1


def test_a_storage_outage_during_a_purge_is_retried_later(db_app, tmp_path, store):
    tid = add_tenant(db_app, "gone")
    add_snapshot(db_app, tid, T0 - DAY, tmp_path, store)
    uninstall(db_app, tid, T0 - DAY)

    class Down:
        def delete(self, key):
            raise OSError("down")

        def delete_tenant(self, key):
            raise OSError("down")

    with db_app.app_context():
        assert purge_due(T0, Down()) == 0
        assert db.session.get(Tenant, tid) is not None
        assert len(rows(db_app, TenantDataKey, tid)) == 1
        assert purge_due(T0, store) == 1
    assert store.list_snapshots("gone") == []
