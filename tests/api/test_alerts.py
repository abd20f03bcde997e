"""Backup health and alerts through the API, with a real SMTP server and a real webhook receiver on loopback."""
from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from app.alerts.models import AlertIncident, AlertSettings
from app.backups.runs.status import RunOutcome, RunStatus, settle
from app.extensions import db
from app.models import BackupRun, Tenant, XrayCredential, utcnow
from app.services import services_of
from tests.support.connect import ApiClient, install_tenant

HOOK_PATH = "/services/T000/B000/secret-part"


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, make_app, smtp_sink):
    """The app on each database, sending e-mail to the loopback SMTP server."""
    env = {"SMTP_URL": smtp_sink.url, "ALERT_FROM": "xray-backup@example.com"}
    if request.param == "postgresql":
        env["DATABASE_URL"] = request.getfixturevalue("pg_database_url")
    return make_app(**env)


def with_credentials(app, tenant) -> None:
    with app.app_context():
        db.session.add(XrayCredential(tenant_id=tenant.id, client_id="client", client_secret_enc="sealed",
                                      region="global", status="connected", updated_at=utcnow()))
        db.session.commit()


def add_run(app, tenant, status: str, *, hours_ago: float = 1, trigger="scheduled", **fields) -> str:
    with app.app_context():
        started = utcnow() - timedelta(hours=hours_ago)
        run = BackupRun(tenant_id=tenant.id, status=status, trigger=trigger, queued_at=started, started_at=started,
                        first_started_at=started,
                        finished_at=None if status in ("queued", "running") else started + timedelta(minutes=2),
                        **fields)
        db.session.add(run)
        db.session.commit()
        return run.id


def end_run(app, tenant, outcome: RunOutcome, *, trigger="scheduled") -> str:
    """A run that a worker executed and settles now, through the one terminal transition and its hook."""
    run_id = add_run(app, tenant, "running", hours_ago=0.05, trigger=trigger, worker_id="w1")
    with app.app_context():
        settle(run_id, "w1", utcnow(), outcome, ended=services_of(app).run_ended)
    return run_id


def failure(reason="xray_unavailable") -> RunOutcome:
    return RunOutcome.failed("Xray did not respond while reading tests of project CALC, so nothing was saved.",
                             reason=reason, detail="Xray kept failing for authenticate (HTTP 503) after 6 attempts")


SUCCESS = RunOutcome(RunStatus.SUCCEEDED, "Backed up 3 tests.", {"counts": {"tests": 3}, "bytes": 10})


# ---------------------------------------------------------------- health


def test_health_waits_for_credentials_then_reports_the_last_success_projects_and_storage(app, api, tenant):
    body = api.get("/api/backup-health").get_json()
    assert body["state"] == "waiting_for_credentials" and "Xray Credentials page" in body["message"]
    assert body["lastRun"] is None and body["lastSuccessAt"] is None and body["storedBytes"] == 0
    assert body["nextRunAt"] and body["projects"] == []
    with_credentials(app, tenant)
    add_run(app, tenant, "succeeded", hours_ago=30, bytes=1000, snapshot_key="k/1",
            projects=[{"id": "1", "key": "OLD", "name": "Old"}])
    newest = add_run(app, tenant, "succeeded", hours_ago=2, bytes=2500, snapshot_key="k/2",
                     projects=[{"id": "10", "key": "CALC", "name": "Calculator"}])
    body = api.get("/api/backup-health").get_json()
    assert body["state"] == "healthy" and body["lastRun"]["id"] == newest
    assert body["projects"] == [{"key": "CALC", "name": "Calculator"}] and body["storedBytes"] == 3500
    assert body["lastSuccessAt"] == body["lastRun"]["finishedAt"]


def test_health_says_failing_warnings_and_stale(app, api, tenant):
    with_credentials(app, tenant)
    add_run(app, tenant, "succeeded", hours_ago=3, warnings=["a", "b"], snapshot_key="k", bytes=1)
    body = api.get("/api/backup-health").get_json()
    assert body["state"] == "warnings" and "2 warnings" in body["message"]
    add_run(app, tenant, "failed", hours_ago=1, message="Xray did not respond.")
    body = api.get("/api/backup-health").get_json()
    assert body["state"] == "failing" and "Xray did not respond." in body["message"]
    with app.app_context():
        db.session.execute(db.delete(BackupRun))
        db.session.commit()
    add_run(app, tenant, "succeeded", hours_ago=24 * 3, snapshot_key="k", bytes=1)
    assert api.get("/api/backup-health").get_json()["state"] == "stale"


def test_a_retrying_run_keeps_its_first_start_and_says_so(app, api, tenant):
    run_id = add_run(app, tenant, "queued", hours_ago=0.1, attempts=1, message="Attempt 1 failed: … Retrying.")
    [run] = api.get("/api/backups").get_json()["runs"]
    assert run["id"] == run_id and run["retrying"] is True and run["attempts"] == 1
    assert run["startedAt"] is not None


def test_history_filters_by_status(app, api, tenant):
    failed = add_run(app, tenant, "failed", hours_ago=3)
    skipped = add_run(app, tenant, "skipped", hours_ago=2)
    add_run(app, tenant, "succeeded", hours_ago=1)
    body = api.get("/api/backups?status=failed,skipped").get_json()
    assert [r["id"] for r in body["runs"]] == [skipped, failed] and body["total"] == 2
    bad = api.get("/api/backups?status=broken")
    assert bad.status_code == 422 and "status" in bad.get_json()["fields"]


# ---------------------------------------------------------------- settings


def test_alert_settings_are_stored_with_the_webhook_sealed_and_never_returned(app, api, tenant):
    assert api.get("/api/alert-settings").get_json() == {
        "emails": [], "webhookConfigured": False, "webhookHost": None,
        "notifyOn": ["failed", "skipped", "stale", "recovered"], "emailAvailable": True}
    url = f"http://127.0.0.1:9{HOOK_PATH}"
    answer = api.put("/api/alert-settings", json={"emails": [" ops@example.com", "OPS@example.com", "lead@example.com"],
                                                  "webhookUrl": url, "notifyOn": ["failed", "recovered"]})
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["emails"] == ["ops@example.com", "lead@example.com"] and body["webhookConfigured"] is True
    assert body["notifyOn"] == ["failed", "recovered"] and body["webhookHost"] == "127.0.0.1"
    assert "secret-part" not in answer.get_data(as_text=True)
    with app.app_context():
        row = db.session.get(AlertSettings, tenant.id)
        assert "secret-part" not in row.webhook_url_enc
    assert "secret-part" not in api.get("/api/alert-settings").get_data(as_text=True)
    removed = api.put("/api/alert-settings", json={"webhookUrl": None}).get_json()
    assert removed["webhookConfigured"] is False and removed["emails"] == ["ops@example.com", "lead@example.com"]


@pytest.mark.parametrize("body, field", [
    ({"emails": ["not-an-address"]}, "emails"),
    ({"emails": "ops@example.com"}, "emails"),
    ({"emails": [f"u{i}@example.com" for i in range(11)]}, "emails"),
    ({"webhookUrl": "ftp://hooks.example.com/x"}, "webhookUrl"),
    ({"webhookUrl": "https://169.254.169.254/latest"}, "webhookUrl"),
    ({"webhookUrl": "https://user:pw@hooks.example.com/x"}, "webhookUrl"),
    ({"notifyOn": ["failed", "sometimes"]}, "notifyOn"),
    ({"colour": "red"}, "colour"),
])
def test_invalid_alert_settings_are_refused_naming_the_field_and_change_nothing(app, api, tenant, body, field):
    api.put("/api/alert-settings", json={"emails": ["ops@example.com"]})
    answer = api.put("/api/alert-settings", json={**body, "notifyOn": body.get("notifyOn", ["failed"])})
    assert answer.status_code == 422 and field in answer.get_json()["fields"]
    assert api.get("/api/alert-settings").get_json()["emails"] == ["ops@example.com"]
    assert api.get("/api/alert-settings").get_json()["notifyOn"] == ["failed", "skipped", "stale", "recovered"]


def test_in_production_a_loopback_or_plain_http_webhook_is_refused(make_app, fake_jira):
    app = make_app(APP_ENV="production", CONNECT_ALLOWED_HOSTS="*.atlassian.net")
    tenant = install_tenant(app, fake_jira)
    # Production never calls a loopback Jira (the URL policy): answer the admin check from the cache instead.
    services_of(app).admin_cache.put(tenant.client_key, "admin-account", True)
    api = ApiClient(app.test_client(), tenant)
    for url in ("http://hooks.example.com/x", "https://127.0.0.1/x", "https://localhost/x"):
        answer = api.put("/api/alert-settings", json={"webhookUrl": url})
        assert answer.status_code == 422 and "webhookUrl" in answer.get_json()["fields"], url


def test_send_test_reaches_each_configured_channel_once(app, api, tenant, smtp_sink, webhook_receiver):
    assert api.post("/api/alert-settings/test").get_json() == {
        "email": "not_configured", "webhook": "not_configured",
        "message": "No alert channel is set up yet: add an e-mail address or a webhook URL."}
    api.put("/api/alert-settings", json={"emails": ["ops@example.com"], "webhookUrl": webhook_receiver.url + HOOK_PATH})
    body = api.post("/api/alert-settings/test").get_json()
    assert (body["email"], body["webhook"]) == ("sent", "sent")
    assert len(smtp_sink.messages) == 1 and smtp_sink.messages[0][1] == ["ops@example.com"]
    [delivery] = webhook_receiver.deliveries(HOOK_PATH)
    assert delivery["event"] == "test" and delivery["site"] == tenant.base_url.rstrip("/")
    webhook_receiver.statuses = [410]
    body = api.post("/api/alert-settings/test").get_json()
    assert body["webhook"] == "failed" and "HTTP 410" in body["message"]


def test_without_smtp_the_test_says_email_is_not_set_up(make_app, fake_jira):
    app = make_app()
    api = ApiClient(app.test_client(), install_tenant(app, fake_jira))
    api.put("/api/alert-settings", json={"emails": ["ops@example.com"]})
    assert api.get("/api/alert-settings").get_json()["emailAvailable"] is False
    body = api.post("/api/alert-settings/test").get_json()
    assert body["email"] == "not_configured" and "SMTP_URL" in body["message"]


# ---------------------------------------------------------------- incidents: once, and once on recovery


def subscribe(api, webhook_receiver, notify_on=None):
    body = {"emails": ["ops@example.com"], "webhookUrl": webhook_receiver.url + HOOK_PATH}
    if notify_on is not None:
        body["notifyOn"] = notify_on
    assert api.put("/api/alert-settings", json=body).status_code == 200


def test_a_failing_schedule_alerts_once_per_incident_and_once_on_recovery(app, api, tenant, smtp_sink,
                                                                           webhook_receiver):
    with_credentials(app, tenant)
    subscribe(api, webhook_receiver)
    services = services_of(app)
    first = end_run(app, tenant, failure())
    end_run(app, tenant, failure())  # the same incident: nothing new
    with app.app_context():
        services.alerts.evaluate_all(utcnow())  # the scheduler's look changes nothing either
    events = [d["event"] for d in webhook_receiver.deliveries(HOOK_PATH)]
    assert events == ["failed"] and len(smtp_sink.messages) == 1
    [alert] = webhook_receiver.deliveries(HOOK_PATH)
    assert alert["runId"] == first and "Xray did not respond" in alert["message"] and alert["text"]
    assert "Scheduled Xray backup failed" in smtp_sink.messages[0][2]["Subject"]

    end_run(app, tenant, SUCCESS, trigger="manual")  # a successful retry from the page ends the incident
    end_run(app, tenant, SUCCESS)
    assert [d["event"] for d in webhook_receiver.deliveries(HOOK_PATH)] == ["failed", "recovered"]
    assert len(smtp_sink.messages) == 2 and "healthy again" in smtp_sink.messages[1][2]["Subject"]

    end_run(app, tenant, failure("credentials_rejected"))  # a new incident
    assert [d["event"] for d in webhook_receiver.deliveries(HOOK_PATH)] == ["failed", "recovered", "skipped"]


def test_manual_failures_do_not_alert(app, api, tenant, smtp_sink, webhook_receiver):
    with_credentials(app, tenant)
    subscribe(api, webhook_receiver)
    end_run(app, tenant, failure(), trigger="manual")
    assert webhook_receiver.requests == [] and smtp_sink.messages == []


def test_events_left_out_of_notify_on_are_not_sent_and_get_no_recovery(app, api, tenant, smtp_sink,
                                                                        webhook_receiver):
    with_credentials(app, tenant)
    subscribe(api, webhook_receiver, notify_on=["stale", "recovered"])
    end_run(app, tenant, failure())
    end_run(app, tenant, SUCCESS)
    assert webhook_receiver.requests == [] and smtp_sink.messages == []


def test_missing_credentials_alert_once_after_a_slot_passed_and_stale_backups_alert_once(app, api, tenant,
                                                                                         webhook_receiver):
    subscribe(api, webhook_receiver)
    services = services_of(app)
    with app.app_context():
        row = db.session.get(Tenant, tenant.id)
        row.installed_at = utcnow() - timedelta(days=2)
        db.session.commit()
        for _ in range(3):
            services.alerts.evaluate_all(utcnow())
    assert [d["event"] for d in webhook_receiver.deliveries(HOOK_PATH)] == ["skipped"]
    with_credentials(app, tenant)
    add_run(app, tenant, "succeeded", hours_ago=24 * 3)  # the last success, three days ago
    with app.app_context():
        for _ in range(3):
            services.alerts.evaluate_all(utcnow())
    # Credentials arrived but backups are still not OK: the same incident, no new alert.
    assert [d["event"] for d in webhook_receiver.deliveries(HOOK_PATH)] == ["skipped"]
    with app.app_context():
        incident = db.session.scalars(select(AlertIncident)).one()
        assert incident.resolved_at is None and incident.kind == "skipped"


def test_many_threads_evaluating_at_once_send_one_alert(app, api, tenant, smtp_sink, webhook_receiver):
    with_credentials(app, tenant)
    subscribe(api, webhook_receiver)
    add_run(app, tenant, "failed", hours_ago=0.1, message="Xray did not respond.")
    services = services_of(app)
    barrier = threading.Barrier(6)

    def evaluate():
        with app.app_context():
            barrier.wait()
            services.alerts.evaluate_all(utcnow())

    threads = [threading.Thread(target=evaluate) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(webhook_receiver.deliveries(HOOK_PATH)) == 1 and len(smtp_sink.messages) == 1


def test_the_webhook_secret_never_reaches_a_response_a_log_line_or_the_database_file(app, api, tenant,
                                                                                      webhook_receiver, caplog):
    caplog.set_level(logging.INFO)  # the app's level (DEBUG lines of HTTP libraries name paths: see app/logs.py)
    planted = f"/services/PLANTED{uuid.uuid4().hex}"
    with_credentials(app, tenant)
    bodies = [api.put("/api/alert-settings", json={"webhookUrl": webhook_receiver.url + planted}),
              api.get("/api/alert-settings"), api.post("/api/alert-settings/test")]
    webhook_receiver.statuses = [500, 500, 500]
    bodies.append(api.post("/api/alert-settings/test"))  # a failed delivery explains itself without the URL
    webhook_receiver.redirects[planted] = "http://169.254.169.254/latest"
    bodies.append(api.post("/api/alert-settings/test"))
    end_run(app, tenant, failure())
    assert [d["event"] for d in webhook_receiver.deliveries(planted)][-1] == "failed"
    for response in bodies:
        assert planted not in response.get_data(as_text=True)
    assert "HTTP 500" in bodies[3].get_json()["message"] and "not allowed" in bodies[4].get_json()["message"]
    assert planted not in caplog.text and planted[10:] not in caplog.text
    database = services_of(app).config.database_url
    if database.startswith("sqlite:///"):
        assert planted.encode() not in Path(database.removeprefix("sqlite:///")).read_bytes()
