"""The restore queue: served by the backup worker pool first, with the same lease, takeover and settling."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest

from app.backups.runs.status import RetryPolicy, RunOutcome, RunStatus
from app.backups.runs.worker import WorkerPool
from app.extensions import db
from app.models import BackupRun, utcnow
from app.restore.jobs import (RestoreAlreadyActive, claim_next_restore, enqueue_restore, settle_restore,
                              take_over_expired_restores)
from app.restore.models import Restore
from app.restore.queue import RestoreQueue
from app.services import services_of
from tests.support.queue import add_tenant


def queue_restore(app, key: str = "site") -> str:
    tenant_id = add_tenant(app, key)
    with app.app_context():
        now = utcnow()
        run = BackupRun(tenant_id=tenant_id, status="succeeded", trigger="manual", queued_at=now, finished_at=now)
        db.session.add(run)
        db.session.commit()
        tenant = run.tenant
        restore = enqueue_restore(tenant, run.id, now, targets={"A": {"id": "1", "key": "A"}}, issue_keys=None,
                                  dry_run=False, requested_by="admin")
        with pytest.raises(RestoreAlreadyActive):
            enqueue_restore(tenant, run.id, now, targets={}, issue_keys=None, dry_run=True, requested_by=None)
        return restore.id


def restore_row(app, restore_id: str) -> Restore:
    with app.app_context():
        row = db.session.get(Restore, restore_id)
        db.session.expunge(row)
        return row


def wait_for(condition, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def test_the_pool_serves_a_queued_restore_under_a_lease_and_records_its_outcome(app):
    restore_id = queue_restore(app)
    seen = []

    def execute(job_id, *, now, still_owner):
        seen.append((job_id, still_owner(), restore_row(app, job_id).status))
        return RunOutcome(RunStatus.SUCCEEDED, "Restored: 3 item(s) created.", {"counts": {"tests": 3}})

    queue = RestoreQueue(app, services_of(app), execute=execute)
    pool = WorkerPool(app, services_of(app), workers=1, lease_seconds=2, poll_interval=0.05, restores=queue).start()
    try:
        assert wait_for(lambda: restore_row(app, restore_id).status == "succeeded")
    finally:
        pool.stop(timeout=5)
    assert seen == [(restore_id, True, "running")]
    row = restore_row(app, restore_id)
    assert row.counts == {"tests": 3} and row.message.startswith("Restored") and row.attempts == 1


def test_an_outage_queues_the_restore_again_to_resume_and_gives_up_after_its_attempts(app):
    restore_id = queue_restore(app)
    retry = RetryPolicy(delay=0, max_attempts=2)
    with app.app_context():
        for attempt in (1, 2):
            assert claim_next_restore(f"w{attempt}", utcnow(), 60, retry=retry) == restore_id
            status = settle_restore(restore_id, f"w{attempt}", utcnow(),
                                    RunOutcome.failed("Xray was unavailable.", retryable=True), retry)
            assert status == ("queued" if attempt == 1 else "failed")
    row = restore_row(app, restore_id)
    assert row.attempts == 2 and "Gave up after 2 attempts" in row.message


def test_a_restore_whose_worker_stopped_heartbeating_is_taken_over(app):
    restore_id = queue_restore(app)
    with app.app_context():
        claim_next_restore("dead-worker", utcnow() - timedelta(minutes=5), 60)
        assert settle_restore(restore_id, "someone-else", utcnow(), RunOutcome(RunStatus.SUCCEEDED)) is None
        assert take_over_expired_restores(utcnow()) == 1
    row = restore_row(app, restore_id)
    assert row.status == "queued" and "queued again to resume" in row.message
    with app.app_context():
        assert claim_next_restore("next-worker", utcnow(), 60) == restore_id
    assert restore_row(app, restore_id).attempts == 2


def test_a_restore_that_ends_is_counted_once_and_logged_and_a_resumable_attempt_is_not_counted(app, caplog):
    from app.ops import metrics
    from app.restore.queue import log_finished

    restore_id = queue_restore(app)
    retry = RetryPolicy(delay=0, max_attempts=3)
    with app.app_context(), caplog.at_level("INFO"):
        claim_next_restore("w1", utcnow(), 60, retry=retry)
        log_finished(restore_id, settle_restore(restore_id, "w1", utcnow(),
                                                RunOutcome.failed("Xray was unavailable.", retryable=True), retry))
        claim_next_restore("w2", utcnow(), 60, retry=retry)
        log_finished(restore_id, settle_restore(restore_id, "w2", utcnow(), RunOutcome(
            RunStatus.SUCCEEDED, "Restored: 3 item(s) created.", {"counts": {"tests": 3}, "requests": 7}), retry))
        counters = metrics.read_scrape(db.session, utcnow()).counters
    assert counters.get((metrics.RESTORES, 'status="succeeded"')) == 1.0
    assert (metrics.RESTORES, 'status="failed"') not in counters and (metrics.RESTORES, 'status="queued"') not in counters
    events = [(r.levelname, getattr(r, "event", None)) for r in caplog.records if r.name in ("app.runs", "app.restore.queue")]
    assert events == [("WARNING", "restore_attempt_failed"), ("INFO", "restore_finished")]
    finished = next(r for r in caplog.records if getattr(r, "event", None) == "restore_finished")
    assert (finished.restore_id, finished.status, finished.counts, finished.requests) == (restore_id, "succeeded",
                                                                                          {"tests": 3}, 7)
