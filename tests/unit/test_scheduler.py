"""The embedded scheduler starts only in a serving process, once; the `scheduler` command stops cleanly."""
from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

from datetime import timedelta
from types import SimpleNamespace

import click
import pytest
from click.testing import CliRunner
from flask.cli import run_command
from sqlalchemy import func, insert, select

from app import create_app
from app.backups.schedule.settings import settings_for
from app.commands.scheduler import scheduler_command
from app.config import DEFAULTS, ConfigError, load_config
from app.scheduler import start_background
from app.serving import is_serving_process
from app.extensions import db
from app.models import BackupRun, Tenant, XrayPacerSlot, utcnow
from app.scheduler import cleanup_job
from app.services import services_of
from sim.xray.server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, XraySimulator
from tests.support.connect import install_tenant
from tests.support.paths import ROOT

_serving_process = is_serving_process


def test_creating_the_app_never_starts_background_work(make_config):
    app = create_app(make_config(SCHEDULER_ENABLED="true"))
    assert services_of(app).background is None


def test_start_background_starts_every_job_and_the_pool(make_config):
    app = create_app(make_config(SCHEDULER_ENABLED="true"))
    background = start_background(app, services_of(app), workers=1)
    try:
        assert services_of(app).background is background and background.pool.running
        assert {job.id for job in background.scheduler.get_jobs()} == {
            "enqueue-due", "take-over-expired", "retention", "uninstall-purge", "storage-cleanup",
            "backup-alerts"}
    finally:
        background.stop(timeout=5)
    assert not background.pool.running


@pytest.mark.parametrize("enabled, expected", [("true", "True"), ("false", "False")])
def test_the_wsgi_entry_starts_the_embedded_service_only_when_enabled(make_config, tmp_path, enabled, expected):
    config = make_config()
    env = {**os.environ, "DATABASE_URL": config.database_url, "ENCRYPTION_KEYS": config.encryption_keys,
           "INSTANCE_PATH": str(tmp_path / "instance"), "SCHEDULER_ENABLED": enabled}
    script = "import wsgi; print(wsgi._services.background is not None); import os; os._exit(0)"
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.stdout.strip() == expected, result.stderr[-2000:]


def test_the_embedded_worker_count_comes_from_backup_workers_within_bounds(tmp_path):
    assert load_config({}, instance_path=str(tmp_path)).backup_workers == int(DEFAULTS["BACKUP_WORKERS"])
    assert load_config({"BACKUP_WORKERS": "4"}, instance_path=str(tmp_path)).backup_workers == 4
    for bad in ("0", "99", "many"):
        with pytest.raises(ConfigError, match="^BACKUP_WORKERS"):
            load_config({"BACKUP_WORKERS": bad}, instance_path=str(tmp_path))


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
    result = CliRunner().invoke(scheduler_command, ["--workers", "99"])
    assert result.exit_code != 0 and "--workers" in result.output


def test_the_embedded_service_backs_up_a_due_tenant_on_sqlite(make_app, fake_jira):
    """The one-small-machine default: SQLite, scheduler and workers in the web process, the real engine."""
    with XraySimulator(scale=1) as xray:
        app = make_app(XRAY_API_URL=xray.url)
        fake_jira.projects = [{"id": "10002", "key": "CHARLIE", "name": "Charlie"}]
        installed = install_tenant(app, fake_jira)
        with app.app_context():
            tenant = db.session.get(Tenant, installed.id)
            services_of(app).credentials.save(tenant, "admin-account",
                             {"clientId": DEFAULT_CLIENT_ID, "clientSecret": DEFAULT_CLIENT_SECRET},
                             verify=lambda *_: SimpleNamespace(status="connected", tests_visible=6, message=None))
            settings = settings_for(tenant, utcnow())
            settings.next_run_at = utcnow() - timedelta(seconds=5)
            db.session.commit()
        service = start_background(app, services_of(app), workers=1, enqueue_seconds=0.2, poll_interval=0.1)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with app.app_context():
                    run = db.session.scalar(db.select(BackupRun))
                    if run is not None and run.status not in ("queued", "running"):
                        break
                time.sleep(0.2)
        finally:
            service.stop(timeout=10)
        assert run is not None and run.status == "succeeded", run and run.message
        assert run.trigger == "scheduled" and run.counts["tests"] > 0
        assert services_of(app).store.list_snapshots(installed.client_key) == [run.snapshot_key]


def test_the_cleanup_job_prunes_pacer_rows_of_quiet_tenants(app):
    with app.app_context():
        with db.engine.begin() as conn:
            conn.execute(insert(XrayPacerSlot), [{"tenant_hash": "a" * 32, "at": time.time() - 7200},
                                                 {"tenant_hash": "b" * 32, "at": time.time()}])
    cleanup_job(app, services_of(app))
    with app.app_context():
        left = db.session.scalars(select(XrayPacerSlot.tenant_hash)).all()
        assert left == ["b" * 32]
        assert db.session.scalar(select(func.count()).select_from(XrayPacerSlot)) == 1


def test_scheduler_jobs_failing_on_a_database_that_is_down_log_once_each(make_config, caplog):
    app = create_app(make_config(DATABASE_URL="sqlite:////nonexistent-dir/none.db"))
    caplog.set_level(logging.INFO)
    background = start_background(app, services_of(app), workers=1, enqueue_seconds=0.1, poll_interval=0.05,
                                  heartbeat_seconds=0.1)
    time.sleep(2.0)  # 20 enqueue and takeover ticks, 40 polls, 20 heartbeats
    background.stop(timeout=5)
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    for start in ("scheduler job enqueue_job failed", "scheduler job takeover_job failed", "backup workers of",
                  "heartbeat of scheduler"):
        assert sum(line.startswith(start) for line in lines) == 1, (start, lines)
    assert len(lines) <= 9, lines  # also: the first run of each hourly job and of the alerts job, and the heartbeat's removal at stop
