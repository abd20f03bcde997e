"""Key rotation against live processes on PostgreSQL: refused while a running `flask scheduler` lacks the new key,
done once it was restarted with it; tenants stay readable by every process throughout."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from sqlalchemy import select

from app import create_app
from app.crypto import generate_key
from app.extensions import db
from app.ops.heartbeats import list_processes
from app.models import Tenant, utcnow
from app.services import current_services, services_of
from app.tenants import install, shared_secret
from sim.jira import FakeJira
from tests.support.paths import ROOT

pytestmark = pytest.mark.multiprocess


def start_scheduler(config, keys: str, log) -> subprocess.Popen:
    env = {**os.environ, "DATABASE_URL": config.database_url, "ENCRYPTION_KEYS": keys,
           "INSTANCE_PATH": config.instance_path, "APP_BASE_URL": config.app_base_url, "SCHEDULER_ENABLED": "false"}
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "--workers", "1"],
                            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def wait_for_process(app, pid: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.app_context(), db.engine.connect() as conn:
            if any(p.pid == pid for p in list_processes(conn, utcnow())):
                return
        time.sleep(0.2)
    raise AssertionError(f"process {pid} never recorded a heartbeat")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_rotation_waits_for_the_scheduler_to_hold_the_new_key(make_app, make_config, pg_database_url, tmp_path,
                                                               encryption_keys):
    old_app = make_app(DATABASE_URL=pg_database_url)
    with FakeJira() as jira, old_app.app_context():
        install(jira.install_payload(clientKey="jira:rotation", sharedSecret="s" * 40), utcnow(),
                sealer=current_services().sealer)
    config = services_of(old_app).config
    new_keys = f"k2:{generate_key()},{encryption_keys}"
    rotating = create_app(make_config(DATABASE_URL=pg_database_url, ENCRYPTION_KEYS=new_keys))
    with open(tmp_path / "scheduler.log", "w") as log:
        old = start_scheduler(config, encryption_keys, log)
        try:
            wait_for_process(old_app, old.pid)
            refused = rotating.test_cli_runner().invoke(args=["keys", "rotate"])
            assert refused.exit_code == 1
            assert "Refusing to rotate: scheduler process" in refused.output and f":{old.pid} " in refused.output
            with old_app.app_context():  # still sealed under k1: every process can read it
                tenant = db.session.scalar(select(Tenant))
                assert tenant.shared_secret_enc.startswith("v1:k1:")
                assert shared_secret(tenant, current_services().sealer) == "s" * 40
        finally:
            stop(old)
        restarted = start_scheduler(config, new_keys, log)
        try:
            wait_for_process(old_app, restarted.pid)
            done = rotating.test_cli_runner().invoke(args=["keys", "rotate"])
            assert done.exit_code == 0, done.output
            assert "tenants.shared_secret_enc: 1 re-encrypted" in done.output
        finally:
            stop(restarted)
    with rotating.app_context():
        tenant = db.session.scalar(select(Tenant))
        assert tenant.shared_secret_enc.startswith("v1:k2:")
        assert shared_secret(tenant, current_services().sealer) == "s" * 40
        db.session.remove()
        db.engine.dispose()
