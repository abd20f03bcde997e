"""The local preview: `python -m sim.devhost` serves a Jira-like admin frame whose iframe runs our page for real.

The app runs in its own process, started as an operator would start it, and learns everything (the fake
Jira's key server, the Xray simulator, the all.js stand-in) from its environment.

Retake the README picture with
`UPDATE_DOCS_SCREENSHOTS=1 .venv/bin/python -m pytest tests/browser/test_devhost_browser.py`.
"""
from __future__ import annotations

import os
import socket

import pytest
from playwright.sync_api import expect

from tests.support.browser import ROOT, screenshot

pytestmark = pytest.mark.browser


def start_dev_host(tmp_path):
    from app.crypto import generate_key
    from sim.devhost import DevHost

    environ = {
        "APP_ENV": "development",
        "ENCRYPTION_KEYS": f"k1:{generate_key()}",
        "SCHEDULER_ENABLED": "false",
        "INSTANCE_PATH": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}",
    }
    return DevHost(app_port=0, jira_port=0, xray_port=0, environ=environ)


@pytest.fixture
def dev_host(tmp_path):
    host = start_dev_host(tmp_path)
    yield host
    host.stop()


def test_stop_ends_the_app_process_and_the_simulators(tmp_path):
    host = start_dev_host(tmp_path)
    ports = [int(url.rsplit(":", 1)[1]) for url in (host.app_url, host.jira.url, host.xray.url)]
    assert host.process.poll() is None and host.install_status == 204
    host.stop()
    assert host.process.returncode is not None  # terminated and reaped, not left behind
    for port in ports:
        with socket.socket() as probe:
            assert probe.connect_ex(("127.0.0.1", port)) != 0, port
    host.stop()  # a second stop is harmless


def test_the_preview_installs_the_app_and_runs_the_page_in_a_jira_frame(browser, dev_host):
    from sim.xray import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    assert dev_host.install_status == 204  # a signed install, verified by the app like Atlassian's
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    loopback = (dev_host.app_url, dev_host.jira.url)
    context.route("**/*", lambda route: route.continue_() if route.request.url.startswith(loopback)
                  else route.abort())
    page = context.new_page()
    page.set_default_timeout(15000)
    try:
        page.goto(dev_host.jira.url + "/")
        expect(page).to_have_url(dev_host.frame_url("xray-credentials"))
        frame = page.frame_locator("#app-frame")
        expect(frame.locator("#page-title")).to_have_text("Xray Credentials")
        frame.locator("#clientId").fill(DEFAULT_CLIENT_ID)
        frame.locator("#clientSecret").fill(DEFAULT_CLIENT_SECRET)
        frame.locator("#clientSecret").press("Enter")  # the context token comes from the frame over postMessage
        expect(frame.locator("#view-status-lozenge")).to_have_text("Connected")
        tests = len(dev_host.xray.dataset.tests)
        expect(frame.locator("#view-status-text")).to_contain_text(f"{tests} tests visible")

        # The frame follows the page's height (AP.resize through the stand-in).
        content = frame.locator("html").evaluate("h => Math.ceil(h.getBoundingClientRect().height)")
        page.wait_for_function(
            "want => Math.abs(document.getElementById('app-frame').getBoundingClientRect().height - want) <= 2",
            arg=max(400, content),
        )
        frame.locator("#edit-button").evaluate("button => button.blur()")
        screenshot(page, "13-dev-host-preview")
        if os.environ.get("UPDATE_DOCS_SCREENSHOTS"):
            target = ROOT / "docs" / "screenshots" / "credentials.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(target), full_page=True)

        # The Backups page is reachable from the same frame's navigation.
        page.click("nav >> text=Backups")
        expect(page).to_have_url(dev_host.frame_url("backups"))
    finally:
        context.close()
