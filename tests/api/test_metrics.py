"""`/metrics`: METRICS_TOKEN, and the series moving after a real run, a failed run and a lease takeover."""
from __future__ import annotations

from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from app.backups.runs import claims
from app.extensions import db
from app.models import Tenant, utcnow
from app.backups.runs.enqueue import enqueue_manual
from tests.support.backups import save_credentials

TOKEN = "metrics-token-0123456789abcdef"


def scrape(client, **headers) -> dict:
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.content_type.startswith("text/plain; version=")
    text = response.get_data(as_text=True)
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_are_open_in_development_without_a_token(client):
    assert ("xray_backup_lease_takeovers_total", ()) in scrape(client)


def test_metrics_are_absent_in_production_without_a_token(make_app):
    app = make_app(APP_ENV="production", CONNECT_ALLOWED_HOSTS="*.atlassian.net")
    assert app.test_client().get("/metrics").status_code == 404


def test_metrics_need_the_bearer_token_when_one_is_set(make_app):
    client = make_app(APP_ENV="production", CONNECT_ALLOWED_HOSTS="*.atlassian.net", METRICS_TOKEN=TOKEN).test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": f"JWT {TOKEN}"}).status_code == 401
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200 and TOKEN not in response.get_data(as_text=True)


def test_metrics_move_after_a_run_a_failure_and_a_takeover(xray_app, xray_site, xray):
    client = xray_app.test_client()
    before = scrape(client)
    assert before[("xray_backup_runs_total", (("kind", "full"), ("status", "succeeded")))] == 0
    save_credentials(xray_app, xray_site)
    runner = xray_app.test_cli_runner()

    assert runner.invoke(args=["backup", "run", xray_site.client_key]).exit_code == 0
    after_run = scrape(client)
    assert after_run[("xray_backup_runs_total", (("kind", "full"), ("status", "succeeded")))] == 1
    assert after_run[("xray_backup_run_duration_seconds_count", ())] == 1
    assert after_run[("xray_backup_run_duration_seconds_bucket", (("le", "+Inf"),))] == 1
    assert after_run[("xray_backup_xray_requests_total", (("outcome", "ok"),))] > 10

    xray.set_faults(reject_credentials=True)
    assert runner.invoke(args=["backup", "run", xray_site.client_key]).exit_code == 1
    after_failure = scrape(client)
    assert after_failure[("xray_backup_runs_total", (("kind", "full"), ("status", "failed")))] == 1
    assert after_failure[("xray_backup_xray_requests_total", (("outcome", "error"),))] >= 1
    xray.clear_faults()

    with xray_app.app_context():
        run_id = enqueue_manual(db.session.get(Tenant, xray_site.id), utcnow()).id
        claims.claim_next("worker-that-dies", utcnow(), lease_seconds=1)
        later = utcnow() + timedelta(seconds=5)  # its lease ran out; another worker claims it
        assert claims.claim_next("worker-b", later, lease_seconds=60).id == run_id
    after_takeover = scrape(client)
    assert after_takeover[("xray_backup_lease_takeovers_total", ())] == 1
    assert after_takeover[("xray_backup_queue_depth", (("status", "running"),))] == 1
    labels = {name for key in after_takeover for name, _ in key[1]}
    assert labels <= {"status", "kind", "outcome", "le"}  # nothing names a tenant
