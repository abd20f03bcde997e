"""Real-browser fixtures: the app served over HTTP with the fake Jira and the Xray simulator, driven by
Debian's headless Chromium through Playwright. No browser download, no internet: every request that is
not for the app is answered locally (all.js and its token endpoint) or aborted."""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.browser import ADMIN, CHROMIUM, CHROMIUM_ARGS, make_page


def _require_chromium():
    if Path(CHROMIUM).exists():
        return
    message = f"{CHROMIUM} is missing: install Debian's chromium (scripts/test does) to run the browser tests"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


class _LateApp:
    """A WSGI callable bound after the server has its port (the app's base URL needs the port)."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


@dataclass
class LiveSite:
    url: str
    app: object
    jira: object
    xray: object
    tenant: object
    valid_pair: tuple[str, str]
    smtp: object = None  # the loopback SMTP server the app's SMTP_URL points at
    token_requests: list = field(default_factory=list)

    def reset(self) -> None:
        """Forget stored credentials, the audit trail and the alert settings and incidents between tests."""
        from sqlalchemy import delete

        from app.alerts.models import AlertIncident, AlertSettings
        from app.extensions import db
        from app.models import CredentialAudit, XrayCredential

        with self.app.app_context():
            for model in (XrayCredential, CredentialAudit, AlertSettings, AlertIncident):
                db.session.execute(delete(model))
            db.session.commit()
        if self.smtp is not None:
            self.smtp.messages.clear()

    def page_url(self, path: str, account_id: str = ADMIN) -> str:
        from tests.support.connect import page_url

        return self.url + page_url(self.tenant, path, account_id=account_id)


@pytest.fixture(scope="session")
def live_site(tmp_path_factory):
    """The app on 127.0.0.1:<ephemeral> with a tenant installed from a running fake Jira and an Xray simulator."""
    _require_chromium()
    from flask_migrate import upgrade
    from werkzeug.serving import make_server

    from app import create_app
    from app.config import load_config
    from app.crypto import generate_key
    from tests.support.connect import install_tenant
    from sim.jira import FakeJira
    from tests.support.xray import start_xray_simulator
    from tests.support.receivers import SmtpSink, free_port
    from aiosmtpd.controller import Controller

    smtp = SmtpSink(port=free_port())
    smtp_server = Controller(smtp, hostname=smtp.host, port=smtp.port)
    smtp_server.start()
    jira = FakeJira().start()
    xray, valid_pair = start_xray_simulator()
    instance = tmp_path_factory.mktemp("browser-instance")
    late = _LateApp()
    server = make_server("127.0.0.1", 0, late, threaded=True)
    url = f"http://127.0.0.1:{server.server_port}"
    config = load_config(
        {
            "APP_BASE_URL": url,
            "ENCRYPTION_KEYS": f"k1:{generate_key()}",
            "SCHEDULER_ENABLED": "false",
            "CONNECT_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "CONNECT_INSTALL_KEYS_URL": jira.keys_url,
            "XRAY_API_URL": xray.url,
            "DATABASE_URL": f"sqlite:///{instance / 'app.db'}",
            "SMTP_URL": smtp.url,
            "ALERT_FROM": "xray-backup@example.com",
        },
        instance_path=str(instance),
    )
    app = create_app(config)
    with app.app_context():
        upgrade()
    late.app = app
    thread = threading.Thread(target=server.serve_forever, name="live-app", daemon=True)
    thread.start()
    tenant = install_tenant(app, jira)
    site = LiveSite(url=url, app=app, jira=jira, xray=xray, tenant=tenant, valid_pair=valid_pair, smtp=smtp)
    yield site
    smtp_server.stop()
    server.shutdown()
    xray.stop()
    jira.stop()


@pytest.fixture(scope="session")
def browser():
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def site(live_site):
    live_site.reset()
    live_site.token_requests.clear()
    return live_site


@pytest.fixture
def page(browser, site):
    context, page = make_page(browser, site)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.js_errors = errors
    yield page
    context.close()
