"""`settle`, the one place an attempt ends: one INFO line per finished run, one WARNING per failed attempt."""
from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from app.backups.runs import claims, enqueue
from app.backups.runs.status import RetryPolicy, RunOutcome, RunStatus, settle
from app.extensions import db
from app.models import Tenant
from app.ops import metrics
from tests.support.queue import T0, add_tenant

FAILURE = "Xray refused a query while reading tests of project ALPHA: Field 'x' is not defined."


@pytest.fixture
def claimed(app):
    tenant_id = add_tenant(app, "site")
    with app.app_context():
        run_id = enqueue.enqueue_manual(db.session.get(Tenant, tenant_id), T0).id
        claims.claim_next("w1", T0, 120)
    return tenant_id, run_id


def run_lines(caplog):
    return [r for r in caplog.records if r.name == "app.runs"]


def test_a_failed_run_writes_its_warning_with_the_message_then_one_info_line(app, claimed, caplog):
    tenant_id, run_id = claimed
    caplog.set_level(logging.INFO, logger="app.runs")
    with app.app_context():
        assert settle(run_id, "w1", T0 + timedelta(seconds=42), RunOutcome.failed(FAILURE, requests=17)) == "failed"
    warning, info = run_lines(caplog)
    assert warning.levelno == logging.WARNING and FAILURE in warning.getMessage()
    assert run_id in warning.getMessage() and warning.tenant_id == tenant_id and warning.error == FAILURE
    assert info.levelno == logging.INFO
    assert info.getMessage().startswith(f"run {run_id} finished: status=failed kind=full tenant={tenant_id}")
    assert "duration=42.0s requests=17" in info.getMessage()
    assert (info.status, info.kind, info.duration_seconds, info.requests) == ("failed", "full", 42.0, 17)


def test_a_succeeded_run_writes_one_info_line_with_its_counts_and_is_counted(app, claimed, caplog):
    _tenant_id, run_id = claimed
    caplog.set_level(logging.INFO, logger="app.runs")
    outcome = RunOutcome(RunStatus.SUCCEEDED, "Backed up 3 tests.", {"counts": {"tests": 3}, "requests": 9})
    with app.app_context():
        settle(run_id, "w1", T0 + timedelta(seconds=5), outcome)
        scrape = metrics.read_scrape(db.session, T0)
    [info] = run_lines(caplog)
    assert "status=succeeded" in info.getMessage() and "counts=tests=3" in info.getMessage()
    assert info.counts == {"tests": 3}
    assert scrape.counters[(metrics.RUNS, 'kind="full",status="succeeded"')] == 1
    assert scrape.counters[(metrics.RUN_DURATION + "_sum", "")] == 5.0


def test_a_retried_attempt_writes_a_warning_and_no_finished_line(app, claimed, caplog):
    _tenant_id, run_id = claimed
    caplog.set_level(logging.INFO, logger="app.runs")
    with app.app_context():
        status = settle(run_id, "w1", T0, RunOutcome.failed("Xray was unavailable.", retryable=True),
                        RetryPolicy(delay=30))
    assert status == "queued"
    [warning] = run_lines(caplog)
    assert warning.levelno == logging.WARNING
    assert "attempt 1 failed" in warning.getMessage() and "retry in 30 s" in warning.getMessage()
    assert "Xray was unavailable." in warning.getMessage()


def test_an_outcome_that_is_no_longer_this_workers_logs_no_outcome(app, claimed, caplog):
    _tenant_id, run_id = claimed
    caplog.set_level(logging.INFO, logger="app.runs")
    with app.app_context():
        assert settle(run_id, "someone-else", T0, RunOutcome.failed(FAILURE)) is None
    assert run_lines(caplog) == []


def test_runs_whose_worker_died_are_logged_and_counted_as_takeovers(app, caplog):
    tenant_id = add_tenant(app, "site")
    caplog.set_level(logging.INFO, logger="app.runs")
    with app.app_context():
        run_id = enqueue.enqueue_manual(db.session.get(Tenant, tenant_id), T0).id
        claims.claim_next("dead-worker", T0, 10)
        assert claims.take_over_expired(T0 + timedelta(seconds=11)) == 1
        scrape = metrics.read_scrape(db.session, T0)
    [warning] = run_lines(caplog)
    assert warning.levelno == logging.WARNING and run_id in warning.getMessage()
    assert "stopped heartbeating; queued again" in warning.getMessage()
    assert scrape.counters[(metrics.TAKEOVERS, "")] == 1
