"""Retention deletes whole snapshots only after the run record says so, and never the newest one."""
from __future__ import annotations

import os
from datetime import timedelta

import pytest

from app.backups.lifecycle.datakeys import data_key_for
from app.backups.lifecycle.retention import apply_retention, snapshots_to_delete, sweep_unreferenced
from app.backups.store.envelope import encrypted_size
from app.crypto import tenant_hash
from app.extensions import db
from app.models import BackupRun, Tenant, new_id, utcnow
from app.services import current_services, services_of
from tests.support.queue import T0, add_snapshot, add_tenant, get_run
from tests.support.storage import write_snapshot_folder

DAY = timedelta(days=1)


def test_the_rule_keeps_what_any_setting_keeps_and_always_the_newest():
    snaps = [(f"r{age}", T0 - age * DAY) for age in (1, 3, 10, 20, 40)]
    assert snapshots_to_delete(snaps, 7, None, T0) == ["r10", "r20", "r40"]
    assert snapshots_to_delete(snaps, None, 2, T0) == ["r10", "r20", "r40"]
    assert snapshots_to_delete(snaps, 7, 4, T0) == ["r40"]
    assert snapshots_to_delete(snaps, 1, None, T0 + 5 * DAY) == ["r3", "r10", "r20", "r40"]
    assert snapshots_to_delete([("only", T0 - 400 * DAY)], 30, None, T0) == []
    assert snapshots_to_delete(snaps, None, None, T0) == []


@pytest.fixture
def store(app):
    return services_of(app).store


def make_history(app, tmp_path, store, ages, **settings):
    tid = add_tenant(app, "site", settings={"next_run_at": T0 + DAY, **settings})
    return tid, {age: add_snapshot(app, tid, T0 - age * DAY, tmp_path, store) for age in ages}


def test_snapshots_past_the_retention_days_are_deleted_and_recorded(app, tmp_path, store):
    _, run_ids = make_history(app, tmp_path, store, (1, 3, 10, 20), retention_days=7)
    with app.app_context():
        assert apply_retention(T0, store) == 2
    for age, run_id in run_ids.items():
        run = get_run(app, run_id)
        if age > 7:
            assert run.deleted_at == T0 and run.snapshot_key is None
        else:
            assert run.deleted_at is None and store.exists(run.snapshot_key)
    assert len(store.list_snapshots("site")) == 2
    with app.app_context():
        assert apply_retention(T0, store) == 0


def test_the_newest_succeeded_snapshot_survives_any_retention(app, tmp_path, store):
    _, run_ids = make_history(app, tmp_path, store, (40, 50, 60), retention_days=30)
    with app.app_context():
        assert apply_retention(T0, store) == 2
    assert store.list_snapshots("site") == [get_run(app, run_ids[40]).snapshot_key]


def test_keep_last_n_snapshots(app, tmp_path, store):
    _, run_ids = make_history(app, tmp_path, store, (1, 2, 3, 4), retention_days=None, retention_count=2)
    with app.app_context():
        assert apply_retention(T0, store) == 2
    assert sorted(store.list_snapshots("site")) == sorted(get_run(app, run_ids[a]).snapshot_key for a in (1, 2))


def test_a_succeeded_run_applies_its_tenants_retention_at_once_and_no_other_tenants(app, tmp_path, store):
    _, run_ids = make_history(app, tmp_path, store, (1, 2, 3), retention_days=None, retention_count=1)
    other = add_tenant(app, "other", settings={"next_run_at": T0 + DAY, "retention_days": None, "retention_count": 1})
    others = [add_snapshot(app, other, T0 - age * DAY, tmp_path, store) for age in (1, 2)]
    with app.app_context():
        services_of(app).run_ended(run_ids[1])
    assert store.list_snapshots("site") == [get_run(app, run_ids[1]).snapshot_key]
    assert all(get_run(app, r).deleted_at is None for r in others)  # the hourly pass handles other sites
    with app.app_context():
        failed = get_run(app, others[0])
        db.session.execute(BackupRun.__table__.update().where(BackupRun.id == failed.id).values(status="failed"))
        db.session.commit()
        services_of(app).run_ended(others[0])  # a run that did not succeed triggers nothing
    assert all(get_run(app, r).deleted_at is None for r in others)


class BrokenStore:
    def __init__(self, real):
        self.real = real

    def delete(self, key):
        raise OSError("storage is down")


def test_a_storage_outage_leaves_the_run_marked_and_the_next_pass_finishes(app, tmp_path, store):
    _, run_ids = make_history(app, tmp_path, store, (1, 20), retention_days=7)
    old = run_ids[20]
    key = get_run(app, old).snapshot_key
    with app.app_context():
        assert apply_retention(T0, BrokenStore(store)) == 1
    run = get_run(app, old)
    # The record says deleted before storage does: never a run pointing at nothing unrecorded.
    assert run.deleted_at == T0 and run.snapshot_key == key and store.exists(key)
    with app.app_context():
        apply_retention(T0 + timedelta(hours=1), store)
    assert get_run(app, old).snapshot_key is None and not store.exists(key)
    assert get_run(app, old).deleted_at == T0


def test_uninstalled_tenants_keep_their_snapshots_during_the_grace_period(app, tmp_path, store):
    from app.extensions import db
    from app.models import Tenant

    tid, _ = make_history(app, tmp_path, store, (10, 20), retention_days=1)
    with app.app_context():
        db.session.get(Tenant, tid).installed = False
        db.session.commit()
        assert apply_retention(T0, store) == 0
    assert len(store.list_snapshots("site")) == 2


def test_retention_sweeps_what_only_deleted_snapshots_referenced_and_keeps_every_kept_snapshot_whole(
        app, tmp_path, store):
    tid = add_tenant(app, "site", settings={"next_run_at": T0 + DAY, "retention_days": 7})
    with app.app_context():
        sealer = current_services().sealer
        data_key = data_key_for(db.session.get(Tenant, tid), T0, sealer)
    gone, kept = os.urandom(20_000), os.urandom(30_000)
    old = publish_run(app, tid, store, data_key, tmp_path / "old", T0 - 20 * DAY, {"a1": gone, "a2": kept})
    new = publish_run(app, tid, store, data_key, tmp_path / "new", T0 - DAY, {"a2": kept}, parent=old)
    blobs = f"tenants/{tenant_hash('site')}/objects/blobs/"
    assert len(list(store.backend.list(blobs))) == 2
    with app.app_context():
        # Objects of a publish under way are younger than the grace: an early pass frees nothing yet.
        assert apply_retention(T0, store, sealer) == 1
    assert len(list(store.backend.list(blobs))) == 2
    with app.app_context():
        swept = sweep_unreferenced(T0, store, sealer, older_than=utcnow() + timedelta(seconds=5))
    assert swept == (1, encrypted_size(20_000))
    assert len(list(store.backend.list(blobs))) == 1
    files = {p: b"".join(c) for p, c in store.iter_files(get_run(app, new).snapshot_key, data_key)}
    assert files["attachments/a2"] == kept and "attachments/a1" not in files


def publish_run(app, tenant_id, store, data_key, folder, finished_at, attachments, parent=None) -> str:
    """A succeeded run whose snapshot holds these attachments (and a parent to share with); return its id."""
    write_snapshot_folder(folder, {"manifest.json": b"{}", **{f"attachments/{k}": v for k, v in attachments.items()}})
    run_id = new_id()
    parent_key = get_run(app, parent).snapshot_key if parent else None
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        key = store.publish(tenant.client_key, run_id, folder, data_key, parent_key=parent_key)
        db.session.add(BackupRun(id=run_id, tenant_id=tenant_id, status="succeeded", trigger="scheduled",
                                 slot_at=finished_at, queued_at=finished_at, started_at=finished_at,
                                 finished_at=finished_at, snapshot_key=key))
        db.session.commit()
    return run_id
