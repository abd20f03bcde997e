"""The embedded scheduler starts only in a serving process, once; the `scheduler` command stops cleanly."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import click
from flask.cli import run_command

from app import app_config, create_app
from app.scheduler import EXTENSION, _serving_process, init_scheduler

ROOT = Path(__file__).resolve().parents[1]


def test_the_scheduler_never_starts_in_tests_or_when_disabled(app, make_config):
    assert init_scheduler(app) is None and EXTENSION not in app.extensions
    app.extensions["xray_backup_config"] = app_config(app).with_overrides(scheduler_enabled=True)
    app.testing = True
    assert init_scheduler(app) is None and EXTENSION not in app.extensions


def test_an_enabled_serving_process_starts_it_exactly_once(make_config):
    app = create_app(make_config(SCHEDULER_ENABLED="true"))
    service = app.extensions.get(EXTENSION)
    try:
        assert service is not None and service.pool.running
        assert {job.id for job in service.scheduler.get_jobs()} == {
            "enqueue-due", "take-over-expired", "retention", "uninstall-purge", "storage-cleanup"}
        assert init_scheduler(app) is None  # a second call does not start a second one
    finally:
        service.stop(timeout=5)
    assert not service.pool.running


def test_only_the_process_the_reloader_spawns_serves(monkeypatch):
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    assert _serving_process()  # gunicorn wsgi:app: no CLI at all
    with click.Context(run_command, info_name="run") as ctx:
        ctx.params = {"reload": True}
        assert not _serving_process()  # the watcher
        monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")
        assert _serving_process()  # the spawned server
        monkeypatch.delenv("WERKZEUG_RUN_MAIN")
        ctx.params = {"reload": False}
        assert _serving_process()
    with click.Context(click.Command("upgrade"), info_name="upgrade"):
        assert not _serving_process()  # `flask db upgrade` and every other command


def test_the_scheduler_command_runs_in_the_foreground_and_stops_on_sigterm(make_config, tmp_path):
    config = make_config()
    env = {**os.environ, "DATABASE_URL": config.database_url, "ENCRYPTION_KEYS": config.encryption_keys,
           "INSTANCE_PATH": str(tmp_path / "instance"), "SCHEDULER_ENABLED": "true", "PYTHONUNBUFFERED": "1"}
    python = [sys.executable, "-m", "flask", "--app", "wsgi"]
    subprocess.run(python + ["db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    process = subprocess.Popen(python + ["scheduler", "--workers", "2", "--poll", "0.2"], cwd=ROOT, env=env,
                               stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stderr.readline()
            lines.append(line)
            if "scheduler running" in line:
                break
        assert "scheduler running: 2 worker(s)" in "".join(lines)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        rest = process.stderr.read()
        assert "stopped" in rest
        # The web-process scheduler did not start too: one pool only.
        assert "".join(lines).count("worker pool") == 1
    finally:
        if process.poll() is None:
            process.kill()


def test_the_worker_count_is_validated():
    from click.testing import CliRunner

    from app.commands.scheduler import scheduler_command

    result = CliRunner().invoke(scheduler_command, ["--workers", "99"])
    assert result.exit_code != 0 and "--workers" in result.output
