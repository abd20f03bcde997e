"""Full or incremental: the pure rule, the age rule, and which snapshot a run builds on."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from app.backups.runs.parents import FULL, INCREMENTAL, choose_kind, find_parent, plan_backup
from app.backups.schedule.rules import full_backup_due
from app.extensions import db
from app.models import BackupRun, new_id

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("requested,parent,due,expected", [
    (True, True, False, (FULL, "a full backup was requested")),
    (False, False, False, (FULL, "there is no earlier snapshot to build on")),
    (False, True, True, (FULL, "a full backup is taken every 7 days")),
    (False, True, False, (INCREMENTAL, None)),
])
def test_the_first_matching_rule_decides(requested, parent, due, expected):
    assert choose_kind(full_requested=requested, has_parent=parent, full_due=due, full_every_days=7) == expected


def test_full_every_days_counts_from_the_last_full_start_with_an_hour_of_slack():
    last = NOW - timedelta(days=7)
    assert full_backup_due(7, last + timedelta(seconds=30), NOW)  # today's run started a little earlier
    assert not full_backup_due(7, last + timedelta(hours=2), NOW)
    assert not full_backup_due(None, last - timedelta(days=400), NOW)  # null: never by age
    assert full_backup_due(None, None, NOW)  # no full snapshot at all


def _run(tenant_id, *, started, trigger="manual", status="succeeded", kind="full", deleted=False):
    run = BackupRun(id=new_id(), tenant_id=tenant_id, status=status, trigger=trigger, queued_at=started,
                    started_at=started, first_started_at=started, kind=kind, attempts=1,
                    snapshot_key=f"tenants/x/{started.timestamp()}", deleted_at=NOW if deleted else None)
    db.session.add(run)
    db.session.commit()
    return run


def test_the_parent_is_the_newest_kept_succeeded_snapshot_never_an_imported_one(app, tenant):
    with app.app_context():
        older = _run(tenant.id, started=NOW - timedelta(days=3))
        newest = _run(tenant.id, started=NOW - timedelta(days=2), kind="incremental")
        _run(tenant.id, started=NOW - timedelta(days=1), trigger="imported")
        _run(tenant.id, started=NOW - timedelta(hours=12), kind="incremental", deleted=True)
        _run(tenant.id, started=NOW - timedelta(hours=6), status="failed")
        current = _run(tenant.id, started=NOW, status="running", kind=None)
        assert find_parent(tenant.id, current.id).id == newest.id
        plan = plan_backup(current, NOW)
        assert plan.kind == INCREMENTAL and plan.parent.id == newest.id  # the last full one is 3 days old
        older.first_started_at = older.started_at = NOW - timedelta(days=8)
        db.session.commit()
        assert plan_backup(current, NOW).kind == FULL
