"""A restore whose worker process is killed with SIGKILL mid-way is taken over by another `flask scheduler`
process after the lease (3 s) and resumed to the same end state, creating nothing twice (PostgreSQL, real engine,
the Xray simulator and the fake Jira over HTTP)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.extensions import db
from app.restore.models import Restore, RestoreItem
from app.services import services_of
from sim.xray import XraySimulator
from sim.xray.dataset import Dataset
from tests.support.backups import CLIENT_ID, CLIENT_SECRET, save_credentials
from tests.support.connect import ApiClient, install_tenant
from tests.support.paths import ROOT
from tests.support.restore import (ALL_PROJECTS, RestoreEnv, Snapshot, compare_snapshots, delete_mix, id_mapping,
                                   issue_counts, jira_like)

pytestmark = pytest.mark.multiprocess

LEASE = 3


def wait_until(condition, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Worker:
    """`python -m flask --app wsgi scheduler` in its own process, output to a file."""

    def __init__(self, env: dict, log: Path):
        self.log_path, self._log = log, open(log, "w")
        self.popen = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "--workers", "1",
                                       "--no-schedule", "--poll", "0.2"], cwd=ROOT, env=env, stdout=self._log,
                                      stderr=subprocess.STDOUT)

    def log(self) -> str:
        return self.log_path.read_text()

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()


@pytest.fixture
def env(make_app, pg_database_url, fake_jira):
    with XraySimulator(Dataset(scale=1), clients={CLIENT_ID: CLIENT_SECRET}, import_delay=0.05) as xray:
        app = make_app(DATABASE_URL=pg_database_url, XRAY_API_URL=xray.url, XRAY_RATE_LIMIT="100000",
                       BACKUP_LEASE_SECONDS=str(LEASE))
        jira_like(fake_jira, xray.dataset)
        site = install_tenant(app, fake_jira)
        save_credentials(app, site)
        yield RestoreEnv(app=app, site=site, xray=xray, jira=fake_jira, api=ApiClient(app.test_client(), site))


def created_items(env, restore_id: str) -> int:
    with env.app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(RestoreItem).where(
            RestoreItem.restore_id == restore_id, RestoreItem.outcome == "created"))


def restore_row(env, restore_id: str) -> Restore:
    with env.app.app_context():
        row = db.session.get(Restore, restore_id, populate_existing=True)
        db.session.expunge(row)
        return row


def test_a_restore_killed_mid_way_is_taken_over_and_completed_once(env, tmp_path):
    before = issue_counts(env.ds)
    first = env.backup()
    delete_mix(env.xray)
    env.xray.set_faults(latency_ms=40)  # slow enough for the kill to land mid-way
    restore_id = env.start({"runId": first})["id"]
    config = services_of(env.app).config
    process_env = {**os.environ, "DATABASE_URL": config.database_url, "ENCRYPTION_KEYS": config.encryption_keys,
                   "INSTANCE_PATH": config.instance_path, "APP_BASE_URL": config.app_base_url,
                   "CONNECT_ALLOWED_HOSTS": ",".join(config.connect_allowed_hosts), "XRAY_API_URL": env.xray.url,
                   "XRAY_RATE_LIMIT": "100000", "BACKUP_LEASE_SECONDS": str(LEASE), "SCHEDULER_ENABLED": "false",
                   "PYTHONUNBUFFERED": "1"}
    workers = [Worker(process_env, tmp_path / "worker-1.log")]
    try:
        wait_until(lambda: created_items(env, restore_id) >= 3, 120, "the first worker to create some items")
        workers[0].popen.send_signal(signal.SIGKILL)
        workers[0].popen.wait()
        killed_at = time.monotonic()
        row = restore_row(env, restore_id)
        assert row.status == "running" and f":{workers[0].popen.pid}:" in row.worker_id
        done_before_kill = created_items(env, restore_id)

        workers.append(Worker(process_env, tmp_path / "worker-2.log"))
        row = wait_until(lambda: (r := restore_row(env, restore_id)).status in ("succeeded", "failed") and r, 240,
                         "the second worker to finish the restore")
        assert row.status == "succeeded", (row.message, workers[1].log()[-3000:])
        assert time.monotonic() - killed_at >= LEASE - 1.5  # taken over only once the lease ran out
        assert row.attempts == 2 and f":{workers[1].popen.pid}:" in row.worker_id
        assert created_items(env, restore_id) >= done_before_kill
    finally:
        for worker in workers:
            worker.stop()
        env.xray.clear_faults()
    assert issue_counts(env.ds) == before  # nothing made twice
    items = env.items(restore_id)
    assert {i["outcome"] for i in items} <= {"created", "existing", "linked"}
    problems = compare_snapshots(Snapshot(env, first), Snapshot(env, env.backup()), id_mapping(items), ALL_PROJECTS)
    assert not problems, "\n".join(problems[:20])
