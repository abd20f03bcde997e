"""The server-rendered Backups page: the first HTML already shows schedule, runs, chart data and the banner."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

from tests.support.connect import page_url
from markupsafe import escape

from app.extensions import db
from app.models import BackupRun, XrayCredential, utcnow
from app.presentation import Wording, duration
from app.views.pages import PAGE_SIZE, credentials_page_href

XSS = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def add_run(app, tenant, *, status="succeeded", minutes_ago=60, **fields) -> str:
    now = utcnow()
    with app.app_context():
        started = now - timedelta(minutes=minutes_ago)
        run = BackupRun(
            tenant_id=tenant.id,
            status=status,
            trigger=fields.pop("trigger", "scheduled"),
            queued_at=started - timedelta(seconds=5),
            started_at=fields.pop("started_at", None if status == "queued" else started),
            finished_at=None if status in ("queued", "running") else started + timedelta(seconds=125),
            snapshot_key=f"tenants/x/{minutes_ago}" if status == "succeeded" else None,
            **fields,
        )
        db.session.add(run)
        db.session.commit()
        return run.id


def add_credentials(app, tenant):
    with app.app_context():
        db.session.add(XrayCredential(tenant_id=tenant.id, client_id="cid", client_secret_enc="x",
                                      updated_at=utcnow()))
        db.session.commit()


def get_page(client, tenant, **kwargs):
    response = client.get(page_url(tenant, "/pages/backups", **kwargs))
    return response, response.get_data(as_text=True)


def state_of(page: str) -> dict:
    raw = re.search(r'<script type="application/json" id="backups-state">(.*?)</script>', page, re.S).group(1)
    return json.loads(raw)


def test_the_page_needs_a_page_token(client, tenant):
    assert client.get("/pages/backups").status_code == 401


def test_non_admins_are_refused(client, tenant):
    response, _ = get_page(client, tenant, account_id="not-an-admin")
    assert response.status_code == 403


def test_the_first_html_shows_health_runs_and_waiting_for_credentials(app, client, tenant):
    add_run(app, tenant, status="succeeded", minutes_ago=120, bytes=5 * 1024 * 1024,
            counts={"tests": 1200, "test_runs": 40000, "attachments": 12}, warnings=["3 attachments were too large"])
    add_run(app, tenant, status="failed", minutes_ago=30, message="Xray rejected the credentials.")
    response, page = get_page(client, tenant)
    assert response.status_code == 200
    assert 'data-state="waiting_for_credentials"' in page and "Waiting for Xray credentials" in page
    assert f'href="{tenant.base_url}/plugins/servlet/ac/xray-backup/xray-credentials"' in page
    assert 'id="frequency"' in page and '<option value="daily" selected>Daily</option>' in page
    assert '<option value="30" selected>30 days</option>' in page  # the default retention, as a preset
    assert "Next scheduled backup" in page and "Last successful backup" in page
    rows = re.findall(r'<tr class="xb-run" data-run-id="\w+" data-status="(\w+)"', page)
    assert rows == ["failed", "succeeded"]  # newest first
    assert "1,200 tests" in page and "40,000 test runs" in page and "5.0 MB" in page and "2 min 5 s" in page
    assert "Xray rejected the credentials." in page and "3 attachments were too large" in page
    assert "Succeeded with warnings" in page
    assert page.count("data-download=") == 1 and page.count("data-retry=") == 1
    state = state_of(page)
    assert [p["bytes"] for p in state["chart"]] == [5 * 1024 * 1024]
    assert state["settings"]["frequency"] == "daily" and state["credentialsConfigured"] is False
    assert state["health"]["state"] == "waiting_for_credentials"


def test_with_credentials_the_health_is_shown_without_the_credentials_call_to_action(app, client, tenant):
    add_credentials(app, tenant)
    add_run(app, tenant, minutes_ago=60, projects=[{"id": "1", "key": "CALC", "name": "Calculator"}], bytes=2048)
    _, page = get_page(client, tenant)
    assert 'data-state="healthy"' in page and "Backups are OK" in page
    assert re.search(r'id="health-credentials"\s+hidden', page)
    assert '<abbr title="Calculator">CALC</abbr>' in page and "2.0 KB" in page


def test_failed_and_skipped_rows_offer_the_next_step_and_keep_technical_detail_apart(app, client, tenant):
    add_run(app, tenant, status="skipped", minutes_ago=40, reason="credentials_missing", message="No credentials.")
    add_run(app, tenant, status="failed", minutes_ago=30, reason="credentials_rejected", message="Rejected.")
    add_run(app, tenant, status="failed", minutes_ago=20, reason="xray_unavailable", attempts=3,
            message="Xray did not respond.", detail="Xray kept failing for authenticate (HTTP 503) after 6 attempts")
    _, page = get_page(client, tenant)
    assert page.count(">Add credentials</a>") == 1 and page.count(">Update credentials</a>") == 1
    assert page.count("data-retry=") == 1 and page.count("data-test-connection") == 2
    assert "<summary>Technical details</summary>" in page and "HTTP 503" in page
    assert ">3 attempts<" in page


def test_a_retrying_run_stays_running_with_one_duration_and_its_attempts(app, client, tenant):
    add_run(app, tenant, status="queued", minutes_ago=3, attempts=1, started_at=utcnow() - timedelta(minutes=3),
            first_started_at=utcnow() - timedelta(minutes=3), message="Attempt 1 failed: Xray did not respond. Retrying.")
    _, page = get_page(client, tenant)
    assert "Running (retrying)" in page and 'data-retrying="true"' in page
    assert "Attempt 1 failed; trying again shortly…" in page
    assert re.search(r"3 min \d+ s", page)  # counted from the first attempt
    assert 'id="backup-now"' in page and re.search(r'id="backup-now"[^>]*aria-disabled="true"', page, re.S)


def test_warnings_link_issue_keys_of_the_run_s_projects_to_jira(app, client, tenant):
    add_run(app, tenant, projects=[{"id": "1", "key": "CALC", "name": "Calculator"}],
            warnings=["Attachment “a.png” of a step of test CALC-12 is stored in Jira", "UTF-8 is not CALC12-3"])
    _, page = get_page(client, tenant)
    assert f'<a href="{tenant.base_url}/browse/CALC-12" target="_top">CALC-12</a>' in page
    assert "/browse/UTF-8" not in page and "/browse/CALC12-3" not in page


def test_no_runs_is_an_empty_state_with_an_action(app, client, tenant):
    add_credentials(app, tenant)
    _, page = get_page(client, tenant)
    assert re.search(r'<div class="xb-empty" id="runs-empty">', page) and "No backups yet" in page
    assert re.search(r'<button type="button" class="xb-button xb-button-primary" id="runs-empty-action">', page)


def test_a_running_backup_shows_progress_and_no_download(app, client, tenant):
    add_run(app, tenant, status="running", minutes_ago=1)
    _, page = get_page(client, tenant)
    assert 'data-status="running"' in page and "Backing up…" in page and "data-download=" not in page


def test_the_history_is_paged(app, client, tenant):
    for minutes in range(PAGE_SIZE + 3):
        add_run(app, tenant, minutes_ago=minutes + 10)
    _, page = get_page(client, tenant)
    assert page.count('<tr class="xb-run"') == PAGE_SIZE
    assert f"Runs 1–{PAGE_SIZE} of {PAGE_SIZE + 3}" in page
    assert state_of(page)["hasMore"] is True


def test_everything_shown_is_escaped(app, client, tenant):
    add_run(app, tenant, status="failed", message=XSS, warnings=[XSS, {"message": XSS}],
            counts={XSS: 1})
    _, page = get_page(client, tenant)
    assert "<script>alert" not in page and "<img src=x" not in page
    assert str(escape(XSS)) in page
    state = state_of(page)  # the embedded JSON is escaped for HTML too, yet still parses
    assert state["runs"][0]["message"] == XSS


def test_a_removed_snapshot_is_not_offered_for_download(app, client, tenant):
    add_run(app, tenant, deleted_at=utcnow())
    _, page = get_page(client, tenant)
    assert "data-download=" not in page and "Removed by retention" in page


def test_formatters_read_like_the_page():
    now = datetime(2026, 11, 28, 6, 0, tzinfo=timezone.utc)
    fmt = Wording(now)
    assert fmt.time("2026-11-28T09:05:00Z") == "28 Nov 2026, 09:05 UTC"
    assert fmt.relative("2026-11-28T09:05:00Z") == "in 3 hours"
    assert fmt.relative("2026-11-28T05:55:00Z") == "5 minutes ago"
    assert duration(3690) == "1 h 1 min" and duration(45) == "45 s" and duration(None) == "—"
    assert fmt.size(512) == "512 bytes" and fmt.size(1536) == "1.5 KB" and fmt.size(None) == "—"
    assert fmt.counts({"test_runs": 2, "tests": 1000}) == ["1,000 tests", "2 test runs"]
    running = {"status": "running", "startedAt": "2026-11-28T05:58:00Z",
               "progress": {"stage": "tests", "project": "CALC", "counts": {"tests": 1200, "test_runs": 30}}}
    assert fmt.elapsed(running) == "2 min 0 s"
    assert fmt.progress(running) == "Backing up tests in CALC · 1,230 items so far"
    assert fmt.progress({"status": "queued"}) == "Waiting for a worker…"
    assert fmt.lozenge({"status": "succeeded", "warnings": ["w"]}) == ("Succeeded with warnings", "moved")
    assert fmt.lozenge({"status": "queued", "retrying": True}) == ("Running (retrying)", "inprogress")
    assert fmt.changed({"tests": {"added": 2, "modified": 1, "removed": 0}, "attachments": {"added": 1}}) == \
        "3 added · 1 modified"


def test_the_credentials_link_points_at_the_jira_admin_page():
    assert credentials_page_href("https://acme.atlassian.net/", "xray-backup") == (
        "https://acme.atlassian.net/plugins/servlet/ac/xray-backup/xray-credentials"
    )
