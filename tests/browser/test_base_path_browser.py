"""The Backups page in headless Chromium behind an APP_BASE_URL with a path (a context path at the proxy): every API
call the page makes stays under the base path.

The app is mounted at /xb on a real HTTP server (as a reverse proxy would place it); anything requested outside
/xb answers 404, so a page calling the origin's root fails visibly.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest
from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from tests.support.browser import make_page, screenshot

BASE_PATH = "/xb"


@dataclass
class BasePathSite:
    url: str  # the origin: make_page lets the browser reach anything on it
    app: object
    jira: object
    tenant: object
    token_requests: list = field(default_factory=list)

    def page_url(self, path: str) -> str:
        from tests.support.connect import page_url

        return self.url + BASE_PATH + page_url(self.tenant, path)


@pytest.fixture(scope="module")
def base_path_site(tmp_path_factory, browser):
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from app import create_app
    from app.config import load_config
    from app.crypto import generate_key
    from sim.jira import FakeJira
    from tests.support.connect import install_tenant

    jira = FakeJira().start()
    instance = tmp_path_factory.mktemp("base-path-instance")
    holder: dict = {}
    server = make_server("127.0.0.1", 0, lambda environ, start: holder["wsgi"](environ, start), threaded=True)
    origin = f"http://127.0.0.1:{server.server_port}"
    config = load_config({
        "APP_BASE_URL": origin + BASE_PATH, "ENCRYPTION_KEYS": f"k1:{generate_key()}", "SCHEDULER_ENABLED": "false",
        "CONNECT_ALLOWED_HOSTS": "127.0.0.1", "CONNECT_INSTALL_KEYS_URL": jira.keys_url,
        "DATABASE_URL": f"sqlite:///{instance / 'app.db'}",
    }, instance_path=str(instance))
    app = create_app(config)
    with app.app_context():
        upgrade()
    holder["wsgi"] = DispatcherMiddleware(NotFound(), {BASE_PATH: app})
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield BasePathSite(url=origin, app=app, jira=jira, tenant=install_tenant(app, jira))
    server.shutdown()
    jira.stop()


def _watch_api_calls(page) -> list[tuple[str, int]]:
    calls: list[tuple[str, int]] = []
    page.on("response", lambda response: calls.append((response.url, response.status))
            if "/api/" in response.url else None)
    return calls


def test_the_backups_page_calls_the_api_under_the_base_path(browser, base_path_site):
    context, page = make_page(browser, base_path_site)
    try:
        calls = _watch_api_calls(page)
        page.goto(base_path_site.page_url("/pages/backups"))
        page.wait_for_selector("html[data-backups-ready=true]")
        page.fill("#timeOfDay", "04:45")
        page.click("#settings-save")
        # Confirmations are Jira flags (AP.flag); the local all.js stand-in records them.
        page.wait_for_function("t => window.__apStandin.flags.some(f => f.title === t)", arg="Schedule saved")
        page.click("#backup-now")
        page.wait_for_selector("tr.xb-run[data-status=queued]")
        screenshot(page, "backups-under-a-base-path")
        assert calls, "the page made no API call"
        prefix = base_path_site.url + BASE_PATH + "/api/"
        assert [url for url, _status in calls if not url.startswith(prefix)] == []
        assert [(url, status) for url, status in calls if status >= 400] == []
    finally:
        context.close()

