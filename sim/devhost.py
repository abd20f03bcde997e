"""`python -m sim.devhost`: see and use the admin pages without a Jira site.

Runs the fake Jira (serving a Jira-like administration frame at its root) and the Xray simulator in this
process, and the app in its own process exactly as an operator would (`flask db upgrade`, then
`flask run`), configured through its environment to trust them. Once `/healthz` answers, the fake Jira
installs the app with a real signed install. The pages load the local all.js stand-in
(static/dev/all.js), which asks the frame for context tokens over postMessage. Development only: it
refuses to run with APP_ENV=production.
"""
from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import requests

from .devhost_frame import PAGES, render_frame
from .jira import ADMIN_ACCOUNT, FakeJira, _Handler
from .xray import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, XraySimulator

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEV_CLIENT_KEY = "jira:dev-host-site"
STARTUP_SECONDS = 60
STOP_SECONDS = 10


class DevHostError(RuntimeError):
    """The preview could not start; the message says why."""


class _FrameHandler(_Handler):
    """The fake Jira's REST API plus the administration frame and the token endpoint the frame calls."""

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
    """A fake Jira on a chosen port that also serves the Jira-like admin frame around the app at `app_url`."""

    def __init__(self, *, port: int = 0, app_url: str, **kwargs):
        super().__init__(**kwargs)
        self.port, self.app_url = port, app_url.rstrip("/")
        # A stable clientKey: stored credentials survive restarts (the signed re-install updates the secret).
        self.client_key = DEV_CLIENT_KEY

    def start(self) -> "DevJira":
        handler = type("DevJiraHandler", (_FrameHandler,), {"jira": self})
        self._server = ThreadingHTTPServer((self.host, self.port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="dev-jira", daemon=True)
        self._thread.start()
        return self

    def frame_page(self, module: str) -> str:
        title, page_path = PAGES[module]
        src = self.app_url + self.page_url(page_path, app_base_url=self.app_url, ttl=3600)
        return render_frame(module, title, src, self.app_url)


def mirror_site(jira: FakeJira, dataset) -> None:
    """Make the simulated Jira hold the simulated Xray's site: its projects, people, components and versions
    (a restore checks its target projects, users, components and versions in Jira)."""
    jira.projects = [dict(p) for p in dataset.projects]
    jira.users.update({p["accountId"]: {"displayName": p["displayName"]} for p in dataset.people})
    for project in dataset.projects:
        jira.components[project["key"]] = [{"id": f"{project['id']}{i}", "name": name}
                                           for i, name in enumerate(dataset.components[project["id"]])]
        jira.versions[project["key"]] = [{"id": f"{project['id']}{i}", "name": name}
                                         for i, name in enumerate(dataset.versions[project["id"]])]


def free_port() -> int:
    """A loopback port nothing listens on now (the app's base URL must name its port before it starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def app_environment(app_url: str, jira: FakeJira, xray_url: str, environ: dict | None = None) -> dict:
    """The app's environment: this one, then `environ`, then what points it at the simulators."""
    env = {**os.environ, **(environ or {})}
    if (env.get("APP_ENV") or "").strip() == "production":
        raise DevHostError("the dev host is for development only (APP_ENV=production is set)")
    allowed = [env.get("CONNECT_ALLOWED_HOSTS"), "127.0.0.1", "localhost"]
    env.update(
        APP_BASE_URL=app_url,
        CONNECT_INSTALL_KEYS_URL=jira.keys_url,
        CONNECT_ALLOWED_HOSTS=",".join(filter(None, allowed)),
        XRAY_API_URL=xray_url,
        CONNECT_ALL_JS_URL=app_url + "/static/dev/all.js",
    )
    return env


class DevHost:
    """The running trio on loopback: the Xray simulator and the fake Jira here, the app as a subprocess."""

    def __init__(self, *, app_port: int = 8000, jira_port: int = 8001, xray_port: int = 8002,
                 environ: dict | None = None, simulator_scale: int = 1):
        self.process: subprocess.Popen | None = None
        self.install_status: int | None = None
        self._stopped = False
        self.xray = XraySimulator(port=xray_port, scale=simulator_scale).start()
        self.app_url = f"http://127.0.0.1:{app_port or free_port()}"
        self.jira: DevJira | None = None
        try:
            self.jira = DevJira(port=jira_port, app_url=self.app_url).start()
            mirror_site(self.jira, self.xray.dataset)
            self._start_app(app_environment(self.app_url, self.jira, self.xray.url, environ))
            self.install_status = self.jira.install_into(self.app_url)
        except BaseException:
            self.stop()
            raise

    def _start_app(self, env: dict) -> None:
        flask = [sys.executable, "-m", "flask", "--app", "wsgi"]
        upgrade = subprocess.run(flask + ["db", "upgrade"], cwd=PROJECT_ROOT, env=env)
        if upgrade.returncode != 0:
            raise DevHostError(f"`flask db upgrade` failed with status {upgrade.returncode}; see the log above")
        port = self.app_url.rsplit(":", 1)[1]
        # --no-reload: a reloader would serve from a grandchild that stop() could not reach.
        self.process = subprocess.Popen(flask + ["run", "--host", "127.0.0.1", "--port", port, "--no-reload"],
                                        cwd=PROJECT_ROOT, env=env)
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DevHostError(f"the app exited with status {self.process.returncode} before answering")
            try:
                if requests.get(self.app_url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise DevHostError(f"the app did not answer {self.app_url}/healthz within {STARTUP_SECONDS} s")

    def frame_url(self, module: str = "xray-credentials") -> str:
        return f"{self.jira.url}/plugins/servlet/ac/xray-backup/{module}"

    def stop(self) -> None:
        """Terminate the app (SIGTERM, then SIGKILL after a grace period) and stop the simulators."""
        if self._stopped:
            return
        self._stopped = True
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.jira is not None:
            self.jira.stop()
        self.xray.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sim.devhost",
                                     description="Run the app inside a simulated Jira administration, "
                                                 "with a simulated Xray, on 127.0.0.1.")
    parser.add_argument("--app-port", type=int, default=8000, help="where the app listens (default 8000)")
    parser.add_argument("--jira-port", type=int, default=8001, help="where the simulated Jira listens (default 8001)")
    parser.add_argument("--xray-port", type=int, default=8002, help="where the Xray simulator listens (default 8002)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops the app too, like Ctrl-C
    try:
        host = DevHost(app_port=args.app_port, jira_port=args.jira_port, xray_port=args.xray_port)
    except (DevHostError, OSError) as exc:
        parser.exit(1, f"dev host: {exc}\n")
    except KeyboardInterrupt:
        parser.exit(1, "dev host: interrupted while starting\n")
    if host.install_status not in (200, 204):
        host.stop()
        parser.exit(1, f"dev host: the signed install answered HTTP {host.install_status}; see the log above\n")
    print(f"app             {host.app_url}  (installed into the simulated Jira: HTTP {host.install_status})")
    print(f"simulated Jira  {host.jira.url}/  <- open this: Jira settings with the app's pages")
    print(f"Xray simulator  {host.xray.url}")
    print(f"  Client ID      {DEFAULT_CLIENT_ID}")
    print(f"  Client secret  {DEFAULT_CLIENT_SECRET}  (the simulator's demo key, not a real secret)")
    print("Ctrl-C stops everything.", flush=True)
    try:
        status = host.process.wait()
        print(f"dev host: the app exited with status {status}", file=sys.stderr)
        exit_status = 1
    except KeyboardInterrupt:
        exit_status = 0
    finally:
        host.stop()
    sys.exit(exit_status)


if __name__ == "__main__":
    main()
