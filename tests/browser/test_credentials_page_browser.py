"""The Xray Credentials page in headless Chromium against the running app, fake Jira and Xray simulator."""
from __future__ import annotations

import logging
import os
import re

import pytest
from playwright.sync_api import expect

from app.credentials.service import REJECTED_MESSAGE
from tests.support.axe import assert_accessible
from tests.support.browser import ROOT, make_page, screenshot

pytestmark = pytest.mark.browser

PAGE = "/pages/xray-credentials"


def open_page(page, site):
    page.goto(site.page_url(PAGE))
    expect(page.locator("#page-title")).to_have_text("Xray Credentials")
    return page


def store_good_pair(site, region="global"):
    """Store the simulator's good pair through the API, as an earlier visit would have."""
    from tests.support.connect import ApiClient

    client_id, secret = site.valid_pair
    api = ApiClient(site.app.test_client(), site.tenant)
    response = api.put("/api/xray-credentials", json={"clientId": client_id, "clientSecret": secret, "region": region})
    assert response.status_code == 200, response.get_json()


def wait_for_flag(page, title: str) -> dict:
    """The AP.flag the page raised with this title (the local stand-in records every flag)."""
    page.wait_for_function("t => window.__apStandin.flags.some(f => f.title === t)", arg=title)
    return [f for f in page.evaluate("window.__apStandin.flags") if f["title"] == title][-1]


def secret_in_dom(page, secret) -> bool:
    return page.evaluate(
        """(secret) => document.documentElement.outerHTML.includes(secret)
             || Array.from(document.querySelectorAll('input, textarea, select')).some(e => e.value.includes(secret))
             || JSON.stringify(Object.assign({}, localStorage, sessionStorage)).includes(secret)""",
        secret,
    )


def test_enter_validate_reject_connect_and_remove(page, site, caplog, axe_source):
    client_id, secret = site.valid_pair
    caplog.set_level(logging.DEBUG)
    urls = []
    page.on("request", lambda request: urls.append(request.url))
    open_page(page, site)
    expect(page.locator("#not-configured")).to_be_visible()
    expect(page.locator("#cred-form")).to_be_visible()
    expect(page.locator("#edit-button")).to_be_hidden()
    expect(page.locator("#audit-empty")).to_be_visible()
    screenshot(page, "01-not-configured")
    assert_accessible(page, axe_source)

    # Validation: both required; the server's field errors appear inline and are announced.
    page.click("#save-button")
    expect(page.locator("#clientId-error")).to_have_text("Client ID is required.")
    expect(page.locator("#clientSecret-error")).to_have_text("Client secret is required.")
    expect(page.locator("#clientId")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#clientSecret")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#form-error")).to_be_visible()
    expect(page.locator("#form-error")).to_have_attribute("role", "alert")
    expect(page.locator("#clientId")).to_be_focused()
    assert "clientId-error" in page.get_attribute("#clientId", "aria-describedby")
    page.fill("#clientId", "x" * 300)
    page.fill("#clientSecret", "short")
    page.click("#save-button")
    expect(page.locator("#clientId-error")).to_have_text("Client ID must be at most 256 characters.")
    expect(page.locator("#clientSecret-error")).to_be_hidden()
    screenshot(page, "02-validation-errors")

    # Wrong secret: the simulator answers 401; nothing stored.
    page.fill("#clientId", client_id)
    page.fill("#clientSecret", "not-the-secret")
    page.click("#save-button")
    expect(page.locator("#form-error-title")).to_have_text("Xray rejected these credentials")
    expect(page.locator("#form-error-text")).to_have_text(REJECTED_MESSAGE)
    expect(page.locator("#clientSecret")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#clientSecret-error")).to_have_text("Check the Client secret.")
    assert page.locator("main").inner_text().count(REJECTED_MESSAGE) == 1  # one message, not three
    expect(page.locator("#audit-list li").first).to_contain_text("nothing stored")
    screenshot(page, "03-rejected")
    assert_accessible(page, axe_source)

    # The right secret, submitted with Enter.
    page.fill("#clientSecret", secret)
    page.press("#clientSecret", "Enter")
    expect(page.locator("#read-view")).to_be_visible()
    expect(page.locator("#cred-form")).to_be_hidden()
    expect(page.locator("#view-client-id")).to_have_text(client_id)
    tests = len(site.xray.dataset.tests)
    expect(page.locator("#view-status-text")).to_have_text(f"{tests} tests visible, verified just now")
    expect(page.locator("#view-status-lozenge")).to_have_text("Connected")
    expect(page.locator("#view-secret-note")).to_contain_text("by you")
    assert wait_for_flag(page, "Xray credentials saved")["type"] == "success"
    expect(page.locator("#not-configured")).to_be_hidden()  # no message stacked on another
    expect(page.locator("#edit-button")).to_be_focused()
    expect(page.locator("#audit-list li").first).to_contain_text("Saved")
    assert not secret_in_dom(page, secret)
    screenshot(page, "04-connected")
    assert_accessible(page, axe_source)

    # A reload renders the same state on the server.
    open_page(page, site)
    expect(page.locator("#view-status-text")).to_have_text(f"{tests} tests visible, verified just now")
    assert not secret_in_dom(page, secret)
    assert page.evaluate("window.__apStandin.resize") > 0

    # Test connection re-verifies the stored pair.
    page.click("#test-button")
    expect(page.locator("#checking")).to_have_text("Testing the connection to Xray…")  # announced while it works
    expect(page.locator("#test-button")).to_be_focused()  # a loading button keeps focus
    assert wait_for_flag(page, "Connection works")["body"] == f"Connected to Xray: {tests} tests visible."
    expect(page.locator("#audit-list li").first).to_contain_text("Tested")
    expect(page.locator("#test-button")).to_be_focused()

    # Remove, in a modal with a danger button, that can be declined (Cancel or Escape).
    page.click("#remove-button")
    expect(page.locator("#remove-confirm")).to_be_visible()
    assert page.evaluate("document.getElementById('remove-confirm').matches(':modal')")
    expect(page.locator("#remove-cancel-button")).to_be_focused()
    assert "xb-button-danger" in page.get_attribute("#remove-confirm-button", "class")
    screenshot(page, "05-remove-confirmation")
    assert_accessible(page, axe_source)
    page.click("#remove-cancel-button")
    expect(page.locator("#remove-confirm")).to_be_hidden()
    expect(page.locator("#remove-button")).to_be_focused()
    expect(page.locator("#view-client-id")).to_have_text(client_id)
    page.click("#remove-button")
    page.keyboard.press("Escape")
    expect(page.locator("#remove-confirm")).to_be_hidden()
    expect(page.locator("#remove-button")).to_be_focused()
    page.click("#remove-button")
    page.click("#remove-confirm-button")
    assert wait_for_flag(page, "Xray credentials removed")["type"] == "success"
    expect(page.locator("#cred-form")).to_be_visible()
    expect(page.locator("#not-configured")).to_be_visible()
    expect(page.locator("#clientId")).to_have_value("")
    expect(page.locator("#audit-list li").first).to_contain_text("Removed")
    screenshot(page, "06-removed")
    assert page.js_errors == []
    # The live server's log (access log included) and every URL the browser requested hold no secret.
    assert caplog.records and secret not in caplog.text
    assert len(urls) > 10 and not any(secret in url for url in urls)


def test_view_edit_reject_correct_and_remove_a_stored_pair(page, site):
    """The issue's walk-through, starting from stored credentials."""
    client_id, secret = site.valid_pair
    store_good_pair(site)
    open_page(page, site)
    tests = len(site.xray.dataset.tests)
    expect(page.locator("#read-view")).to_be_visible()
    expect(page.locator("#view-client-id")).to_have_text(client_id)
    expect(page.locator("#view-status-text")).to_have_text(f"{tests} tests visible, verified just now")
    expect(page.locator(".xb-masked")).to_be_visible()
    assert "Stored, hidden." in page.inner_text("#read-view")  # what a screen reader hears for the dots
    assert not secret_in_dom(page, secret)
    screenshot(page, "00-read-view")

    page.click("#edit-button")
    page.fill("#clientId", "   ")
    page.fill("#clientSecret", "bad\u0001secret")
    page.click("#save-button")
    expect(page.locator("#clientId-error")).to_have_text("Client ID is required.")
    expect(page.locator("#clientSecret-error")).to_contain_text("control characters")
    expect(page.locator("#form-error-title")).to_have_text("Check the highlighted fields")

    page.fill("#clientId", client_id)
    page.fill("#clientSecret", "a-wrong-secret")
    page.click("#save-button")
    expect(page.locator("#form-error-text")).to_have_text(REJECTED_MESSAGE)
    expect(page.locator("#clientId-error")).to_have_text("Check the Client ID.")

    page.fill("#clientSecret", secret)
    page.press("#clientId", "Enter")
    expect(page.locator("#read-view")).to_be_visible()
    expect(page.locator("#view-status-lozenge")).to_have_text("Connected")
    expect(page.locator("#audit-list li").first).to_contain_text("secret replaced")
    assert not secret_in_dom(page, secret)

    page.click("#remove-button")
    page.click("#remove-confirm-button")
    expect(page.locator("#not-configured")).to_be_visible()
    expect(page.locator("#clientSecret")).to_have_attribute("aria-required", "true")
    open_page(page, site)
    expect(page.locator("#not-configured")).to_be_visible()
    assert page.js_errors == []


def test_edit_changes_the_region_keeping_the_stored_secret(page, site):
    client_id, secret = site.valid_pair
    store_good_pair(site)
    open_page(page, site)
    expect(page.locator("#view-region")).to_have_text("Global")
    page.click("#edit-button")
    expect(page.locator("#clientId")).to_be_focused()
    expect(page.locator("#clientId")).to_have_value(client_id)
    expect(page.locator("#clientSecret")).to_have_value("")
    expect(page.locator("#clientSecret-help")).to_contain_text("Leave this empty to keep it")
    expect(page.locator("#region")).to_have_value("global")
    screenshot(page, "07-edit")

    # Cancel returns to the read view unchanged; Escape does too.
    page.click("#cancel-button")
    expect(page.locator("#read-view")).to_be_visible()
    expect(page.locator("#edit-button")).to_be_focused()
    page.click("#edit-button")
    page.press("#clientId", "Escape")
    expect(page.locator("#read-view")).to_be_visible()

    page.click("#edit-button")
    page.select_option("#region", "eu")
    page.click("#save-button")
    expect(page.locator("#view-region")).to_have_text("EU")
    expect(page.locator("#view-status-lozenge")).to_have_text("Connected")
    expect(page.locator("#audit-list li").first).to_contain_text("secret kept")
    assert not secret_in_dom(page, secret)


def test_save_is_a_loading_button_while_the_request_is_in_flight(page, site):
    client_id, secret = site.valid_pair
    held = []
    page.route(re.compile(r".*/api/xray-credentials$"), lambda route: held.append(route))
    open_page(page, site)
    page.fill("#clientId", client_id)
    page.fill("#clientSecret", secret)
    page.click("#save-button")
    expect(page.locator("#save-button")).to_have_attribute("aria-disabled", "true")
    expect(page.locator("#save-button .xb-button-spinner")).to_be_visible()  # the spinner inside the button
    expect(page.locator("#save-button")).to_be_focused()
    expect(page.locator("#checking")).to_have_text("Checking the credentials with Xray…")
    expect(page.locator("#cred-form")).to_have_attribute("aria-busy", "true")
    screenshot(page, "08-saving")
    # A second Enter while in flight sends nothing more.
    page.press("#clientSecret", "Enter")
    page.wait_for_timeout(200)
    assert len(held) == 1
    held[0].continue_()
    expect(page.locator("#view-status-lozenge")).to_have_text("Connected")
    assert page.get_attribute("#save-button", "aria-disabled") is None


def test_unreachable_xray_offers_to_store_them_as_not_verified(page, site):
    client_id, secret = site.valid_pair
    open_page(page, site)
    site.xray.set_faults(error_every=1, error_status=503, fault_targets=["authenticate", "graphql"])
    try:
        page.fill("#clientId", client_id)
        page.fill("#clientSecret", secret)
        page.click("#save-button")
        expect(page.locator("#form-error-title")).to_have_text("Xray could not be reached", timeout=60000)
        expect(page.locator("#store-unverified-button")).to_be_visible()
        screenshot(page, "09-xray-unreachable")
        page.click("#store-unverified-button")
        expect(page.locator("#view-status-text")).to_have_text("Xray could not be reached to check them",
                                                               timeout=60000)
        expect(page.locator("#view-status-lozenge")).to_have_text("Not verified")
        screenshot(page, "10-stored-not-verified")
    finally:
        site.xray.clear_faults()
    page.click("#test-button")
    expect(page.locator("#view-status-lozenge")).to_have_text("Connected")


def test_a_script_as_client_id_renders_as_text(page, site):
    payload = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
    site.xray.add_client(payload, "xss-pair-secret")
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    open_page(page, site)
    page.fill("#clientId", payload)
    page.fill("#clientSecret", "xss-pair-secret")
    page.click("#save-button")
    expect(page.locator("#view-client-id")).to_have_text(payload)
    open_page(page, site)  # and as the server renders it
    expect(page.locator("#view-client-id")).to_have_text(payload)
    page.click("#edit-button")
    expect(page.locator("#clientId")).to_have_value(payload)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src=x]").count() == 0 and dialogs == []
    screenshot(page, "11-xss-as-text")


def test_keyboard_order_follows_the_form(page, site):
    open_page(page, site)
    page.focus("#clientId")
    order = []
    for _ in range(3):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id"))
    assert order == ["clientSecret", "region", "save-button"]
    for field in ("clientId", "clientSecret", "region"):
        assert page.locator(f"label[for={field}]").count() == 1


@pytest.mark.parametrize("width", [320, 1440])
def test_the_page_fits_narrow_and_wide_frames(browser, site, width):
    store_good_pair(site)
    context, page = make_page(browser, site, width=width, height=800)
    try:
        open_page(page, site)
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0
        edit = page.locator("#edit-button").bounding_box()
        title = page.locator("#page-title").bounding_box()
        if width > 400:  # Edit sits in the top-right corner, level with the title
            assert edit["x"] > title["x"] + title["width"] and abs(edit["y"] - title["y"]) < 12
        screenshot(page, f"12-width-{width}")
    finally:
        context.close()


def add_audit(site, count: int, account_id: str):
    from datetime import timedelta

    from app.extensions import db
    from app.models import CredentialAudit, utcnow

    with site.app.app_context():
        now = utcnow()
        for i in range(count):
            db.session.add(CredentialAudit(tenant_id=site.tenant.id, account_id=account_id, action="tested",
                                           outcome=f"connected (check {i})", at=now - timedelta(hours=count - i)))
        db.session.commit()


def test_the_audit_trail_pages_to_older_entries_and_names_other_admins(page, site, axe_source):
    store_good_pair(site)
    site.jira.users["colleague-account"] = {"displayName": "Grace Hopper", "active": True}
    add_audit(site, 14, "colleague-account")
    add_audit(site, 1, "account-jira-does-not-know")
    open_page(page, site)
    items = page.locator("#audit-list li")
    expect(items).to_have_count(10)
    assert page.locator("#audit-list li", has_text="by Grace Hopper").count() == 8  # and one "by you"
    assert page.locator("#audit-list li", has_text="by another administrator").count() == 1  # unknown to Jira
    assert "colleague-account" not in page.locator("main").inner_text()  # never a raw account id
    assert "account-jira-does-not-know" not in page.locator("main").inner_text()
    page.click("#audit-older")
    expect(items).to_have_count(16)
    expect(page.locator("#audit-older")).to_be_hidden()
    expect(page.locator("#audit-title")).to_be_focused()
    assert "connected (check 0)" in items.last.inner_text() and "by Grace Hopper" in items.last.inner_text()
    screenshot(page, "13-older-entries")
    assert_accessible(page, axe_source)
    if os.environ.get("UPDATE_DOCS_SCREENSHOTS"):  # the README's picture; not rewritten on every test run
        page.screenshot(path=str(ROOT / "docs" / "screenshots" / "credentials.png"), full_page=True)
