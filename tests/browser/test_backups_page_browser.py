"""The Backups page in headless Chromium against the live app, the fake Jira and the Xray simulator.

Backups started from the page are executed by the real worker code (claim, then the real runner against the
Xray simulator); the history that fills the chart and pager is inserted through the models, as the scheduler
would have recorded it. The README picture is retaken with
`UPDATE_DOCS_SCREENSHOTS=1 .venv/bin/python -m pytest tests/browser/test_backups_page_browser.py -k real_backup`.
"""
from __future__ import annotations

import io
import json
import os
import re
import threading
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from tests.support.axe import assert_accessible
from tests.support.browser import ROOT, make_page, screenshot

XSS = '<img src=x onerror="window.__xss=1">"><script>window.__xss=2</script>'


@pytest.fixture
def backups_site(site):
    """The live site with no runs, default settings and no stored credentials."""
    from sqlalchemy import delete

    from app.extensions import db
    from app.models import BackupRun, BackupSettings, DownloadLink

    def clear():
        with site.app.app_context():
            for model in (DownloadLink, BackupRun, BackupSettings):
                db.session.execute(delete(model))
            db.session.commit()

    clear()
    site.xray.set_faults()
    yield site
    site.xray.set_faults()
    clear()


def add_run(site, *, status="succeeded", hours_ago=1.0, seconds=95, size=3_500_000, tenant=None, **fields) -> str:
    from app.extensions import db
    from app.models import BackupRun

    started = datetime.now(timezone.utc) - timedelta(hours=hours_ago)
    with site.app.app_context():
        run = BackupRun(
            tenant_id=(tenant or site.tenant).id, status=status, trigger=fields.pop("trigger", "scheduled"),
            queued_at=started - timedelta(seconds=2), started_at=started,
            finished_at=None if status in ("queued", "running") else started + timedelta(seconds=seconds),
            bytes=size if status == "succeeded" else None,
            counts=fields.pop("counts", {"tests": 120, "test_runs": 480, "attachments": 6}),
            snapshot_key=f"tenants/{'0' * 32}/history{int(hours_ago * 10)}" if status == "succeeded" else None,
            **fields,
        )
        db.session.add(run)
        db.session.commit()
        return run.id


def add_history(site, n=8):
    for i in range(n):
        add_run(site, hours_ago=24 * (n - i), seconds=80 + 9 * i + (i % 3) * 20,
                size=2_800_000 + i * 260_000 + (i % 2) * 400_000)


def store_credentials(site):
    from app.extensions import db
    from app.models import Tenant
    from app.services import services_of

    client_id, secret = site.valid_pair
    with site.app.app_context():
        services_of(site.app).credentials.save(db.session.get(Tenant, site.tenant.id), "admin-account",
                         {"clientId": client_id, "clientSecret": secret})


def open_backups(page, site):
    page.goto(site.page_url("/pages/backups"))
    page.wait_for_selector("html[data-backups-ready=true]")


def status_of(page, run_id: str) -> str:
    return page.get_attribute(f'tr[data-run-id="{run_id}"]', "data-status")


# ------------------------------------------------------------------------------------------------------


def flags(page) -> list[dict]:
    """The AP.flag calls the page made (the local stand-in records them)."""
    return page.evaluate("window.__apStandin.flags")


def wait_for_flag(page, title: str):
    page.wait_for_function("t => window.__apStandin.flags.some(f => f.title === t)", arg=title)
    return [f for f in flags(page) if f["title"] == title][-1]


def settle_run(site, run_id: str, outcome, retry=None):
    """End (or retry) a running run through the one terminal transition, with the alerts' hook."""
    from app.backups.runs.status import settle
    from app.models import utcnow
    from app.services import services_of

    with site.app.app_context():
        return settle(run_id, "browser-test-worker", utcnow(), outcome, retry, ended=services_of(site.app).run_ended)


def test_waiting_for_credentials_is_one_state_with_an_action_not_a_row_per_day(browser, backups_site, page, axe_source):
    from app.backups.runs.enqueue import enqueue_due
    from app.extensions import db
    from app.models import BackupSettings, utcnow

    site = backups_site
    with site.app.app_context():  # three daily slots pass while no credentials are stored
        now = utcnow()
        for day in (3, 2, 1):
            enqueue_due(now - timedelta(days=day))
            db.session.execute(db.update(BackupSettings).values(next_run_at=now - timedelta(days=day - 1, hours=1)))
            db.session.commit()
    open_backups(page, site)
    assert page.get_attribute("#health", "data-state") == "waiting_for_credentials"
    assert page.inner_text("#health-lozenge").lower() == "waiting for credentials"
    assert "No Xray credentials are saved" in page.inner_text("#health-message")
    assert page.locator("tr.xb-run").count() == 0  # no skipped row per day
    assert page.locator("#runs-empty").is_visible() and page.inner_text("#runs-empty-title") == "No backups yet"
    link = page.locator("#runs-empty-credentials")
    assert link.is_visible() and link.get_attribute("target") == "_top"
    assert link.get_attribute("href") == f"{site.tenant.base_url}/plugins/servlet/ac/xray-backup/xray-credentials"
    assert page.locator("#credentials-link").is_visible()
    assert page.js_errors == []
    screenshot(page, "backups-waiting-for-credentials")
    assert_accessible(page, axe_source)


def test_the_health_summary_answers_are_my_backups_ok(browser, backups_site, page, axe_source):
    site = backups_site
    store_credentials(site)
    add_history(site, 6)
    add_run(site, hours_ago=0.5, projects=[{"id": "1", "key": "CALC", "name": "Calculator"},
                                           {"id": "2", "key": "DEMO", "name": "Demo"}])
    open_backups(page, site)
    assert page.get_attribute("#health", "data-state") == "healthy"
    assert page.inner_text("#health-message-title") == "Backups are OK"
    assert "minutes ago" in page.inner_text("#health-last-success")
    assert "UTC" in page.inner_text("#health-next")
    assert page.inner_text("#health-projects") == "2: CALC, DEMO"
    assert re.search(r"\d+\.\d MB", page.inner_text("#health-storage"))
    top = page.locator("#health").bounding_box()
    assert top["y"] < 200  # the answer is at the top, not below the schedule form
    assert page.locator("#backup-now").is_visible() and page.locator("#edit-schedule").is_visible()
    page.click("#edit-schedule")
    assert page.evaluate("document.activeElement.id") == "enabled"
    assert page.locator("#chart svg rect.xb-chart-bar").count() == 14  # 7 snapshots × (size, duration)
    assert page.js_errors == []
    screenshot(page, "backups-healthy")
    assert_accessible(page, axe_source)


def test_a_retrying_run_stays_running_with_one_duration_and_its_attempts(browser, backups_site, page, axe_source):
    from app.backups.runs.status import RetryPolicy, RunOutcome

    site = backups_site
    store_credentials(site)
    add_history(site, 3)
    run_id = add_run(site, status="running", hours_ago=140 / 3600, counts=None, worker_id="browser-test-worker",
                     attempts=1, first_started_at=datetime.now(timezone.utc) - timedelta(seconds=140))
    settle_run(site, run_id, RunOutcome.failed(
        "Xray did not respond while reading tests of project CALC, so nothing was saved. Xray may be down or "
        "overloaded; try again later.", retryable=True, reason="xray_unavailable",
        detail="Xray kept failing for authenticate (HTTP 503) after 6 attempts"), RetryPolicy(delay=600))
    open_backups(page, site)
    row = page.locator(f'tr[data-run-id="{run_id}"]')
    assert row.get_attribute("data-status") == "queued" and row.get_attribute("data-retrying") == "true"
    assert row.locator(".xb-lozenge").inner_text().lower() == "running (retrying)"
    assert row.locator(".xb-progress-text").inner_text() == "Attempt 1 failed; trying again shortly…"
    assert re.match(r"2 min \d+ s", row.locator(".xb-run-duration").inner_text())  # from the first attempt
    assert "Xray did not respond" in row.locator(".xb-run-message").inner_text()
    assert not row.locator(".xb-run-detail").evaluate("d => d.open")
    row.locator(".xb-run-detail summary").click()
    assert "HTTP 503" in row.locator(".xb-run-detail code").inner_text()
    assert page.get_attribute("#backup-now", "aria-disabled") == "true"
    assert page.locator("#backup-now-reason").is_visible()
    page.click("#backup-now", force=True)  # disabled with its reason: nothing happens, no message piles up
    assert page.evaluate("document.activeElement.id") == "backup-now"
    assert page.locator("tr.xb-run").count() == 4 and page.locator("#page-error").is_hidden()
    screenshot(page, "backups-running-with-retries")
    assert_accessible(page, axe_source)


def test_failed_runs_say_what_to_do_and_offer_it(browser, backups_site, page, axe_source):
    from app.backups.runs.status import RunOutcome

    site = backups_site
    store_credentials(site)
    add_history(site, 2)
    add_run(site, status="failed", hours_ago=30, counts={}, reason="credentials_rejected", attempts=1,
            message="Xray rejected the saved API key (Client ID and Client Secret). Check or renew it on the Xray "
                    "Credentials page, then run the backup again.")
    run_id = add_run(site, status="running", hours_ago=0.05, counts=None, worker_id="browser-test-worker", attempts=3)
    settle_run(site, run_id, RunOutcome.failed(
        "Xray did not respond while reading tests of project CALC, so nothing was saved. Xray may be down or "
        "overloaded; try again later.", reason="xray_unavailable",
        detail="Xray kept failing for authenticate (HTTP 503) after 6 attempts"))
    open_backups(page, site)
    assert page.get_attribute("#health", "data-state") == "failing"
    assert page.get_attribute("#health-message", "class") == "xb-message xb-message-error"
    row = page.locator(f'tr[data-run-id="{run_id}"]')
    assert row.locator(".xb-lozenge").inner_text().lower() == "failed"
    assert row.locator(".xb-run-attempts").inner_text() == "3 attempts"
    assert "HTTP 503" not in row.locator(".xb-run-message").inner_text()  # transport words stay in the disclosure
    assert row.locator("[data-retry]").is_visible() and row.locator("[data-test-connection]").is_visible()
    rejected = page.locator("tr.xb-run[data-status=failed]").nth(1)
    assert rejected.locator("a[data-credentials-link]").inner_text() == "Update credentials"
    screenshot(page, "backups-failed-with-actions")
    assert_accessible(page, axe_source)

    row.locator("[data-test-connection]").click()
    assert wait_for_flag(page, "Connection works")["type"] == "success"
    assert page.evaluate("document.activeElement.getAttribute('data-test-connection')") == ""  # focus stayed

    row.locator("[data-retry]").click()
    wait_for_flag(page, "Backup queued")
    page.wait_for_selector("tr.xb-run[data-status=queued]")
    assert page.locator("tr.xb-run").first.get_attribute("data-status") == "queued"
    assert page.get_attribute("#backup-now", "aria-disabled") == "true"
    assert page.evaluate("document.activeElement.id") == "backup-now"  # not <body>
    assert len([f for f in flags(page) if f["title"] == "Backup queued"]) == 1
    assert page.js_errors == []


def test_warnings_get_their_own_state_and_link_issue_keys_to_jira(browser, backups_site, page, axe_source):
    site = backups_site
    store_credentials(site)
    add_history(site, 2)
    run_id = add_run(site, hours_ago=0.2, projects=[{"id": "1", "key": "CALC", "name": "Calculator"}], warnings=[
        "Attachment “screenshot.png” of a step of test CALC-12 is stored in Jira, not in Xray: its file is not in "
        "this snapshot (Jira's own backup has it)",
        "Attachment “log.txt” of the run of test CALC-7 in CALC-40 is stored in Jira, not in Xray: its file is not "
        "in this snapshot (Jira's own backup has it)"] + [f"Attachment “f{i}.txt” of a step of test CALC-{i} is "
                                                          "stored in Jira" for i in range(3)])
    open_backups(page, site)
    assert page.get_attribute("#health", "data-state") == "warnings"
    row = page.locator(f'tr[data-run-id="{run_id}"]')
    assert row.locator(".xb-lozenge").inner_text().lower() == "succeeded with warnings"
    assert "xb-lozenge-moved" in row.locator(".xb-lozenge").get_attribute("class")
    row.locator(".xb-warnings summary").click()
    assert row.locator(".xb-warnings summary").inner_text() == "5 warnings"
    links = row.locator(".xb-warnings a")
    assert links.first.get_attribute("href") == f"{site.tenant.base_url}/browse/CALC-12"
    assert links.first.get_attribute("target") == "_top"
    assert [links.nth(i).inner_text() for i in range(1, 3)] == ["CALC-7", "CALC-40"]
    screenshot(page, "backups-warnings")
    assert_accessible(page, axe_source)


def test_history_filters_by_status(browser, backups_site, page):
    site = backups_site
    store_credentials(site)
    add_history(site, 4)
    failed = add_run(site, status="failed", hours_ago=0.3, counts={}, message="Xray did not respond.")
    open_backups(page, site)
    page.select_option("#history-filter", "failed,skipped")
    page.wait_for_function("() => document.querySelectorAll('tr.xb-run').length === 1")
    assert [r.get_attribute("data-run-id") for r in page.locator("tr.xb-run").all()] == [failed]
    page.select_option("#history-filter", "queued,running")
    page.wait_for_selector("#runs-empty:not([hidden])")
    assert page.inner_text("#runs-empty-title") == "No runs match this filter"
    page.click("#runs-empty-all")
    page.wait_for_selector("tr.xb-run >> nth=4")
    assert page.input_value("#history-filter") == "" and page.evaluate("document.activeElement.id") == "history-filter"


def test_alert_settings_save_and_send_a_test_to_each_channel(browser, backups_site, page, axe_source,
                                                             webhook_receiver):
    site = backups_site
    store_credentials(site)
    add_history(site, 2)
    open_backups(page, site)
    page.fill("#emails", "ops@example.com, not an address")
    page.click("#alerts-save")
    page.wait_for_selector("#emails-error:not([hidden])")
    assert "is not an e-mail address" in page.inner_text("#emails-error")
    assert page.evaluate("document.activeElement.id") == "emails"
    page.fill("#emails", "ops@example.com\nlead@example.com")
    page.fill("#webhookUrl", webhook_receiver.url + "/services/T0/B0/secret-part")
    page.uncheck("#notify-stale")
    page.click("#alerts-save")
    wait_for_flag(page, "Alert settings saved")
    assert page.locator("#alerts-error").is_hidden() and page.locator("#emails-error").is_hidden()
    assert page.inner_text("#webhook-set-text") == "A webhook to 127.0.0.1 is set up."
    assert page.input_value("#webhookUrl") == ""  # never shown again
    assert not secret_part_in_dom(page)
    page.click("#alerts-test")
    flag = wait_for_flag(page, "Test alert sent")
    assert flag["body"] == "E-mail: sent. Webhook: sent."
    assert page.evaluate("document.activeElement.id") == "alerts-test"
    assert len(site.smtp.messages) == 1 and site.smtp.messages[0][1] == ["ops@example.com", "lead@example.com"]
    assert [d["event"] for d in webhook_receiver.deliveries()] == ["test"]
    screenshot(page, "backups-alert-settings-test-sent")
    assert_accessible(page, axe_source)

    open_backups(page, site)  # stored: a reload shows them
    assert page.input_value("#emails") == "ops@example.com, lead@example.com"
    assert not page.is_checked("#notify-stale") and page.is_checked("#notify-failed")
    page.click("#webhook-remove")
    wait_for_flag(page, "Webhook removed")
    assert page.locator("#webhook-set").is_hidden() and page.evaluate("document.activeElement.id") == "webhookUrl"


def secret_part_in_dom(page) -> bool:
    return page.evaluate("document.documentElement.outerHTML.includes('secret-part')")


def test_the_credentials_link_opens_the_other_admin_page_through_jira(browser, backups_site, page):
    open_backups(page, backups_site)
    page.evaluate("window.AP.navigator = {go: function (target, context) { window.__went = [target, context]; }}")
    page.click("#credentials-link")
    assert page.evaluate("window.__went") == ["addonmodule", {"moduleKey": "xray-credentials"}]
    assert "/pages/backups" in page.url  # Jira navigates the top window; the frame itself stays


def test_invalid_schedule_focuses_the_first_invalid_field_and_a_valid_one_is_saved_in_local_time(
        browser, backups_site):
    from app.extensions import db
    from app.models import BackupSettings

    site = backups_site
    store_credentials(site)
    context, page = make_page(browser, site, timezone_id="Europe/Berlin")
    try:
        open_backups(page, site)
        assert page.inner_text("#timezone-name") == "(Europe/Berlin)"
        page.select_option("#retentionPreset", "custom")
        page.fill("#retentionDays", "")
        page.fill("#retentionCount", "")
        page.click("#settings-save")
        page.wait_for_selector("#retentionDays-error:not([hidden])")
        assert page.inner_text("#retentionDays-error") == "Fill in at least one of the two boxes."
        assert page.evaluate("document.activeElement.id") == "retentionDays"
        page.fill("#retentionDays", "0")
        page.fill("#retentionCount", "many")
        page.click("#settings-save")
        page.wait_for_selector("#retentionCount-error:not([hidden])")
        assert page.evaluate("document.activeElement.id") == "retentionDays"  # the first on screen
        screenshot(page, "backups-settings-invalid")

        page.select_option("#frequency", "weekly")
        assert page.locator("#day-field").is_visible()
        page.select_option("#dayOfWeek", "2")  # Wednesday, Berlin time
        page.fill("#timeOfDay", "00:30")
        assert "Tuesday 23:30 UTC" in page.inner_text("#timeOfDay-help")
        page.select_option("#retentionPreset", "365")
        assert page.locator("#retention-custom").is_hidden()
        page.click("#settings-save")
        wait_for_flag(page, "Schedule saved")
        page.wait_for_function("() => { const t = document.querySelector('#health-next time');"
                               " return t && t.getAttribute('datetime').endsWith('T23:30:00Z'); }")
        with site.app.app_context():
            saved = db.session.get(BackupSettings, site.tenant.id)
            assert (saved.frequency, saved.day_of_week, saved.time_of_day) == ("weekly", 1, "23:30")
            assert (saved.retention_days, saved.retention_count) == (365, None)
        next_run = datetime.fromisoformat(page.get_attribute("#health-next time", "datetime").replace("Z", "+00:00"))
        assert (next_run.weekday(), next_run.hour, next_run.minute) == (1, 23, 30)

        open_backups(page, site)  # stored: a reload shows it in local time again
        assert page.input_value("#frequency") == "weekly" and page.input_value("#dayOfWeek") == "2"
        assert page.input_value("#timeOfDay") == "00:30" and page.input_value("#retentionPreset") == "365"

        page.uncheck("#enabled")  # off: the schedule's fields are disabled
        assert page.is_disabled("#frequency") and page.is_disabled("#timeOfDay")
        page.click("#settings-save")
        assert wait_for_flag(page, "Schedule saved")["body"] == "Scheduled backups are off."
        page.wait_for_selector("#health-next:text-is('Scheduled backups are off')")
        assert page.evaluate("document.activeElement.id") == "settings-save"
    finally:
        context.close()


def test_back_up_now_runs_a_real_backup_with_live_progress_then_downloads_it(browser, backups_site, page, tmp_path):
    from app.backups.runs.claims import claim_next
    from app.backups.runs.runner import execute_run
    from app.backups.runs.status import settle
    from app.models import utcnow
    from app.services import services_of

    site = backups_site
    store_credentials(site)
    add_history(site, 8)
    site.xray.set_faults(latency_ms=40)  # slow enough to watch the run progress
    open_backups(page, site)

    page.click("#backup-now")
    page.wait_for_selector("tr.xb-run[data-status=queued]")
    run_id = page.get_attribute("tr.xb-run >> nth=0", "data-run-id")
    assert wait_for_flag(page, "Backup queued")["type"] == "info"
    assert page.evaluate("document.activeElement.id") == "backup-now"  # a loading button keeps focus
    screenshot(page, "backups-queued")

    with site.app.app_context():  # a worker claims it, as the pool would
        claimed = claim_next("browser-test-worker", utcnow(), 120)
        assert claimed.id == run_id
    page.wait_for_selector(f'tr[data-run-id="{run_id}"][data-status=running]')
    assert page.locator(f'tr[data-run-id="{run_id}"] .xb-progress').is_visible()

    assert page.get_attribute("#backup-now", "aria-disabled") == "true"  # a second one while this one runs:
    assert "in progress" in page.inner_text("#backup-now-reason")        # disabled, saying why
    page.click("#backup-now", force=True)
    assert page.locator("tr.xb-run").count() == 9  # no second run appeared
    assert page.locator("#page-error").is_hidden()

    def work():
        with site.app.app_context():
            outcome = execute_run(run_id, services_of(site.app))
            settle(run_id, "browser-test-worker", utcnow(), outcome)

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    page.wait_for_function(
        "id => { const p = document.querySelector(`tr[data-run-id='${id}'] .xb-progress-text`);"
        " return p && /items so far/.test(p.textContent); }", arg=run_id, timeout=60000)
    screenshot(page, "backups-running")
    worker.join(120)
    page.wait_for_selector(f'tr[data-run-id="{run_id}"][data-status=succeeded]', timeout=30000)
    row = page.locator(f'tr[data-run-id="{run_id}"]')
    assert row.locator(".xb-run-size").inner_text() != "—"
    shown = [re.sub(r"^[\d,]+ ", "", item) for item in row.locator(".xb-counts li").all_inner_texts()]
    assert shown[:2] == ["tests", "preconditions"]  # the same order as the server renders
    # The simulator keeps some files in Jira: the run succeeds with warnings, and says so.
    assert wait_for_flag(page, "Backup succeeded with warnings")["type"] == "warning"
    assert page.locator("#chart svg").first.locator("rect.xb-chart-bar").count() == 9  # the new snapshot joined
    page.wait_for_selector("#backup-now:not([aria-disabled])")  # the health summary caught up
    assert page.get_attribute("#health", "data-state") in ("healthy", "warnings")
    assert page.inner_text("#health-projects").startswith("2: ")  # the simulator's projects
    assert page.locator("#page-error").is_hidden()  # nothing stale left behind
    screenshot(page, "backups-succeeded")
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS"):  # the README's picture; not rewritten on every test run
        page.evaluate("document.querySelectorAll('.ap-standin-flag').forEach(f => f.remove())")
        page.screenshot(path=str(ROOT / "docs" / "screenshots" / "backups.png"), full_page=True)

    with page.expect_download() as info:
        row.locator("[data-download]").click()
    download = info.value
    assert re.fullmatch(r"xray-backup-127-0-0-1-\d{4}-\d\d-\d\d-\d{4}\.zip", download.suggested_filename)
    assert "jwt" not in download.url
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    archive = zipfile.ZipFile(io.BytesIO(saved.read_bytes()))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["format"] == "xray-backup/1" and manifest["runId"] == run_id
    for entity in manifest["entities"].values():
        assert entity["file"] in archive.namelist()
    assert page.js_errors == []
    again = page.goto(download.url)  # single use: the second visit gets a page saying so
    assert again.status == 410
    assert "already used" in page.inner_text("main") and "Download link no longer valid" in page.inner_text("h1")
    screenshot(page, "backups-link-used")


def test_a_scheduled_run_that_starts_while_the_page_is_open_appears_and_goes_live(browser, backups_site, page):
    from app.extensions import db
    from app.models import BackupRun

    add_run(backups_site, hours_ago=5)
    page.add_init_script("window.__xbNewRunCheckMs = 300")
    open_backups(page, backups_site)
    run_id = add_run(backups_site, status="running", hours_ago=0.01, counts=None,
                     progress={"stage": "test runs", "project": "CALC", "counts": {"tests": 40, "test_runs": 2}})
    page.wait_for_selector(f'tr[data-run-id="{run_id}"][data-status=running]')
    progress = page.inner_text(f'tr[data-run-id="{run_id}"] .xb-progress-text')
    assert progress == "Backing up test runs in CALC · 42 items so far"
    with backups_site.app.app_context():
        run = db.session.get(BackupRun, run_id)
        run.status, run.finished_at, run.progress = "succeeded", datetime.now(timezone.utc), None
        run.counts, run.bytes = {"tests": 40, "test_runs": 9}, 2048
        db.session.commit()
    page.wait_for_selector(f'tr[data-run-id="{run_id}"][data-status=succeeded]')
    assert "9 test runs" in page.inner_text(f'tr[data-run-id="{run_id}"]')
    assert wait_for_flag(page, "Backup succeeded")["body"] == ""


def row_html(page) -> list[str]:
    """Each run row's markup, minus the one attribute that depends on the moment (`title="5 minutes ago"`)."""
    return [re.sub(r' title="[^"]*"', "", html) for html in page.eval_on_selector_all(
        "tr.xb-run", "rows => rows.map(r => r.outerHTML.replace(/>\\s+</g, '><').replace(/\\s+/g, ' '))")]


def test_history_pages_through_older_runs_and_js_rows_match_the_server_rows(browser, backups_site, page):
    for i in range(13):
        add_run(backups_site, hours_ago=13 - i)
    add_run(backups_site, status="failed", hours_ago=0.4, message="Xray rejected the credentials.", counts={},
            trigger="manual", reason="credentials_rejected", attempts=1)
    add_run(backups_site, status="skipped", hours_ago=0.3, message="No Xray credentials are stored.", counts={},
            reason="credentials_missing")
    add_run(backups_site, status="failed", hours_ago=0.25, message="Xray did not respond.", counts={}, attempts=3,
            reason="xray_unavailable", detail="Xray kept failing (HTTP 503)")
    add_run(backups_site, hours_ago=0.2, warnings=["2 attachments could not be read", {"message": "a <b>folder</b>"},
                                                   "test CALC-12 and CALC-9 in DEMO-1"],
            projects=[{"id": "1", "key": "CALC", "name": "Calc"}], deleted_at=datetime.now(timezone.utc), counts={"tests": 1234567, "folders": 3, "custom_thing": 1})
    open_backups(page, backups_site)
    server_rows = row_html(page)
    assert len(server_rows) == 10
    assert page.inner_text("#runs-range") == "Runs 1–10 of 17"
    page.click("#runs-older")
    page.wait_for_selector("#runs-range:has-text('Runs 11–17 of 17')")
    assert page.locator("tr.xb-run").count() == 7 and page.get_attribute("#runs-older", "aria-disabled") == "true"
    assert page.evaluate("document.activeElement.id") == "runs-older"  # focus stays on the pressed button
    page.click("#runs-newer")
    page.wait_for_selector("#runs-range:has-text('Runs 1–10 of 17')")
    assert row_html(page) == server_rows  # backups.js renders exactly what the template rendered


def test_the_page_works_at_320_pixels(browser, backups_site):
    add_history(backups_site, 5)
    add_run(backups_site, status="failed", hours_ago=0.2, message="Xray could not be reached after 6 attempts.")
    context, page = make_page(browser, backups_site, width=320, height=800)
    try:
        open_backups(page, backups_site)
        assert page.evaluate("document.documentElement.scrollWidth") <= 320
        assert page.locator("tr.xb-run").first.is_visible()
        assert page.locator("#backup-now").is_visible() and page.locator("#settings-save").is_visible()
        assert page.locator("#alerts-test").is_visible()
        screenshot(page, "backups-narrow")
    finally:
        context.close()


def test_keyboard_users_reach_every_control_in_order(browser, backups_site, page):
    add_run(backups_site)
    open_backups(page, backups_site)
    seen = []
    for _ in range(60):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("document.activeElement.id || document.activeElement.getAttribute('data-download') "
                                  "&& 'download' || document.activeElement.tagName"))
    expected = ["credentials-link", "backup-now", "edit-schedule", "history-filter", "download", "enabled",
                "frequency", "timeOfDay", "retentionPreset", "settings-save", "emails", "webhookUrl", "notify-failed",
                "notify-recovered", "alerts-save", "alerts-test"]
    order = [s for s in expected if s in seen]
    assert order == expected
    assert [seen.index(s) for s in order] == sorted(seen.index(s) for s in order)
    labels = page.evaluate("""[...document.querySelectorAll('input, select')].filter(e => !e.closest('[hidden]'))
        .map(e => !!(e.labels && e.labels.length))""")
    assert all(labels)



def publish_small_snapshot(site, tenant) -> str:
    """A succeeded run whose snapshot really is in the live app's storage (encrypted, as the runner leaves it)."""
    import gzip

    from app.backups.lifecycle.datakeys import data_key_for
    from app.services import current_services, services_of
    from app.extensions import db
    from app.models import BackupRun, Tenant, utcnow

    run_id = add_run(site, hours_ago=2, tenant=tenant)
    with site.app.app_context():
        row = db.session.get(Tenant, tenant.id)
        run = db.session.get(BackupRun, run_id)
        folder = Path(services_of(site.app).config.instance_path) / f"local-{run_id}"
        folder.mkdir()
        (folder / "tests.jsonl.gz").write_bytes(gzip.compress(b'{"issueId": "1"}\n'))
        (folder / "manifest.json").write_text(json.dumps({"format": "xray-backup/1", "runId": run_id}))
        store = services_of(site.app).store
        run.snapshot_key = store.publish(row.client_key, run_id, folder, data_key_for(row, utcnow(), current_services().sealer))
        db.session.commit()
    return run_id


@pytest.fixture
def dev_jira(backups_site):
    """The dev host's Jira (a fake Jira serving the Jira-like admin frame), installed into the live app.

    It is a real loopback server: Chromium's local-network checks let a loopback page frame a loopback app.
    """
    from sim.devhost import DevJira
    from tests.support.connect import install_tenant

    jira = DevJira(port=0, app_url=backups_site.url).start()
    tenant = install_tenant(backups_site.app, jira)
    yield jira, tenant
    jira.stop()


def test_inside_the_jira_frame_the_page_resizes_downloads_and_links_to_the_credentials_page(
    browser, backups_site, dev_jira
):
    """The page in the iframe of a Jira-like admin page on another origin, as inside Jira (the dev host)."""
    from tests.support.browser import CDN, STANDIN

    site = backups_site
    jira, tenant = dev_jira
    run_id = publish_small_snapshot(site, tenant)
    admin_page = f"{jira.url}/plugins/servlet/ac/xray-backup/backups"
    standin = STANDIN.read_text()

    def answer(route):
        url = route.request.url
        if url.split("?")[0] == CDN + "/all.js":
            return route.fulfill(status=200, content_type="application/javascript", body=standin)
        if url.startswith(site.url + "/") or url.startswith(jira.url + "/"):
            return route.continue_()
        return route.abort()

    context = browser.new_context(viewport={"width": 1280, "height": 800}, accept_downloads=True)
    context.route("**/*", answer)
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        page.goto(admin_page)
        frame = page.frame_locator("#app-frame")
        frame.locator("html[data-backups-ready=true]").wait_for(state="attached")
        page.wait_for_function("document.getElementById('app-frame').offsetHeight > 600")  # AP.resize reached Jira
        with page.expect_download() as info:
            frame.locator(f'[data-download="{run_id}"]').click()
        archive = zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes()))
        assert json.loads(archive.read("manifest.json"))["runId"] == run_id
        frame.locator(".ap-standin-flag", has_text="Download started").wait_for()  # the frame stayed put
        screenshot(page, "backups-in-jira-frame")
        frame.locator("#credentials-link").click()  # no AP.navigator in the stand-in: the plain link, top window
        page.wait_for_url(f"{jira.url}/plugins/servlet/ac/xray-backup/xray-credentials")
    finally:
        context.close()
