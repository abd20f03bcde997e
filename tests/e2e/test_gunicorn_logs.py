"""A real gunicorn started with the repository's gunicorn.conf.py keeps tokens out of its access and error logs."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests

from app.crypto import generate_key
from tests.support.paths import ROOT

JWT = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJqaXJhOnNpdGUiLCJxc2giOiJjb250ZXh0LXFzaCJ9"
       ".c2lnbmF0dXJlc2lnbmF0dXJlc2lnbmF0dXJl")
DOWNLOAD_TOKEN = "dl_Zm9vYmFyYmF6cXV4c2VjcmV0LWRvd25sb2FkLXRva2Vu"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def gunicorn_server(tmp_path):
    port = _free_port()
    logs = {"access": tmp_path / "access.log", "error": tmp_path / "error.log"}
    env = {**os.environ, "APP_BASE_URL": f"http://127.0.0.1:{port}", "ENCRYPTION_KEYS": f"k1:{generate_key()}",
           "SCHEDULER_ENABLED": "false", "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
           "INSTANCE_PATH": str(tmp_path / "instance")}
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "gunicorn.conf.py"), "--workers", "1",
         "--bind", f"127.0.0.1:{port}", "--access-logfile", str(logs["access"]), "--error-logfile",
         str(logs["error"]), "wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(url + "/atlassian-connect.json", timeout=2)
            break
        except requests.RequestException:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("gunicorn did not start:\n" + logs["error"].read_text()[-3000:])
            time.sleep(0.2)
    yield url, logs
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()


def test_gunicorn_access_log_never_holds_a_jwt_or_a_download_token(gunicorn_server):
    url, logs = gunicorn_server
    requests.get(f"{url}/pages/backups?project=P&jwt={JWT}", timeout=5)
    requests.get(f"{url}/api/backups", headers={"Authorization": f"JWT {JWT}", "Referer": f"{url}/p?jwt={JWT}"},
                 timeout=5)
    requests.get(f"{url}/downloads/{DOWNLOAD_TOKEN}", timeout=5)
    deadline = time.monotonic() + 10
    while logs["access"].read_text().count("\n") < 3 and time.monotonic() < deadline:
        time.sleep(0.1)  # gunicorn writes the line after the response
    access = logs["access"].read_text()
    assert access.count("\n") >= 3, access
    assert '" 500 ' not in access, access  # answered as the app answers (401, 404), not by an error
    assert "/pages/backups?project=P&jwt=[redacted]" in access and "/downloads/[redacted]" in access
    everything = access + logs["error"].read_text()
    assert JWT not in everything and JWT.split(".")[1] not in everything and DOWNLOAD_TOKEN not in everything
