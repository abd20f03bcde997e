"""The worker pool with an injected run function: claims, heartbeats, retries, lost leases, graceful stop."""
from __future__ import annotations

import logging
import threading
import time

from sqlalchemy.exc import OperationalError

from app import create_app
from app.backups.runs import claims, enqueue
from app.backups.runs.status import DEFAULT_RETRY, RetryPolicy, RunOutcome, RunStatus
from app.backups.runs import lease as lease_module
from app.backups.runs.worker import WorkerPool
from app.services import services_of
from app.extensions import db
from app.models import Tenant, utcnow

from tests.support.queue import add_tenant, get_run, runs


def queue_manual(app, key):
    tid = add_tenant(app, key)
    with app.app_context():
        return enqueue.enqueue_manual(db.session.get(Tenant, tid), utcnow()).id


def wait_for(condition, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def succeed(run_id, *, now, still_owner):
    return RunOutcome(RunStatus.SUCCEEDED, "done")


def test_the_pool_runs_every_queued_backup_exactly_once(db_app):
    ids = [queue_manual(db_app, f"site-{i}") for i in range(6)]
    executed, lock = [], threading.Lock()

    def execute(run_id, *, now, still_owner):
        with lock:
            executed.append(run_id)
        assert still_owner()
        time.sleep(0.05)
        return succeed(run_id, now=now, still_owner=still_owner)

    pool = WorkerPool(db_app, services_of(db_app), workers=3, poll_interval=0.05, execute=execute).start()
    try:
        assert wait_for(lambda: all(r.status == "succeeded" for r in runs(db_app)))
    finally:
        pool.stop(timeout=5)
    assert sorted(executed) == sorted(ids)
    assert not pool.running


def test_the_lease_is_renewed_while_a_long_backup_runs(app):
    run_id = queue_manual(app, "site")
    seen = []

    def execute(run_id, *, now, still_owner):
        for _ in range(15):  # 1.5 s: longer than the 1 s lease
            seen.append(still_owner())
            time.sleep(0.1)
        return succeed(run_id, now=now, still_owner=still_owner)

    pool = WorkerPool(app, services_of(app), workers=1, lease_seconds=1, poll_interval=0.05, execute=execute).start()
    try:
        assert wait_for(lambda: get_run(app, run_id).status == "succeeded")
    finally:
        pool.stop(timeout=5)
    assert seen and all(seen)
    assert get_run(app, run_id).attempts == 1


def test_a_worker_that_lost_its_lease_is_told_to_stop_and_records_nothing(app):
    run_id = queue_manual(app, "site")
    started, stopped = threading.Event(), threading.Event()

    def execute(run_id, *, now, still_owner):
        started.set()
        deadline = time.monotonic() + 5
        while still_owner() and time.monotonic() < deadline:
            time.sleep(0.02)
        if not still_owner():
            stopped.set()
            return  # never publish: not ours any more

    pool = WorkerPool(app, services_of(app), workers=1, lease_seconds=1, poll_interval=0.05, execute=execute).start()
    try:
        assert started.wait(5)
        with app.app_context():  # another worker takes the run over
            db.session.execute(db.text("UPDATE backup_runs SET worker_id = 'other' WHERE id = :id"), {"id": run_id})
            db.session.commit()
        assert stopped.wait(5)
    finally:
        pool.stop(timeout=5)
    run = get_run(app, run_id)
    assert (run.status, run.worker_id, run.attempts) == ("running", "other", 1)


def test_a_failing_attempt_is_retried_then_fails_with_a_message_an_admin_can_read(app):
    run_id = queue_manual(app, "site")
    attempts = []

    def execute(run_id, *, now, still_owner):
        attempts.append(run_id)
        raise OperationalError("SELECT 1", {}, Exception("connection to server at 10.0.0.1 refused"))

    pool = WorkerPool(app, services_of(app), workers=1, poll_interval=0.05, retry=RetryPolicy(delay=0), execute=execute).start()
    try:
        assert wait_for(lambda: get_run(app, run_id).status == "failed")
    finally:
        pool.stop(timeout=5)
    run = get_run(app, run_id)
    assert len(attempts) == DEFAULT_RETRY.max_attempts == run.attempts
    assert "database was unavailable" in run.message and "10.0.0.1" not in run.message


def test_a_retry_that_succeeds_ends_succeeded(app):
    run_id = queue_manual(app, "site")
    calls = []

    def execute(run_id, *, now, still_owner):
        calls.append(1)
        if len(calls) == 1:
            raise OSError("disk full")
        return succeed(run_id, now=now, still_owner=still_owner)

    pool = WorkerPool(app, services_of(app), workers=1, poll_interval=0.05, retry=RetryPolicy(delay=0), execute=execute).start()
    try:
        assert wait_for(lambda: get_run(app, run_id).status == "succeeded")
    finally:
        pool.stop(timeout=5)
    assert len(calls) == 2 and get_run(app, run_id).attempts == 2


def test_stopping_the_pool_hands_an_unfinished_backup_back_to_the_queue(app):
    run_id = queue_manual(app, "site")
    started = threading.Event()

    def execute(run_id, *, now, still_owner):
        started.set()
        while still_owner():
            time.sleep(0.02)

    pool = WorkerPool(app, services_of(app), workers=1, poll_interval=0.05, execute=execute).start()
    assert started.wait(5)
    pool.stop(timeout=0.2)
    assert not pool.running
    run = get_run(app, run_id)
    assert (run.status, run.attempts, run.worker_id) == ("queued", 0, None)


def test_the_number_of_workers_is_bounded(app):
    import pytest

    with pytest.raises(ValueError):
        WorkerPool(app, services_of(app), workers=0)
    with pytest.raises(ValueError):
        WorkerPool(app, services_of(app), workers=1000)


def test_a_worker_that_cannot_heartbeat_stops_in_time_and_the_run_is_retried(app, monkeypatch):
    run_id = queue_manual(app, "site")
    real_heartbeat = claims.heartbeat
    outcomes = []

    def unreachable(*args):
        raise OSError("database unreachable")

    monkeypatch.setattr(lease_module, "heartbeat", unreachable)

    def execute(run_id, *, now, still_owner):
        if not outcomes:
            started = time.monotonic()
            while still_owner() and time.monotonic() - started < 5:
                time.sleep(0.02)
            outcomes.append(("stopped", round(time.monotonic() - started, 1)))
            monkeypatch.setattr(lease_module, "heartbeat", real_heartbeat)  # the database is back
            return
        outcomes.append(("ran", get_run(app, run_id).message))
        return succeed(run_id, now=now, still_owner=still_owner)

    pool = WorkerPool(app, services_of(app), workers=1, lease_seconds=1, poll_interval=0.05, retry=RetryPolicy(delay=0), execute=execute).start()
    try:
        assert wait_for(lambda: get_run(app, run_id).status == "succeeded")
    finally:
        pool.stop(timeout=5)
    (first, waited), (second, message) = outcomes
    assert first == "stopped" and waited < 1  # before the 1 s lease could run out
    assert second == "ran" and "stopped heartbeating" in message
    assert get_run(app, run_id).attempts == 2


def test_a_database_that_is_down_is_logged_once_not_at_every_poll_of_every_worker(make_config, caplog):
    app = create_app(make_config(DATABASE_URL="sqlite:////nonexistent-dir/none.db"))
    caplog.set_level(logging.INFO, logger="app.backups.runs.worker")
    pool = WorkerPool(app, services_of(app), workers=3, poll_interval=0.01, execute=succeed).start()
    time.sleep(1.0)  # about 100 polls per worker
    pool.stop(timeout=5)
    failures = [r for r in caplog.records if "claiming failed" in r.getMessage()]
    assert len(failures) == 1, [r.getMessage() for r in failures]
    assert failures[0].exc_info is not None  # the first one keeps its traceback
