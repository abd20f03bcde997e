"""`flask dev-host`: see and use the admin pages without a Jira site.

Starts the simulated Jira on 127.0.0.1:8001, an Xray simulator on 127.0.0.1:8002 and the app on
127.0.0.1:8000, installs the app into the simulated Jira with a signed install, and serves a Jira-like
administration frame at http://127.0.0.1:8001/ that loads our pages in an iframe. The pages get the
local all.js stand-in (static/dev/all.js), which asks the frame for context tokens over postMessage.
Development only: it refuses to run with APP_ENV=production.
"""
from __future__ import annotations

import html
import json
import os
import threading
import time

import click

from ..config import load_config

ADMIN_ACCOUNT = "admin-account"
DEV_CLIENT_KEY = "jira:dev-host-site"
PAGES = {"xray-credentials": ("Xray Credentials", "/pages/xray-credentials"), "backups": ("Backups", "/pages/backups")}


def _dev_jira_class():
    """A FakeJira bound to a fixed port that also serves the Jira-like admin frame and context tokens."""
    from http.server import ThreadingHTTPServer

    from sim.jira import FakeJira, _Handler

    class FrameHandler(_Handler):
        def do_GET(self):  # noqa: N802 - http.server naming
            path = self.path.split("?", 1)[0]
            if path in ("/", "/plugins/servlet/ac/xray-backup"):
                self.send_response(302)
                self.send_header("Location", "/plugins/servlet/ac/xray-backup/xray-credentials")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            if path.startswith("/plugins/servlet/ac/xray-backup/"):
                module = path.rsplit("/", 1)[1]
                if module in PAGES:
                    return self._send(200, self.jira.frame_page(module), "text/html; charset=utf-8")
            if path == "/__dev/context-token":
                return self._send(200, self.jira.context_token(ADMIN_ACCOUNT), "text/plain",
                                  headers={"Cache-Control": "no-store"})
            return super().do_GET()

    class DevJira(FakeJira):
        def __init__(self, *, port: int, app_url: str, **kwargs):
            super().__init__(**kwargs)
            self.port, self.app_url = port, app_url.rstrip("/")
            # A stable clientKey: stored credentials survive restarts (the signed re-install updates the secret).
            self.client_key = DEV_CLIENT_KEY

        def start(self):
            handler = type("DevJiraHandler", (FrameHandler,), {"jira": self})
            self._server = ThreadingHTTPServer((self.host, self.port), handler)
            self._server.daemon_threads = True
            self._thread = threading.Thread(target=self._server.serve_forever, name="dev-jira", daemon=True)
            self._thread.start()
            return self

        def frame_page(self, module: str) -> str:
            title, page_path = PAGES[module]
            src = self.app_url + self.page_url(page_path, app_base_url=self.app_url, ttl=3600)
            return render_frame(module, title, src, self.app_url)

    return DevJira


def render_frame(active: str, title: str, src: str, app_origin: str) -> str:
    """A page that looks like Jira's administration with our page in its iframe."""
    links = "".join(
        f'<li><a href="/plugins/servlet/ac/xray-backup/{key}"{" aria-current=page" if key == active else ""}>'
        f"{html.escape(name)}</a></li>"
        for key, (name, _path) in PAGES.items()
    )
    return FRAME_TEMPLATE.format(
        title=html.escape(title), src=html.escape(src, quote=True), links=links,
        app_origin=json.dumps(app_origin),
    )


FRAME_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} - Jira settings (dev host)</title>
<style>
  body {{ margin: 0; font-family: -apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "DejaVu Sans", sans-serif;
         color: #172b4d; font-size: 14px; background: #fff; }}
  .top {{ height: 56px; display: flex; align-items: center; gap: 16px; padding: 0 16px;
          border-bottom: 1px solid #dfe1e6; }}
  .logo {{ font-weight: 700; color: #0c66e4; font-size: 16px; }}
  .top span {{ color: #44546f; }}
  .dev {{ margin-left: auto; background: #f8e6a0; color: #7f5f01; font-size: 11px; font-weight: 700;
          text-transform: uppercase; padding: 0 6px; border-radius: 3px; }}
  .shell {{ display: flex; min-height: calc(100vh - 57px); }}
  nav {{ width: 240px; flex: none; background: #f7f8f9; border-right: 1px solid #dfe1e6; padding: 16px 8px; }}
  nav h2 {{ font-size: 11px; text-transform: uppercase; color: #626f86; margin: 16px 8px 4px; }}
  nav ul {{ list-style: none; margin: 0; padding: 0; }}
  nav a {{ display: block; padding: 6px 8px; border-radius: 3px; color: #44546f; text-decoration: none; }}
  nav a:hover {{ background: #091e420f; }}
  nav a[aria-current] {{ background: #e9f2ff; color: #0c66e4; font-weight: 600; }}
  .content {{ flex: 1; min-width: 0; padding: 8px 16px; }}
  iframe {{ width: 100%; border: 0; min-height: 400px; display: block; }}
  @media (max-width: 700px) {{ nav {{ display: none; }} }}
</style></head>
<body>
<header class="top"><span class="logo">Jira</span><span>Settings</span><span>›</span><span>Apps</span>
  <span class="dev">dev host</span></header>
<div class="shell">
  <nav aria-label="Apps settings"><h2>Apps</h2><ul><li><a href="#">Manage apps</a></li></ul>
    <h2>Xray Backup</h2><ul>{links}</ul></nav>
  <main class="content"><iframe id="app-frame" title="{title}" src="{src}"></iframe></main>
</div>
<script>
  // Plays the host side of all.js for the stand-in: tokens on request, iframe height on resize.
  var appOrigin = {app_origin};
  var frame = document.getElementById("app-frame");
  window.addEventListener("message", function (event) {{
    if (event.origin !== appOrigin || event.source !== frame.contentWindow) return;
    var data = event.data || {{}};
    if (data.type === "xb-standin:getToken") {{
      fetch("/__dev/context-token", {{cache: "no-store"}}).then(function (r) {{ return r.text(); }})
        .then(function (token) {{ event.source.postMessage({{type: "xb-standin:token", id: data.id, token: token}}, appOrigin); }},
              function () {{ event.source.postMessage({{type: "xb-standin:token", id: data.id, token: null}}, appOrigin); }});
    }} else if (data.type === "xb-standin:resize" && data.height) {{
      frame.style.height = Math.max(400, Math.ceil(data.height)) + "px";
    }}
  }});
</script>
</body></html>
"""


def build_app(app_url: str, jira, xray_url: str, environ: dict | None = None):
    """The app configured for the dev host (loopback tenant, simulated Xray, local all.js)."""
    from flask_migrate import upgrade

    from .. import create_app

    env = dict(os.environ if environ is None else environ)
    env.update(
        APP_BASE_URL=app_url,
        CONNECT_INSTALL_KEYS_URL=jira.keys_url,
        CONNECT_ALLOWED_HOSTS=",".join(filter(None, [env.get("CONNECT_ALLOWED_HOSTS"), "127.0.0.1", "localhost"])),
        XRAY_API_URL=xray_url,
    )
    project_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    instance = env.get("INSTANCE_PATH") or os.path.join(project_root, "instance")
    config = load_config(env, instance_path=instance)
    if config.is_production:
        raise click.ClickException("dev-host is for development only (APP_ENV=production is set)")
    app = create_app(config)
    app.config["CONNECT_ALL_JS_URL"] = "/static/dev/all.js"
    with app.app_context():
        upgrade()
    return app


class DevHost:
    """The running trio: simulated Xray, simulated Jira with the admin frame, and the app, all on loopback."""

    def __init__(self, *, app_port: int = 8000, jira_port: int = 8001, xray_port: int = 8002,
                 environ: dict | None = None, simulator_scale: int = 1):
        from werkzeug.serving import make_server

        from sim.xray import XraySimulator

        self.xray = XraySimulator(port=xray_port, scale=simulator_scale).start()
        late = _LateApp()
        self._server = make_server("127.0.0.1", app_port, late, threaded=True)
        self.app_url = f"http://127.0.0.1:{self._server.server_port}"
        self.jira = _dev_jira_class()(port=jira_port, app_url=self.app_url).start()
        self.app = late.app = build_app(self.app_url, self.jira, self.xray.url, environ)
        self.service = None
        if self.app.extensions["xray_backup_config"].scheduler_enabled:
            # As in a web process: the scheduler and workers run beside the app, so "Back up now" works.
            from ..scheduler import EXTENSION, start_service

            self.service = start_service(self.app, workers=1)
            self.app.extensions[EXTENSION] = self.service
            self.app.extensions["backup_worker_pool"] = self.service.pool
        threading.Thread(target=self._server.serve_forever, name="dev-host-app", daemon=True).start()
        self.install_status = self.jira.install_into(self.app_url)

    def frame_url(self, module: str = "xray-credentials") -> str:
        return f"{self.jira.url}/plugins/servlet/ac/xray-backup/{module}"

    def stop(self) -> None:
        if self.service is not None:
            self.service.stop(timeout=10)
        self._server.shutdown()
        self._server.server_close()
        self.jira.stop()
        self.xray.stop()


class _LateApp:
    """A WSGI callable bound once the server has its port (the app's base URL needs the port)."""

    app = None

    def __call__(self, environ, start_response):
        return self.app(environ, start_response)


@click.command("dev-host")
@click.option("--app-port", default=8000, show_default=True, help="where the app listens")
@click.option("--jira-port", default=8001, show_default=True, help="where the simulated Jira listens")
@click.option("--xray-port", default=8002, show_default=True, help="where the Xray simulator listens")
def dev_host(app_port: int, jira_port: int, xray_port: int) -> None:
    """Run the app inside a simulated Jira administration, with a simulated Xray, on 127.0.0.1."""
    from sim.xray import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    host = DevHost(app_port=app_port, jira_port=jira_port, xray_port=xray_port)
    if host.install_status not in (200, 204):
        host.stop()
        raise click.ClickException(f"the signed install answered HTTP {host.install_status}; see the log above")
    click.echo(f"app             {host.app_url}  (installed into the simulated Jira: HTTP {host.install_status})")
    click.echo(f"simulated Jira  {host.jira.url}/  <- open this: Jira settings with the app's pages")
    click.echo(f"Xray simulator  {host.xray.url}")
    click.echo(f"  Client ID      {DEFAULT_CLIENT_ID}")
    click.echo(f"  Client secret  {DEFAULT_CLIENT_SECRET}  (the simulator's demo key, not a real secret)")
    click.echo("Ctrl-C stops everything.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        host.stop()


commands = [dev_host]
