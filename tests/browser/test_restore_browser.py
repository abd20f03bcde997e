"""The snapshot explorer and restore flow in headless Chromium, against the live app, the fake Jira and the Xray
simulator: open a real snapshot, search it, view a test, tick what was lost, preview, restore with live progress,
read the report (links to the new issues, CSV download), and upload a snapshot zip. Restores are executed by the
real restore code in a worker thread, as the pool would run them.
"""
from __future__ import annotations

import csv
import io
import os
import threading
import time

import pytest

from tests.support.browser import ROOT, screenshot
from tests.support.restore import browser_site_with_xray_data


@pytest.fixture
def restore_site(site):
    """The live site holding the simulator's projects, users, components and versions, with credentials saved,
    and a restore worker."""
    with browser_site_with_xray_data(site):
        stop = threading.Event()
        worker = threading.Thread(target=_work, args=(site.app, stop), daemon=True)
        worker.start()
        yield site
        stop.set()
        worker.join(30)


def _work(app, stop: threading.Event) -> None:
    """A worker for restores: claim, run with the real engine, settle."""
    from app.models import utcnow
    from app.restore.jobs import claim_next_restore, settle_restore
    from app.restore.runner import execute_restore
    from app.services import services_of
    from tests.support.restore import fast_client

    while not stop.is_set():
        with app.app_context():
            restore_id = claim_next_restore("browser-restore-worker", utcnow(), 120)
            if restore_id is not None:
                # Unpaced: the session's other browser tests have used the live site's shared Xray budget.
                outcome = execute_restore(restore_id, services_of(app), settle_seconds=1.0, client_factory=fast_client)
                if outcome is not None:
                    settle_restore(restore_id, "browser-restore-worker", utcnow(), outcome)
                continue
        time.sleep(0.2)


def _backup(site) -> str:
    from app.backups.runs.claims import claim_next
    from app.backups.runs.enqueue import enqueue_manual
    from app.backups.runs.runner import execute_run
    from app.backups.runs.status import settle
    from app.extensions import db
    from app.models import Tenant, utcnow
    from app.services import services_of
    from tests.support.restore import fast_client

    with site.app.app_context():
        enqueue_manual(db.session.get(Tenant, site.tenant.id), utcnow())
        run = claim_next("browser-backup-worker", utcnow(), 120)
        outcome = execute_run(run.id, services_of(site.app), client_factory=fast_client)
        settle(run.id, "browser-backup-worker", utcnow(), outcome)
        return run.id


def open_backups(page, site):
    page.add_init_script("window.__xbRestorePollMs = 300")
    page.goto(site.page_url("/pages/backups"))
    page.wait_for_selector("html[data-backups-ready=true][data-explorer-ready=true]")


def test_an_admin_finds_lost_items_previews_restores_and_reads_the_report(browser, restore_site, page):
    site = restore_site
    ds = site.xray.dataset
    run_id = _backup(site)
    test = next(t for t in ds.tests if t["projectId"] == "10000" and t["steps"] and ds.runs_by_test.get(t["issueId"])
                and ds.member_of.get(("sets", t["issueId"])))
    test_set = next(s for s in ds.test_sets if s["projectId"] == "10001")
    test_key, set_key = test["jira"]["key"], test_set["jira"]["key"]
    runs = len(ds.runs_by_test[test["issueId"]])
    site.xray.delete(test["issueId"])
    site.xray.delete(test_set["issueId"])
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_backups(page, site)

    page.click(f'tr[data-run-id="{run_id}"] [data-explore]')
    page.wait_for_selector("#ex-items tr[data-item]")
    assert page.locator("#explorer").is_visible() and page.locator("#backup-now").is_hidden()
    assert page.locator("#ex-projects tr").count() == 4
    assert "tests" in page.inner_text("#ex-projects")
    screenshot(page, "explorer-projects")

    page.fill("#ex-q", test_key)
    page.click("#ex-search-button")
    page.wait_for_selector(f'#ex-items tr[data-item="{test["issueId"]}"]')
    page.click(f'#ex-items tr[data-item="{test["issueId"]}"] [data-view]')
    page.wait_for_selector("#ex-detail:not([hidden])")
    detail = page.inner_text("#ex-detail")
    assert test_key in detail and f"{len(test['steps'])} step" in detail
    assert f"{runs} test run" in detail
    screenshot(page, "explorer-test-detail")
    page.click("#ex-detail-back")
    page.check(f'#ex-items tr[data-item="{test["issueId"]}"] input[type=checkbox]')
    page.fill("#ex-q", set_key)
    page.click("#ex-search-button")
    page.wait_for_selector(f'#ex-items tr[data-item="{test_set["issueId"]}"]')
    page.check(f'#ex-items tr[data-item="{test_set["issueId"]}"] input[type=checkbox]')
    assert test_key in page.inner_text("#ex-selection") and set_key in page.inner_text("#ex-selection")
    assert page.input_value('select[data-target-for="ALPHA"]') == "ALPHA"
    assert page.is_disabled("#ex-run")

    page.click("#ex-preview")
    page.wait_for_selector("#ex-plan:not([hidden])")
    words = page.inner_text("#ex-plan")
    assert "create 1 test and 1 test set" in words or "create 1 test, 1 test set" in words, words
    assert "Xray cannot take back exactly" in words
    assert len(ds.tests) == sum(1 for _ in ds.tests) and not any(t["jira"]["key"] == test_key for t in ds.tests)
    screenshot(page, "explorer-preview")

    site.xray.set_faults(latency_ms=60)  # slow enough to see the progress
    page.click("#ex-run")
    page.wait_for_selector("#ex-progress:not([hidden])")
    page.wait_for_selector("#ex-report:not([hidden]) tr[data-outcome]", timeout=60000)
    site.xray.set_faults()
    report = page.inner_text("#ex-report")
    assert "Restore finished" in report and "created" in report
    link = page.locator("#ex-report a").first
    assert link.get_attribute("href").startswith(site.jira.url + "/browse/ALPHA-")
    assert link.get_attribute("target") == "_top"
    restored = next(t for t in ds.tests if t["jira"]["summary"] == test["jira"]["summary"]
                    and t["issueId"] != test["issueId"])
    assert len(restored["steps"]) == len(test["steps"])
    screenshot(page, "explorer-report")
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS"):  # the README's picture; not rewritten on every test run
        page.screenshot(path=str(ROOT / "docs" / "screenshots" / "restore.png"), full_page=True)

    with page.expect_download() as info:
        page.click("#ex-report [data-report]")
    rows = list(csv.DictReader(io.StringIO(info.value.path().read_text())))
    assert {r["sourceKey"] for r in rows if r["outcome"] == "created"} >= {test_key, set_key}
    assert page.js_errors == [] and dialogs == []

    page.click("#ex-close")
    assert page.locator("#backup-now").is_visible()
    page.wait_for_selector("#restores-list li[data-status=succeeded]")
    assert page.locator("#restores-list li").count() == 2  # the preview and the restore


def test_an_uploaded_snapshot_is_imported_and_opens_in_the_explorer(browser, restore_site, page, tmp_path):
    from tests.support.connect import ApiClient

    site = restore_site
    run_id = _backup(site)
    zipped = ApiClient(site.app.test_client(), site.tenant).get(f"/api/backups/{run_id}/snapshot").get_data()
    upload = tmp_path / "from-another-site.zip"
    upload.write_bytes(zipped)
    bad = tmp_path / "not-a-snapshot.zip"
    bad.write_bytes(b"this is not a zip")
    open_backups(page, site)

    page.set_input_files("#upload-file", str(bad))
    page.click("#upload-button")
    page.wait_for_selector("#upload-status:has-text('Not imported')")
    assert "not a zip" in page.inner_text("#upload-status")

    page.set_input_files("#upload-file", str(upload))
    page.click("#upload-button")
    page.wait_for_selector("#explorer:not([hidden]) #ex-items tr[data-item]", timeout=60000)
    assert "Imported" in page.inner_text("#upload-status")
    screenshot(page, "explorer-uploaded")
    page.click("#ex-close")
    page.wait_for_selector("tr.xb-run >> nth=0")
    assert page.inner_text("tr.xb-run >> nth=0 >> .xb-run-trigger") == "Imported"
    screenshot(page, "backups-with-restore-tools")
    assert page.js_errors == []
