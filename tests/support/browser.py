"""Helpers for the browser tests: a page whose only network is the app, and screenshots as artifacts."""
from __future__ import annotations

from pathlib import Path

from tests.support.paths import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
CDN = "https://connect-cdn.atl-paas.net"
STANDIN = ROOT / "static" / "dev" / "all.js"
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
ADMIN = "admin-account"


def make_page(browser, site, *, width=1100, height=900, **context_options):
    """A fresh browser context whose only network is the app; all.js and its tokens answered locally."""
    context = browser.new_context(viewport={"width": width, "height": height}, **context_options)
    standin = STANDIN.read_text()

    def answer(route):
        url = route.request.url
        if url.startswith(site.url + "/"):
            return route.continue_()
        if url.split("?")[0] == CDN + "/all.js":
            return route.fulfill(status=200, content_type="application/javascript", body=standin)
        if url.split("?")[0] == CDN + "/__standin/context-token":
            site.token_requests.append(url)
            return route.fulfill(status=200, content_type="text/plain", body=site.jira.context_token(ADMIN))
        return route.abort()

    context.route("**/*", answer)
    page = context.new_page()
    page.set_default_timeout(15000)
    return context, page


def screenshot(page, name: str) -> Path:
    """Save a full-page screenshot as a test artifact (test-artifacts/ is gitignored)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
