"""Retention deletes whole snapshots only after the run record says so, and never the newest one."""
from __future__ import annotations

from datetime import timedelta

import pytest

from app.services import current_services, services_of
from app.backups.lifecycle.retention import apply_retention, snapshots_to_delete


from tests.support.queue import T0, add_snapshot, add_tenant, get_run

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
