""""What changed" in headless Chromium, against the live app and the Xray simulator: three real backups with edits
between the first two; the view opens from a run's button on the previous snapshot, lets an admin pick an earlier
one, starts from the snapshot an incremental run was built on (data-since), and passes axe-core."""
from __future__ import annotations

import pytest

from tests.support.axe import assert_accessible
from tests.support.browser import screenshot
from tests.support.restore import browser_site_with_xray_data


@pytest.fixture
def changes_site(site):
    """The live site with no runs, the simulator's projects in Jira and credentials saved."""
    with browser_site_with_xray_data(site):
        yield site


def _backup(site) -> str:
    from app.backups.runs.claims import claim_next
    from app.backups.runs.enqueue import enqueue_manual
    from app.backups.runs.runner import execute_run
    from app.backups.runs.status import settle
    from app.extensions import db
    from app.models import BackupRun, Tenant, utcnow
    from app.services import services_of
    from tests.support.restore import fast_client

    with site.app.app_context():
        enqueue_manual(db.session.get(Tenant, site.tenant.id), utcnow())
        run = claim_next("browser-backup-worker", utcnow(), 120)
        outcome = execute_run(run.id, services_of(site.app), client_factory=fast_client)
        settle(run.id, "browser-backup-worker", utcnow(), outcome)
        assert db.session.get(BackupRun, run.id, populate_existing=True).status == "succeeded", outcome.message
        return run.id


def _open_changes(page, run_id: str, since: str | None = None) -> None:
    page.click(f'tr[data-run-id="{run_id}"] [data-changes]')
    page.wait_for_selector("#changes:not([hidden])")
    if since is not None:
        page.wait_for_function("s => document.getElementById('changes-since').value === s", arg=since)
    page.wait_for_selector("#changes-result:not([hidden]):not([aria-busy])")


def test_an_admin_sees_what_changed_between_snapshots_and_picks_another_to_compare(browser, changes_site, page,
                                                                                    axe_source):
    site = changes_site
    xray = site.xray
    ds = xray.dataset
    first = _backup(site)
    renamed = next(t for t in ds.tests if t["projectId"] == "10000" and t["jira"]["summary"])
    old_summary = renamed["jira"]["summary"]
    xray.edit(renamed["issueId"], summary="Renamed for the What changed view")
    added = xray.add("test", project="ALPHA", summary="Added for the What changed view", test_type="Manual",
                     steps=[{"action": "a", "data": "", "result": "r"}])
    try:
        second = _backup(site)
        third = _backup(site)

        page.goto(site.page_url("/pages/backups"))
        page.wait_for_selector("html[data-backups-ready=true][data-changes-ready=true]")

        # From the newest run: the previous snapshot by default, where nothing changed.
        _open_changes(page, third, second)
        assert page.inner_text("#changes-status") == "Nothing changed between these snapshots."
        assert page.locator("#changes-lists details").count() == 0

        # An earlier one, chosen: the rename and the new test, with their keys.
        page.select_option("#changes-since", first)
        page.wait_for_selector('#changes-lists details[data-entity="tests"]')
        tests_row = page.locator('#changes-summary tr[data-entity="tests"]')
        assert tests_row.locator('[data-kind="added"]').inner_text() == "1"
        assert tests_row.locator('[data-kind="modified"]').inner_text() == "1"
        page.click('#changes-lists details[data-entity="tests"] summary')
        added_list = page.inner_text('details[data-entity="tests"] ul[data-kind="added"]')
        assert added["key"] in added_list and "Added for the What changed view" in added_list
        modified_list = page.inner_text('details[data-entity="tests"] ul[data-kind="modified"]')
        assert renamed["jira"]["key"] in modified_list and "(Jira fields)" in modified_list
        link = page.locator(f'details[data-entity="tests"] a:has-text("{added["key"]}")')
        assert link.get_attribute("href") == f"{site.jira.url}/browse/{added['key']}"
        assert link.get_attribute("target") == "_top"
        screenshot(page, "what-changed")
        assert_accessible(page, axe_source)

        # An incremental run's button names the snapshot it was built on: that one is compared first.
        page.evaluate("""([run, since]) => {
            const b = document.createElement('button');
            b.type = 'button'; b.id = 'built-on'; b.textContent = 'What changed';
            b.setAttribute('data-changes', run); b.setAttribute('data-since', since);
            document.getElementById('history').appendChild(b);
        }""", [third, first])
        page.click("#built-on")
        page.wait_for_function("s => document.getElementById('changes-since').value === s", arg=first)
        page.wait_for_selector('#changes-lists details[data-entity="tests"]')
        assert "built on" in page.inner_text(f'#changes-since option[value="{first}"]')

        # The oldest snapshot has nothing earlier.
        page.click("#changes-close")
        assert page.locator("#changes").is_hidden()
        page.click(f'tr[data-run-id="{first}"] [data-changes]')
        page.wait_for_selector("#changes-status:has-text('oldest stored snapshot')")
        assert page.locator("#changes-form").is_hidden()
        assert_accessible(page, axe_source)
        assert page.js_errors == []
    finally:
        xray.edit(renamed["issueId"], summary=old_summary)
        xray.delete(added["issueId"])
