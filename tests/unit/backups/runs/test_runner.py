"""A backup run end to end against the Xray simulator over HTTP: exact snapshot, faults, failures, no credentials."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from app.backups.lifecycle.datakeys import data_key_for
from app.backups.runs import runner
from app.backups.runs.enqueue import enqueue_manual
from app.backups.runs.runner import execute_run, remove_stale_temp
from app.backups.runs.status import DEFAULT_RETRY, settle
from app.backups.runs.worker import WorkerPool
from app.backups.snapshot.verifier import verify_snapshot
from app.extensions import db
from app.models import BackupRun, Tenant, utcnow
from app.services import services_of
from app.urls import Purpose, policy_for
from app.xray.client import XrayClient
from app.xray.pacer import Pacer
from tests.support.backups import CLIENT_SECRET, assert_snapshot_matches, claimed_run, save_credentials
from tests.support.connect import ApiClient
from tests.support.paths import ROOT

DEVELOPMENT_DOWNLOADS = policy_for(Purpose.XRAY_DOWNLOAD, production=False)  # the simulator redirects to loopback


@pytest.fixture
def app(xray_app):
    """This module's app reads Xray from the simulator (tests.support.backups.xray_app)."""
    return xray_app


@pytest.fixture
def site(xray_site):
    return xray_site


def fast_client(tenant, access):
    """The real client with short back-offs, so fault tests take seconds, not minutes."""
    return XrayClient(access.base_url, access.client_id, access.client_secret, pacer=Pacer(100000),
                      backoff_base=0.01, backoff_cap=0.05, max_attempts=8, download_policy=DEVELOPMENT_DOWNLOADS)


def execute(app, run_id: str, *, retry_transient: bool = True, **kwargs) -> BackupRun:
    """Execute a claimed run and record its outcome as a worker would (without retries: as `backup run` does)."""
    with app.app_context():
        outcome = execute_run(run_id, services_of(app), **kwargs)
        if outcome is not None:
            worker_id = db.session.get(BackupRun, run_id).worker_id
            settle(run_id, worker_id, utcnow(), outcome, DEFAULT_RETRY if retry_transient else None)
        run = db.session.get(BackupRun, run_id, populate_existing=True)
        db.session.expunge(run)
        return run


def fetch_snapshot(app, site, run: BackupRun, dest: Path) -> Path:
    services = services_of(app)
    with app.app_context():
        tenant = db.session.get(Tenant, site.id)
        for rel, chunks in services.store.iter_files(run.snapshot_key, data_key_for(tenant, utcnow(), services.sealer)):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)
    return dest


def published(app) -> list[Path]:
    root = Path(services_of(app).config.instance_path) / "backups"
    return [p for p in root.rglob("COMPLETE")] if root.exists() else []


def temp_left(app) -> list[Path]:
    root = Path(services_of(app).config.instance_path) / "tmp" / "backups"
    return list(root.iterdir()) if root.exists() else []


def test_backup_reproduces_the_simulated_tenant_exactly(app, site, xray, dataset, tmp_path):
    save_credentials(app, site)
    run = execute(app, claimed_run(app, site))
    assert run.status == "succeeded", run.message
    assert run.counts == dataset.counts()
    assert run.requests and run.bytes
    assert any("stored in Jira" in w for w in run.warnings)
    snapshot = fetch_snapshot(app, site, run, tmp_path / "snap")
    assert verify_snapshot(snapshot).problems == []
    assert_snapshot_matches(snapshot, dataset, xray.url)
    assert temp_left(app) == []


@pytest.mark.parametrize("database", ["postgresql"])
def test_backup_on_postgresql_succeeds_and_records_the_run(app, site, dataset, database):
    save_credentials(app, site)
    run = execute(app, claimed_run(app, site))
    assert run.status == "succeeded", run.message
    assert run.counts == dataset.counts() and run.snapshot_key and run.finished_at
    assert len(published(app)) == 1


FAULTS = {
    "rate limit with Retry-After": dict(too_many_every=40, retry_after=1),
    "rate limit without Retry-After": dict(too_many_every=17, retry_after=None),
    "throttling body on a 200 (queries and downloads)": dict(throttle_body_every=19),
    "latency": dict(latency_ms=15),
    "502": dict(error_every=7),
    "connection reset": dict(reset_every=11),
    "truncated JSON": dict(truncate_every=9),
    "token expiry mid-run": dict(revoke_every=23),
    "attachments redirected to signed URLs": dict(redirect_attachments=True),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_backup_is_exact_despite_faults(app, site, xray, dataset, tmp_path, fault):
    save_credentials(app, site)
    xray.set_faults(**FAULTS[fault])
    run = execute(app, claimed_run(app, site), client_factory=fast_client)
    assert run.status == "succeeded", run.message
    stats = xray.stats()
    assert any(v for k, v in stats.items() if k.startswith("fault_")) or fault in ("latency", "attachments redirected to signed URLs")
    assert_snapshot_matches(fetch_snapshot(app, site, run, tmp_path / "snap"), dataset, xray.url)


def test_no_credentials_means_skipped_with_a_message(app, site):
    run = execute(app, claimed_run(app, site))
    assert run.status == "skipped"
    assert "No Xray credentials are saved" in run.message and "Xray Credentials page" in run.message
    assert published(app) == []


def test_rejected_credentials_fail_with_an_actionable_message(app, site):
    save_credentials(app, site, secret="0" * 64)
    run = execute(app, claimed_run(app, site))
    assert run.status == "failed"
    assert "Xray rejected the saved API key" in run.message
    assert published(app) == [] and temp_left(app) == []


def test_xray_down_for_good_fails_cleanly_within_the_retry_budget(app, site, xray):
    save_credentials(app, site)
    xray.set_faults(error_every=1, error_status=503)
    run = execute(app, claimed_run(app, site), client_factory=fast_client, retry_transient=False)
    assert run.status == "failed"
    assert "Xray did not respond" in run.message and run.reason == "xray_unavailable"
    assert published(app) == [] and temp_left(app) == []


def test_transient_failure_is_queued_again_by_a_worker(app, site, xray):
    save_credentials(app, site)
    xray.set_faults(error_every=1, error_status=502)
    run = execute(app, claimed_run(app, site), client_factory=fast_client)
    assert run.status == "queued" and "Xray did not respond" in run.message


class Crash(BaseException):
    """Stands for the process dying (kill -9) between writing and publishing."""


def test_crash_between_writing_and_publishing_publishes_nothing(app, site, monkeypatch):
    save_credentials(app, site)
    verified = []
    real_verify = runner.verify_snapshot

    def verify_and_remember(path):
        verified.append(real_verify(path))
        return verified[-1]

    def owner_until_publish():
        # still_owner() is asked once more after verification, just before publishing: die there.
        if verified:
            raise Crash()
        return True

    monkeypatch.setattr(runner, "verify_snapshot", verify_and_remember)
    run_id = claimed_run(app, site)
    with pytest.raises(Crash):
        execute(app, run_id, still_owner=owner_until_publish)
    assert verified and verified[0].ok
    assert published(app) == []
    with app.app_context():
        assert db.session.get(BackupRun, run_id).status == "running"  # the lease expiry hands it to another worker


def test_a_run_that_is_not_running_is_left_alone(app, site):
    save_credentials(app, site)
    with app.app_context():
        run_id = enqueue_manual(db.session.get(Tenant, site.id), utcnow()).id
    run = execute(app, run_id)
    assert run.status == "queued" and run.started_at is None


def test_temporary_folders_left_by_a_crash_are_removed_later(tmp_path):
    old, fresh = tmp_path / "old-run", tmp_path / "fresh-run"
    for folder in (old, fresh):
        (folder / "snapshot").mkdir(parents=True)
    os.utime(old, (time.time() - 2 * 86400, time.time() - 2 * 86400))
    assert remove_stale_temp(tmp_path) == 1
    assert not old.exists() and fresh.exists()


def test_a_worker_that_lost_its_lease_stops_without_publishing(app, site):
    save_credentials(app, site)
    answers = iter([True] * 5)
    run_id = claimed_run(app, site)
    run = execute(app, run_id, still_owner=lambda: next(answers, False))
    assert run.status == "running" and run.snapshot_key is None
    assert published(app) == [] and temp_left(app) == []


def test_back_up_now_through_the_api_and_a_worker_then_download_the_exact_zip(app, site, dataset, xray, tmp_path):
    save_credentials(app, site)
    api = ApiClient(app.test_client(), site)
    started = api.post("/api/backups")
    assert started.status_code == 202
    run_id = started.get_json()["id"]
    assert WorkerPool(app, services_of(app), workers=1).run_once()
    details = api.get(f"/api/backups/{run_id}").get_json()
    assert details["status"] == "succeeded", details
    assert details["counts"] == dataset.counts() and details["error"] is None
    response = api.get(f"/api/backups/{run_id}/snapshot")
    assert response.status_code == 200
    archive = tmp_path / "snapshot.zip"
    archive.write_bytes(response.get_data())
    assert verify_snapshot(archive).problems == []
    with zipfile.ZipFile(archive) as zf:
        zf.extractall(tmp_path / "unzipped")
    roots = [p.parent for p in (tmp_path / "unzipped").rglob("manifest.json")]
    assert len(roots) == 1
    assert_snapshot_matches(roots[0], dataset, xray.url)


def test_failure_messages_name_what_failed_and_what_to_do(app, site, xray):
    save_credentials(app, site)
    xray.set_faults(error_every=1, error_status=504)
    run = execute(app, claimed_run(app, site), client_factory=fast_client, retry_transient=False)
    assert run.message.startswith("Xray did not respond while reading project settings of project ALPHA, so "
                                  "nothing was saved.")
    assert "HTTP 504" in run.detail  # the technical part, shown behind a disclosure
    assert CLIENT_SECRET not in run.message and CLIENT_SECRET not in run.detail


CRASHING_WORKER = r"""
import os, sys
sys.path.insert(0, sys.argv[2])
from app import create_app
from app.backups.runs import runner
from app.services import services_of

real_verify = runner.verify_snapshot

def verify_then_die(path):
    result = real_verify(path)
    assert result.ok, result.problems
    os._exit(9)  # the process dies between a verified snapshot and its publication

runner.verify_snapshot = verify_then_die
app = create_app()
with app.app_context():
    runner.execute_run(sys.argv[1], services_of(app))
os._exit(0)
"""


def test_a_process_killed_between_writing_and_publishing_leaves_no_snapshot(app, site):

    config = services_of(app).config
    save_credentials(app, site)
    run_id = claimed_run(app, site)
    env = dict(os.environ, INSTANCE_PATH=config.instance_path, DATABASE_URL=config.database_url,
               ENCRYPTION_KEYS=config.encryption_keys, APP_BASE_URL=config.app_base_url,
               CONNECT_ALLOWED_HOSTS=",".join(config.connect_allowed_hosts), SCHEDULER_ENABLED="false",
               XRAY_API_URL=config.xray_api_url, XRAY_RATE_LIMIT="100000",
               BACKUP_STORAGE_URL=config.backup_storage_url)
    root = ROOT
    proc = subprocess.run([sys.executable, "-c", CRASHING_WORKER, run_id, str(root)], env=env, cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 9, proc.stderr[-2000:]
    assert published(app) == []
    with app.app_context():
        run = db.session.get(BackupRun, run_id)
        assert run.status == "running" and run.snapshot_key is None  # its lease will expire: taken over
    left = temp_left(app)
    assert len(left) == 1 and (left[0] / "snapshot" / "manifest.json").exists()
    assert remove_stale_temp(left[0].parent, older_than_seconds=-1) == 1
