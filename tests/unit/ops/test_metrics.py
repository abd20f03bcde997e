"""Metrics: counters shared through the database by every process, gauges read at scrape time, rendered by
prometheus-client with every named series present and no tenant-identifying label."""
from __future__ import annotations

import math
from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine

from app import create_app
from app.extensions import db
from app.models import BackupRun, new_id
from app.ops import metrics
from app.ops.heartbeats import ProcessBeat
from app.xray.tally import requests_by_outcome
from tests.support.queue import T0, add_tenant

NAMED = {"xray_backup_runs", "xray_backup_run_duration_seconds", "xray_backup_queue_depth",
         "xray_backup_oldest_queued_seconds", "xray_backup_xray_requests", "xray_backup_lease_takeovers",
         "xray_backup_worker_heartbeat_age_seconds", "xray_backup_restores"}


def samples(text: str) -> dict:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_a_run_counts_once_by_status_and_kind_and_lands_in_every_bucket_at_or_above_its_duration():
    increments = metrics.run_increments("succeeded", "full", 45.0)
    assert increments[(metrics.RUNS, 'kind="full",status="succeeded"')] == 1
    buckets = {labels for name, labels in increments if name.endswith("_bucket")}
    assert 'le="30.0"' not in buckets and {'le="60.0"', 'le="14400.0"', 'le="+Inf"'} <= buckets
    assert increments[(metrics.RUN_DURATION + "_sum", "")] == 45.0
    assert metrics.run_increments("skipped", "full", None) == {(metrics.RUNS, 'kind="full",status="skipped"'): 1.0}


def test_an_empty_scrape_shows_every_named_series_at_zero_without_tenant_labels():
    text = metrics.render(metrics.Scrape()).decode()
    families = {f.name for f in text_string_to_metric_families(text)}
    assert NAMED <= families
    values = samples(text)
    assert values[("xray_backup_runs_total", (("kind", "full"), ("status", "failed")))] == 0
    assert values[("xray_backup_xray_requests_total", (("outcome", "throttled"),))] == 0
    assert values[("xray_backup_restores_total", (("status", "succeeded"),))] == 0
    assert values[("xray_backup_queue_depth", (("status", "queued"),))] == 0
    assert math.isinf(values[("xray_backup_worker_heartbeat_age_seconds", ())])
    labels = {name for family in text_string_to_metric_families(text) for s in family.samples for name in s.labels}
    assert labels <= {"status", "kind", "outcome", "le"}


def test_counters_from_two_processes_add_up_in_the_database(db_app):
    with db_app.app_context():
        url = db.engine.url
    first, second = create_engine(url), create_engine(url)  # two processes' own engines
    try:
        with first.begin() as conn:
            metrics.add(conn, {(metrics.TAKEOVERS, ""): 1.0})
        with second.begin() as conn:
            metrics.add(conn, {(metrics.TAKEOVERS, ""): 2.0, (metrics.RUNS, 'kind="full",status="failed"'): 1.0})
    finally:
        first.dispose()
        second.dispose()
    with db_app.app_context():
        scrape = metrics.read_scrape(db.session, T0)
    assert scrape.counters[(metrics.TAKEOVERS, "")] == 3.0
    assert scrape.counters[(metrics.RUNS, 'kind="full",status="failed"')] == 1.0


def test_the_gauges_read_the_queue_and_the_newest_worker_heartbeat(app):
    tenant = add_tenant(app, "site")
    other = add_tenant(app, "other")
    with app.app_context():
        db.session.add_all([
            BackupRun(id=new_id(), tenant_id=tenant, status="queued", trigger="manual",
                      queued_at=T0 - timedelta(minutes=5)),
            BackupRun(id=new_id(), tenant_id=other, status="running", trigger="scheduled", queued_at=T0,
                      lease_expires_at=T0 - timedelta(seconds=1), attempts=1)])
        db.session.commit()
        ProcessBeat(db.engine, kind="scheduler", key_ids=("k1",), workers=2,
                    clock=lambda: T0 - timedelta(seconds=7)).beat()
        ProcessBeat(db.engine, kind="web", key_ids=("k1",), clock=lambda: T0).beat()
        scrape = metrics.read_scrape(db.session, T0)
    assert scrape.queue == {"queued": 1, "running": 1} and scrape.stuck == 1
    assert scrape.oldest_queued_seconds == 300.0
    assert scrape.worker_heartbeat_age == 7.0  # the web process runs no workers
    assert scrape.processes == {"scheduler": 1, "web": 1}


def test_xray_request_counts_wait_for_the_next_try_when_the_database_is_down(make_config):
    requests_by_outcome.take()
    requests_by_outcome.add("ok")
    requests_by_outcome.add("throttled")
    app = create_app(make_config(DATABASE_URL="sqlite:////nonexistent-dir/none.db"))
    with app.app_context():
        assert metrics.record(db.engine, {(metrics.TAKEOVERS, ""): 1.0}) is False
    assert requests_by_outcome.take() == {"ok": 1, "throttled": 1}
