"""The run queue on SQLite and PostgreSQL: unique enqueue, one active run per tenant, leases and takeover."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from app.backups.runs import claims, enqueue
from app.backups.runs.enqueue import RunAlreadyActive
from app.backups.runs.status import DEFAULT_RETRY, RetryPolicy, RunOutcome, RunStatus, release, settle
from app.extensions import db
from app.models import Tenant

from tests.support.queue import T0, add_tenant, get_run, get_settings, runs

LEASE = 60


def finish(run_id, worker_id, now, status, **fields) -> bool:
    """Record a final status the way workers do (through settle); True when it was this worker's to record."""
    return settle(run_id, worker_id, now, RunOutcome(RunStatus(status), fields.pop("message", None), fields)) is not None


def fail_or_retry(run_id, worker_id, now, message, *, retry_delay=30.0):
    """Record a failed attempt that may be retried, as workers do; return the run's new status."""
    return settle(run_id, worker_id, now, RunOutcome.failed(message, retryable=True), RetryPolicy(delay=retry_delay))



def enqueue_manual(app, tenant_id, now=T0):
    with app.app_context():
        return enqueue.enqueue_manual(db.session.get(Tenant, tenant_id), now).id


def call(app, fn, *args, **kwargs):
    with app.app_context():
        result = fn(*args, **kwargs)
        return result.id if hasattr(result, "id") and hasattr(result, "status") else result


def test_back_up_now_queues_a_manual_run_and_refuses_a_second_while_active(db_app):
    tid = add_tenant(db_app, "site-a")
    run_id = enqueue_manual(db_app, tid)
    run = get_run(db_app, run_id)
    assert (run.status, run.trigger, run.slot_at, run.attempts) == ("queued", "manual", None, 0)
    with pytest.raises(RunAlreadyActive) as caught:
        enqueue_manual(db_app, tid)
    assert caught.value.status == 409
    assert call(db_app, claims.claim_next, "w1", T0, LEASE) == run_id
    with pytest.raises(RunAlreadyActive):
        enqueue_manual(db_app, tid)
    assert call(db_app, finish, run_id, "w1", T0, "succeeded")
    second = enqueue_manual(db_app, tid)
    assert second != run_id and len(runs(db_app)) == 2


def test_back_up_now_from_many_threads_at_once_queues_exactly_one(db_app):
    tid = add_tenant(db_app, "site-a")
    outcomes, barrier = [], threading.Barrier(6)

    def press():
        barrier.wait()
        try:
            outcomes.append(enqueue_manual(db_app, tid))
        except RunAlreadyActive:
            outcomes.append(409)

    threads = [threading.Thread(target=press) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert outcomes.count(409) == 5
    assert len(runs(db_app)) == 1


def test_due_tenants_get_one_scheduled_run_and_their_next_slot_advances(db_app):
    due = add_tenant(db_app, "due", settings={"next_run_at": T0 - timedelta(minutes=1), "time_of_day": "11:59"})
    later = add_tenant(db_app, "later", settings={"next_run_at": T0 + timedelta(minutes=1), "time_of_day": "12:01"})
    assert call(db_app, enqueue.enqueue_due, T0) == 1
    [run] = runs(db_app)
    assert (run.tenant_id, run.trigger, run.status) == (due, "scheduled", "queued")
    assert run.slot_at == T0 - timedelta(minutes=1)
    assert get_settings(db_app, due).next_run_at == T0 + timedelta(days=1, minutes=-1)
    assert get_settings(db_app, later).next_run_at == T0 + timedelta(minutes=1)
    assert call(db_app, enqueue.enqueue_due, T0 + timedelta(seconds=30)) == 0
    assert call(db_app, enqueue.enqueue_due, T0 + timedelta(minutes=2)) == 1
    assert {r.tenant_id for r in runs(db_app)} == {due, later}


def test_a_tenant_without_credentials_gets_no_skipped_run_per_slot_but_its_schedule_moves_on(db_app):
    waiting = add_tenant(db_app, "waiting", credentials=False,
                         settings={"next_run_at": T0 - timedelta(minutes=1), "time_of_day": "11:59"})
    for day in range(3):
        assert call(db_app, enqueue.enqueue_due, T0 + timedelta(days=day)) == 0
    assert runs(db_app) == []
    assert get_settings(db_app, waiting).next_run_at == T0 + timedelta(days=3, minutes=-1)


def test_disabled_settings_and_inactive_tenants_are_never_scheduled(db_app):
    past = {"next_run_at": T0 - timedelta(hours=1), "time_of_day": "11:00"}
    add_tenant(db_app, "off", settings={**past, "enabled": False})
    add_tenant(db_app, "gone", installed=False, settings=past)
    add_tenant(db_app, "disabled", enabled=False, settings=past)
    assert call(db_app, enqueue.enqueue_due, T0) == 0
    assert runs(db_app) == []


def test_a_new_tenant_gets_default_settings_at_its_spread_time_and_is_not_run_at_once(db_app):
    from app.backups.schedule.rules import default_time_for

    tid = add_tenant(db_app, "brand-new")
    assert call(db_app, enqueue.enqueue_due, T0) == 0
    settings = get_settings(db_app, tid)
    assert (settings.enabled, settings.frequency, settings.retention_days) == (True, "daily", 30)
    assert settings.time_of_day == default_time_for("brand-new")
    assert T0 < settings.next_run_at <= T0 + timedelta(days=1)


def test_restart_after_downtime_makes_one_catch_up_run_per_tenant(db_app):
    ids = [
        add_tenant(db_app, f"site-{i}", settings={
            "frequency": "every_6h", "time_of_day": "00:00", "next_run_at": T0 - timedelta(days=3)})
        for i in range(3)
    ]
    now = T0 + timedelta(hours=1)
    assert call(db_app, enqueue.enqueue_due, now) == 3
    for tid in ids:
        [run] = runs(db_app, tenant_id=tid)
        assert run.slot_at == T0
        assert get_settings(db_app, tid).next_run_at == T0 + timedelta(hours=6)
    assert call(db_app, enqueue.enqueue_due, now + timedelta(minutes=5)) == 0


def test_a_slot_falling_while_a_run_is_active_is_covered_by_it(db_app):
    tid = add_tenant(db_app, "busy", settings={"next_run_at": T0, "time_of_day": "12:00"})
    enqueue_manual(db_app, tid, now=T0 - timedelta(minutes=5))
    assert call(db_app, enqueue.enqueue_due, T0) == 0
    assert len(runs(db_app)) == 1
    assert get_settings(db_app, tid).next_run_at == T0 + timedelta(days=1)


def test_schedulers_racing_on_the_same_due_tenants_never_double(db_app):
    for i in range(30):
        add_tenant(db_app, f"site-{i}", settings={"next_run_at": T0 - timedelta(minutes=i), "time_of_day": "12:00"})
    counts, barrier = [], threading.Barrier(4)

    def tick():
        barrier.wait()
        counts.append(call(db_app, enqueue.enqueue_due, T0))

    threads = [threading.Thread(target=tick) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert sum(counts) == 30
    assert len(runs(db_app)) == 30


def test_workers_claim_oldest_first_each_run_once(db_app):
    first = add_tenant(db_app, "first")
    second = add_tenant(db_app, "second")
    a = enqueue_manual(db_app, second, now=T0)
    b = enqueue_manual(db_app, first, now=T0 + timedelta(seconds=1))
    assert call(db_app, claims.claim_next, "w1", T0 + timedelta(seconds=2), LEASE) == a
    assert call(db_app, claims.claim_next, "w2", T0 + timedelta(seconds=2), LEASE) == b
    assert call(db_app, claims.claim_next, "w3", T0 + timedelta(seconds=2), LEASE) is None
    run = get_run(db_app, a)
    assert (run.status, run.worker_id, run.attempts) == ("running", "w1", 1)
    assert run.lease_expires_at == T0 + timedelta(seconds=2 + LEASE)


def test_back_up_now_goes_ahead_of_a_queue_of_scheduled_runs(db_app):
    for i in range(3):
        add_tenant(db_app, f"site-{i}", settings={"next_run_at": T0 - timedelta(days=2), "time_of_day": "12:00"})
    assert call(db_app, enqueue.enqueue_due, T0) == 3
    manual = enqueue_manual(db_app, add_tenant(db_app, "impatient"), now=T0 + timedelta(minutes=5))
    assert call(db_app, claims.claim_next, "w1", T0 + timedelta(minutes=5), LEASE) == manual
    assert get_run(db_app, call(db_app, claims.claim_next, "w1", T0 + timedelta(minutes=5), LEASE)).trigger == "scheduled"


def test_concurrent_claims_hand_out_every_run_exactly_once(db_app):
    ids = [add_tenant(db_app, f"site-{i}") for i in range(12)]
    for tid in ids:
        enqueue_manual(db_app, tid)
    claimed, barrier = [], threading.Barrier(4)

    def work(name):
        barrier.wait()
        while (run_id := call(db_app, claims.claim_next, name, T0, LEASE)) is not None:
            claimed.append(run_id)

    threads = [threading.Thread(target=work, args=(f"w{i}",)) for i in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(claimed) == 12 and len(set(claimed)) == 12


def test_heartbeat_renews_only_the_owners_lease(db_app):
    run_id = enqueue_manual(db_app, add_tenant(db_app, "site"))
    call(db_app, claims.claim_next, "w1", T0, LEASE)
    assert call(db_app, claims.heartbeat, run_id, "w1", T0 + timedelta(seconds=30), LEASE)
    assert get_run(db_app, run_id).lease_expires_at == T0 + timedelta(seconds=30 + LEASE)
    assert not call(db_app, claims.heartbeat, run_id, "intruder", T0 + timedelta(seconds=31), LEASE)


def test_an_expired_lease_is_taken_over_and_the_old_worker_loses_it(db_app):
    run_id = enqueue_manual(db_app, add_tenant(db_app, "site"))
    call(db_app, claims.claim_next, "w1", T0, LEASE)
    assert call(db_app, claims.claim_next, "w2", T0 + timedelta(seconds=LEASE - 1), LEASE) is None
    later = T0 + timedelta(seconds=LEASE + 1)
    assert call(db_app, claims.claim_next, "w2", later, LEASE) == run_id
    run = get_run(db_app, run_id)
    assert (run.worker_id, run.attempts) == ("w2", 2)
    assert "took the backup over" in run.message
    assert not call(db_app, claims.heartbeat, run_id, "w1", later, LEASE)
    assert not call(db_app, finish, run_id, "w1", later, "succeeded")
    assert call(db_app, finish, run_id, "w2", later, "succeeded")
    assert get_run(db_app, run_id).status == "succeeded"


def test_takeover_is_bounded_then_the_run_fails_with_a_message(db_app):
    run_id = enqueue_manual(db_app, add_tenant(db_app, "site"))
    now = T0
    for attempt in range(1, DEFAULT_RETRY.max_attempts + 1):
        assert call(db_app, claims.claim_next, f"w{attempt}", now, LEASE) == run_id
        now += timedelta(seconds=LEASE + 1)
    assert call(db_app, claims.claim_next, "w-last", now, LEASE) is None
    assert call(db_app, claims.take_over_expired, now) == 1
    run = get_run(db_app, run_id)
    assert run.status == "failed" and "stopped responding" in run.message
    assert run.finished_at == now


def test_take_over_expired_requeues_a_run_with_attempts_left(db_app):
    run_id = enqueue_manual(db_app, add_tenant(db_app, "site"))
    call(db_app, claims.claim_next, "w1", T0, LEASE)
    assert call(db_app, claims.take_over_expired, T0 + timedelta(seconds=LEASE - 1)) == 0
    assert call(db_app, claims.take_over_expired, T0 + timedelta(seconds=LEASE + 1)) == 1
    run = get_run(db_app, run_id)
    assert (run.status, run.worker_id, run.attempts) == ("queued", None, 1)


def test_a_failed_attempt_is_retried_after_a_back_off_then_given_up(db_app):
    run_id = enqueue_manual(db_app, add_tenant(db_app, "site"))
    now = T0
    for attempt in range(1, DEFAULT_RETRY.max_attempts):
        call(db_app, claims.claim_next, "w", now, LEASE)
        status = call(db_app, fail_or_retry, run_id, "w", now, "Storage was down.", retry_delay=10)
        assert status == "queued"
        assert call(db_app, claims.claim_next, "w", now + timedelta(seconds=9), LEASE) is None
        now += timedelta(seconds=10)
    call(db_app, claims.claim_next, "w", now, LEASE)
    assert call(db_app, fail_or_retry, run_id, "w", now, "Storage was down.") == "failed"
    run = get_run(db_app, run_id)
    assert run.status == "failed" and run.message.startswith("Storage was down.") and "3 attempts" in run.message


def test_released_runs_go_back_to_the_queue_without_spending_an_attempt(db_app):
    run_id = enqueue_manual(db_app, add_tenant(db_app, "site"))
    call(db_app, claims.claim_next, "w1", T0, LEASE)
    assert call(db_app, release, run_id, "w1", T0)
    run = get_run(db_app, run_id)
    assert (run.status, run.attempts, run.worker_id) == ("queued", 0, None)


def test_runs_of_uninstalled_tenants_are_not_claimed_and_get_cancelled(db_app):
    tid = add_tenant(db_app, "leaving")
    run_id = enqueue_manual(db_app, tid)
    with db_app.app_context():
        db.session.get(Tenant, tid).installed = False
        db.session.commit()
    assert call(db_app, claims.claim_next, "w1", T0, LEASE) is None
    assert call(db_app, claims.take_over_expired, T0) == 1
    assert get_run(db_app, run_id).status == "cancelled"
