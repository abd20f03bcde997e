"""`gunicorn wsgi:app` with the repository's gunicorn.conf.py: threaded workers that each record a heartbeat,
JSON logs under LOG_FORMAT=json, and heartbeats removed when the server stops."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import requests

from app.extensions import db
from app.models import utcnow
from app.ops.heartbeats import list_processes
from app.services import services_of
from tests.support.paths import ROOT


def web_processes(app) -> list:
    with app.app_context(), db.engine.connect() as conn:
        return [p for p in list_processes(conn, utcnow()) if p.kind == "web"]


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_gunicorn_serves_with_threaded_workers_that_beat_and_log_json(app, tmp_path):
    config = services_of(app).config
    env = {**os.environ, "DATABASE_URL": config.database_url, "ENCRYPTION_KEYS": config.encryption_keys,
           "INSTANCE_PATH": config.instance_path, "APP_BASE_URL": config.app_base_url, "SCHEDULER_ENABLED": "false",
           "LOG_FORMAT": "json"}
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        server = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", "2", "--bind", "127.0.0.1:0",
                                   "wsgi:app"], cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        base = wait_until(lambda: re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log_path.read_text()), 60,
                          "gunicorn to listen").group(1)
        assert wait_until(lambda: len(web_processes(app)) == 2, 60, "two web heartbeats")
        assert len({p.pid for p in web_processes(app)}) == 2
        assert all(p.key_ids == (config.keyring.primary_kid,) for p in web_processes(app))
        assert wait_until(lambda: requests.get(base + "/healthz", timeout=10).status_code == 200, 30, "/healthz")
        ready = requests.get(base + "/readyz", timeout=10)
        assert ready.status_code == 503 and ready.json()["scheduler"] == "missing"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert web_processes(app) == []  # workers that stop cleanly remove their heartbeat
    lines = [line for line in log_path.read_text().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # gunicorn's own lines too
    assert any("Using worker: gthread" in e["message"] for e in entries)
    assert any(e["logger"] == "gunicorn.access" and "/healthz" in e["message"] for e in entries)
