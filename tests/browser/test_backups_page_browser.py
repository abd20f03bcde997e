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


def test_the_page_shows_runs_the_chart_and_the_credentials_banner(browser, backups_site, page):
    site = backups_site
    add_history(site, 6)
    failed = add_run(site, status="failed", hours_ago=0.5, message=XSS, counts={}, warnings=[XSS])
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_backups(page, site)

    banner = page.locator("#credentials-banner")
    assert banner.is_visible()
    assert "Scheduled backups will skip Xray data until credentials are saved" in banner.inner_text()
    link = page.locator("#credentials-link")
    assert link.get_attribute("href") == f"{site.tenant.base_url}/plugins/servlet/ac/xray-backup/xray-credentials"
    assert link.get_attribute("target") == "_top"

    rows = page.locator("tr.xb-run")
    assert rows.count() == 7
    assert rows.first.get_attribute("data-run-id") == failed  # newest first
    assert rows.first.locator(".xb-lozenge").inner_text().lower() == "failed"
    assert XSS in rows.first.locator(".xb-run-message").inner_text()  # shown as text, never run
    assert page.evaluate("window.__xss") is None and dialogs == []
    succeeded = rows.nth(1)
    assert "120 tests" in succeeded.inner_text() and "480 test runs" in succeeded.inner_text()
    assert re.search(r"\d+\.\d MB", succeeded.locator(".xb-run-size").inner_text())
    assert re.search(r"\d+ min \d+ s", succeeded.locator(".xb-run-duration").inner_text())

    assert page.locator("#chart svg").count() == 2
    assert page.locator("#chart svg rect.xb-chart-bar").count() == 12  # 6 snapshots × (size, duration)
    assert "6 snapshots" in page.locator("#chart svg desc").first.text_content()
    assert "Next backup:" in page.locator("#next-run").inner_text()
    assert page.evaluate("window.__apStandin.resize") > 0
    assert page.js_errors == []
    screenshot(page, "backups-overview")


def test_the_credentials_link_opens_the_other_admin_page_through_jira(browser, backups_site, page):
    open_backups(page, backups_site)
    page.evaluate("window.AP.navigator = {go: function (target, context) { window.__went = [target, context]; }}")
    page.click("#credentials-link")
    assert page.evaluate("window.__went") == ["addonmodule", {"moduleKey": "xray-credentials"}]
    assert "/pages/backups" in page.url  # Jira navigates the top window; the frame itself stays


def test_no_banner_when_credentials_are_stored(browser, backups_site, page):
    store_credentials(backups_site)
    open_backups(page, backups_site)
    assert page.locator("#credentials-banner").count() == 0


def test_invalid_schedule_shows_field_errors_and_a_valid_one_shows_the_next_run(browser, backups_site, page):
    open_backups(page, backups_site)
    page.fill("#retentionDays", "0")
    page.fill("#timeOfDay", "25:61")
    page.click("#settings-save")
    page.wait_for_selector("#retentionDays-error:not([hidden])")
    assert "whole number from 1" in page.inner_text("#retentionDays-error")
    assert "HH:MM" in page.inner_text("#timeOfDay-error")
    assert page.get_attribute("#retentionDays", "aria-invalid") == "true"
    assert page.locator("#settings-error").is_visible()
    assert page.evaluate("document.activeElement.id") in ("timeOfDay", "retentionDays")
    screenshot(page, "backups-settings-invalid")

    page.select_option("#frequency", "weekly")
    assert page.locator("#day-field").is_visible()
    page.select_option("#dayOfWeek", "2")  # Wednesday
    page.fill("#timeOfDay", "03:30")
    page.fill("#retentionDays", "")
    page.fill("#retentionCount", "14")
    page.click("#settings-save")
    page.wait_for_selector("#settings-saved:has-text('Schedule saved')")
    assert page.locator("#retentionDays-error").is_hidden() and page.locator("#settings-error").is_hidden()
    next_run = datetime.fromisoformat(page.get_attribute("#next-run time", "datetime").replace("Z", "+00:00"))
    assert (next_run.weekday(), next_run.hour, next_run.minute) == (2, 3, 30)
    assert next_run > datetime.now(timezone.utc)
    assert "03:30 UTC" in page.inner_text("#next-run")
    screenshot(page, "backups-settings-saved")

    open_backups(page, backups_site)  # stored: a reload shows the saved schedule
    assert page.input_value("#frequency") == "weekly" and page.input_value("#retentionCount") == "14"
    assert page.input_value("#retentionDays") == ""

    page.uncheck("#enabled")
    page.press("#timeOfDay", "Enter")  # Enter submits
    page.wait_for_selector("#settings-saved:has-text('Scheduled backups are off')")
    assert page.inner_text("#next-run").startswith("Scheduled backups are off.")


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
    assert "queued" in page.inner_text("#notice").lower()
    screenshot(page, "backups-queued")

    with site.app.app_context():  # a worker claims it, as the pool would
        claimed = claim_next("browser-test-worker", utcnow(), 120)
        assert claimed.id == run_id
    page.wait_for_selector(f'tr[data-run-id="{run_id}"][data-status=running]')
    assert page.locator(f'tr[data-run-id="{run_id}"] .xb-progress').is_visible()

    page.click("#backup-now")  # a second one while this one runs
    page.wait_for_selector("#page-error:not([hidden])")
    assert "already in progress" in page.inner_text("#page-error-title")
    assert page.locator("tr.xb-run").count() == 9  # no second run appeared
    screenshot(page, "backups-conflict")

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
    assert "succeeded" in page.inner_text("#notice").lower()
    assert page.locator("#chart svg").first.locator("rect.xb-chart-bar").count() == 9  # the new snapshot joined
    page.locator("#page-error").evaluate("e => e.hidden = true")
    screenshot(page, "backups-succeeded")
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS"):  # the README's picture; not rewritten on every test run
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
    assert page.inner_text("#notice") == "Backup succeeded."


def row_html(page) -> list[str]:
    """Each run row's markup, minus the one attribute that depends on the moment (`title="5 minutes ago"`)."""
    return [re.sub(r' title="[^"]*"', "", html) for html in page.eval_on_selector_all(
        "tr.xb-run", "rows => rows.map(r => r.outerHTML.replace(/>\\s+</g, '><').replace(/\\s+/g, ' '))")]


def test_history_pages_through_older_runs_and_js_rows_match_the_server_rows(browser, backups_site, page):
    for i in range(13):
        add_run(backups_site, hours_ago=13 - i)
    add_run(backups_site, status="failed", hours_ago=0.4, message="Xray rejected the credentials.", counts={},
            trigger="manual")
    add_run(backups_site, status="skipped", hours_ago=0.3, message="No Xray credentials are stored.", counts={})
    add_run(backups_site, hours_ago=0.2, warnings=["2 attachments could not be read", {"message": "a <b>folder</b>"}],
            deleted_at=datetime.now(timezone.utc), counts={"tests": 1234567, "folders": 3, "custom_thing": 1})
    open_backups(page, backups_site)
    server_rows = row_html(page)
    assert len(server_rows) == 10
    assert page.inner_text("#runs-range") == "Runs 1–10 of 16"
    page.click("#runs-older")
    page.wait_for_selector("#runs-range:has-text('Runs 11–16 of 16')")
    assert page.locator("tr.xb-run").count() == 6 and page.is_disabled("#runs-older")
    page.click("#runs-newer")
    page.wait_for_selector("#runs-range:has-text('Runs 1–10 of 16')")
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
        screenshot(page, "backups-narrow")
    finally:
        context.close()


def test_keyboard_users_reach_every_control_in_order(browser, backups_site, page):
    add_run(backups_site)
    open_backups(page, backups_site)
    seen = []
    for _ in range(40):
        page.keyboard.press("Tab")
        seen.append(page.evaluate("document.activeElement.id || document.activeElement.getAttribute('data-download') "
                                  "&& 'download' || document.activeElement.tagName"))
    order = [s for s in ["backup-now", "credentials-link", "enabled", "frequency", "timeOfDay", "retentionDays",
                         "retentionCount", "settings-save", "download"] if s in seen]
    assert order == ["backup-now", "credentials-link", "enabled", "frequency", "timeOfDay", "retentionDays",
                     "retentionCount", "settings-save", "download"]
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
        assert frame.locator("#notice").inner_text().startswith("Download started")  # the frame stayed put
        screenshot(page, "backups-in-jira-frame")
        frame.locator("#credentials-link").click()  # no AP.navigator in the stand-in: the plain link, top window
        page.wait_for_url(f"{jira.url}/plugins/servlet/ac/xray-backup/xray-credentials")
    finally:
        context.close()
