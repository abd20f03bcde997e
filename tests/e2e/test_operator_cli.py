"""The operator's commands: `backup queue`, `storage cleanup`, `tenant purge`, `jobs run`."""
from __future__ import annotations

import os
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.backups.lifecycle.datakeys import data_key_for
from app.crypto import tenant_hash
from app.extensions import db
from app.models import BackupRun, BackupSettings, CredentialAudit, Tenant, TenantDataKey, new_id, utcnow
from app.ops.heartbeats import ProcessBeat
from app.services import services_of
from tests.support.hung import closed_port
from tests.support.queue import add_snapshot, add_tenant
from tests.support.storage import write_snapshot_folder


def invoke(app, *args):
    return app.test_cli_runner().invoke(args=list(args))


# ---------------------------------------------------------------- backup queue


def add_run(app, tenant_id, status, *, queued_ago, lease_in=None, worker=None, attempts=0, trigger="manual"):
    now = utcnow()
    with app.app_context():
        run = BackupRun(id=new_id(), tenant_id=tenant_id, status=status, trigger=trigger, attempts=attempts,
                        queued_at=now - timedelta(seconds=queued_ago), worker_id=worker,
                        started_at=now if status == "running" else None,
                        lease_expires_at=now + timedelta(seconds=lease_in) if lease_in is not None else None)
        db.session.add(run)
        db.session.commit()
        return run.id


def test_backup_queue_shows_queued_running_and_stuck_runs_with_tenant_age_attempts_worker_and_lease(app):
    alpha = add_tenant(app, "alpha")
    queued = add_run(app, alpha, "queued", queued_ago=330)
    running = add_run(app, add_tenant(app, "bravo"), "running", queued_ago=60, lease_in=90, worker="host:12:0:ab",
                      attempts=1)
    stuck = add_run(app, add_tenant(app, "charlie"), "running", queued_ago=900, lease_in=-240, worker="gone:7:1:cd",
                    attempts=2, trigger="scheduled")
    add_run(app, add_tenant(app, "delta"), "succeeded", queued_ago=50)
    with app.app_context():
        beat = ProcessBeat(db.engine, kind="scheduler", key_ids=("k1",), workers=2, schedules=True).start()
    try:
        result = invoke(app, "backup", "queue")
    finally:
        beat.stop()
    assert result.exit_code == 0, result.output
    assert f"  scheduler process {beat.host}:{beat.pid} (2 worker(s), scheduling)" in result.output
    assert "Queue: 1 queued, 1 running, 1 stuck (oldest queued 5 min 30 s ago)" in result.output
    table = columns(result.output)
    assert [row["ID"] for row in table] == [stuck, queued, running]  # oldest first
    by_id = {row["ID"]: row for row in table}
    assert by_id[queued] == {"JOB": "backup", "ID": queued, "STATUS": "queued", "TENANT": str(alpha),
                             "SITE": "alpha.atlassian.net", "TRIGGER": "manual", "AGE": "5 min 30 s",
                             "ATTEMPTS": "0", "WORKER": "-", "LEASE": "-"}
    assert by_id[running]["WORKER"] == "host:12:0:ab" and by_id[running]["LEASE"].startswith("expires in 1 min")
    assert (by_id[stuck]["STATUS"], by_id[stuck]["ATTEMPTS"], by_id[stuck]["TRIGGER"]) == ("stuck", "2", "scheduled")
    assert by_id[stuck]["LEASE"].startswith("expired 4 min") and by_id[stuck]["AGE"] == "15 min 0 s"


def test_backup_queue_lists_restores_and_dry_runs_beside_backups(app):
    from app.restore.jobs import enqueue_restore

    alpha = add_tenant(app, "alpha")
    backup = add_run(app, alpha, "queued", queued_ago=30)
    snapshot = add_run(app, add_tenant(app, "bravo"), "succeeded", queued_ago=600)
    with app.app_context():
        run = db.session.get(BackupRun, snapshot)
        restore = enqueue_restore(run.tenant, run.id, utcnow() - timedelta(seconds=90), targets={}, issue_keys=None,
                                  dry_run=True, requested_by="admin").id
    result = invoke(app, "backup", "queue")
    assert result.exit_code == 0, result.output
    by_id = {row["ID"]: row for row in columns(result.output)}
    assert list(by_id) == [restore, backup]  # oldest first, whatever the kind
    assert (by_id[restore]["JOB"], by_id[restore]["STATUS"], by_id[restore]["TRIGGER"], by_id[restore]["SITE"]) == (
        "restore", "queued", "dry run", "bravo.atlassian.net")
    assert "Queue: 2 queued" in result.output


def columns(output: str) -> list[dict]:
    """The queue table as dicts, split at the header's column starts."""
    lines = output.splitlines()
    header_at = next(i for i, line in enumerate(lines) if line.startswith("JOB"))
    header = lines[header_at]
    names = header.split()
    starts = [header.index(name) for name in names] + [None]
    return [{name: line[starts[i]:starts[i + 1]].strip() for i, name in enumerate(names)}
            for line in lines[header_at + 1:]]


def test_backup_queue_warns_when_no_live_process_runs_workers(app):
    add_run(app, add_tenant(app, "alpha"), "queued", queued_ago=5)
    result = invoke(app, "backup", "queue")
    assert result.exit_code == 0
    assert "Live processes: none" in result.output
    assert "no live scheduler/worker process: queued backups will not run" in result.output
    assert invoke(app, "backup", "queue").exit_code == 0


def test_backup_queue_of_an_empty_queue_says_so(app):
    result = invoke(app, "backup", "queue")
    assert result.exit_code == 0 and "Queue: empty." in result.output


# ---------------------------------------------------------------- storage cleanup


def crashed_publish(store, client_key: str, run_id: str, folder: Path, data_key: bytes) -> None:
    """Publish in a child process killed after its manifest: the upload is left behind, unpublished."""
    pid = os.fork()
    if pid == 0:
        try:
            store.publish(client_key, run_id, folder, data_key,
                          progress=lambda rel, n: os._exit(0) if rel == "manifest.json" else None)
        finally:
            os._exit(1)
    os.waitpid(pid, 0)


def age_files(root: Path, seconds: float) -> None:
    moment = time.time() - seconds
    for path in root.rglob("*"):
        os.utime(path, (moment, moment))


def test_storage_cleanup_removes_old_interrupted_uploads_prints_them_and_leaves_recent_ones(app, tmp_path):
    services = services_of(app)
    folder = write_snapshot_folder(tmp_path / "snap", {"manifest.json": b"{}", "tests.jsonl.gz": b"x" * 5000,
                                                      "attachments/a1": b"y" * 7000})
    storage_root = Path(services.store.backend.root)
    key = os.urandom(32)
    crashed_publish(services.store, "jira:old", "run-old", folder, key)
    age_files(storage_root, 3 * 3600)
    crashed_publish(services.store, "jira:new", "run-new", folder, key)  # maybe still uploading: kept
    temp = services.config.temp_path
    (temp / "deadrun-abc").mkdir(parents=True)
    (temp / "deadrun-abc" / "part").write_text("left by a killed worker")
    age_files(temp, 3 * 3600)

    assert "removed tenants" not in invoke(app, "storage", "cleanup", "--older-than", "2d").output
    result = invoke(app, "storage", "cleanup")
    assert result.exit_code == 0, result.output
    old = f"tenants/{tenant_hash('jira:old')}/run-old/"
    assert f"removed {old}" in result.output and "(an unpublished upload): 1 object(s)" in result.output
    assert f"removed local temporary data {temp / 'deadrun-abc'}" in result.output
    assert "Done: 1 interrupted item(s) removed" in result.output and "0 unreferenced object(s) swept" in result.output
    assert not list((storage_root / "tenants" / tenant_hash("jira:old")).rglob("*.gz"))
    assert list((storage_root / "tenants" / tenant_hash("jira:new")).rglob("*")), "a recent upload was removed"
    assert not (temp / "deadrun-abc").exists()


def test_storage_cleanup_sweeps_objects_only_deleted_snapshots_referenced(app, tmp_path):
    services = services_of(app)
    store = services.store
    tenant_id = add_tenant(app, "alpha", settings={})
    kept = add_snapshot(app, tenant_id, utcnow(), tmp_path, store)
    with app.app_context():
        data_key = data_key_for(db.session.get(Tenant, tenant_id), utcnow(), services.sealer)
    folder = write_snapshot_folder(tmp_path / "gone", {"manifest.json": b"{}", "attachments/a1": b"y" * 7000})
    gone = store.publish("alpha", "run-gone", folder, data_key)
    store.delete(gone)
    storage_root = Path(store.backend.root)
    age_files(storage_root, 3 * 3600)
    blobs = storage_root / "tenants" / tenant_hash("alpha") / "objects" / "blobs"
    assert len(list(blobs.iterdir())) == 1
    result = invoke(app, "storage", "cleanup")
    assert result.exit_code == 0, result.output
    assert f"removed tenants/{tenant_hash('alpha')}/objects (objects no snapshot references): 1 object(s)" \
        in result.output
    assert "1 unreferenced object(s) swept" in result.output
    assert not blobs.exists() or not list(blobs.iterdir())
    with app.app_context():
        key = db.session.get(BackupRun, kept).snapshot_key
    assert b"".join(b"".join(chunks) for _, chunks in store.iter_files(key, data_key))


@pytest.mark.parametrize("value, message", [("soon", "expected a number and a unit"), ("10s", "at least 1m")])
def test_storage_cleanup_refuses_a_bad_age(app, value, message):
    result = invoke(app, "storage", "cleanup", "--older-than", value)
    assert result.exit_code == 2 and message in result.output


# ---------------------------------------------------------------- tenant purge


def stored_under(app, client_key: str) -> list[Path]:
    root = Path(services_of(app).store.backend.root) / "tenants" / tenant_hash(client_key)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_tenant_purge_refuses_without_yes_and_changes_nothing(app, tmp_path):
    tenant_id = add_tenant(app, "alpha", settings={})
    add_snapshot(app, tenant_id, utcnow(), tmp_path, services_of(app).store)
    result = invoke(app, "tenant", "purge", "alpha")
    assert result.exit_code == 1 and "Refusing" in result.output and "--yes" in result.output
    with app.app_context():
        assert db.session.get(Tenant, tenant_id).installed and db.session.get(TenantDataKey, tenant_id)
    assert stored_under(app, "alpha")


def test_tenant_purge_erases_an_installed_site_now_shredding_its_key_first(app, tmp_path):
    tenant_id = add_tenant(app, "alpha", settings={})
    kept_id = add_tenant(app, "bravo", settings={})
    store = services_of(app).store
    for _ in range(2):
        add_snapshot(app, tenant_id, utcnow(), tmp_path, store)
    add_snapshot(app, kept_id, utcnow(), tmp_path, store)
    queued = add_run(app, tenant_id, "queued", queued_ago=5)
    with app.app_context():
        db.session.add(CredentialAudit(tenant_id=tenant_id, action="save", outcome="ok", at=utcnow()))
        db.session.commit()

    result = invoke(app, "tenant", "purge", "alpha", "--yes")
    assert result.exit_code == 0, result.output
    assert "(tenant %d, installed)" % tenant_id in result.output
    assert "cancelled 1 queued or running backup(s)" in result.output
    assert "shredded its snapshot data key" in result.output and "deleted 2 snapshot(s)" in result.output
    assert stored_under(app, "alpha") == [] and stored_under(app, "bravo")
    with app.app_context():
        assert db.session.get(Tenant, tenant_id) is None and db.session.get(Tenant, kept_id) is not None
        for model in (BackupRun, BackupSettings, CredentialAudit, TenantDataKey):
            assert db.session.scalar(select(func.count()).select_from(model).where(model.tenant_id == tenant_id)) == 0
        assert db.session.get(BackupRun, queued) is None
    assert invoke(app, "tenant", "purge", "alpha", "--yes").exit_code == 1  # already gone: says so


def test_tenant_purge_with_storage_down_shreds_the_key_and_leaves_the_rest_to_the_hourly_purge(make_app, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-access")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    app = make_app(BACKUP_STORAGE_URL="s3://snapshots", S3_ENDPOINT_URL=f"http://127.0.0.1:{closed_port()}")
    tenant_id = add_tenant(app, "alpha")
    with app.app_context():
        db.session.add(TenantDataKey(tenant_id=tenant_id, wrapped_key="sealed", created_at=utcnow()))
        db.session.add(BackupRun(id=new_id(), tenant_id=tenant_id, status="succeeded", trigger="manual",
                                 queued_at=utcnow(), snapshot_key=f"tenants/{tenant_hash('alpha')}/run1"))
        db.session.commit()
    result = invoke(app, "tenant", "purge", "alpha", "--yes")
    assert result.exit_code == 1
    assert "shredded its snapshot data key" in result.output
    assert "stored data could not be deleted" in result.output and "hourly purge" in result.output
    with app.app_context():
        tenant = db.session.get(Tenant, tenant_id)
        assert db.session.get(TenantDataKey, tenant_id) is None  # unreadable whatever the storage keeps
        assert not tenant.installed and tenant.purge_after is not None and tenant.purge_after <= utcnow()


# ---------------------------------------------------------------- jobs run


def test_jobs_run_runs_the_hourly_jobs_now(app, tmp_path):
    tenant_id = add_tenant(app, "alpha", settings={"retention_days": 1})
    store = services_of(app).store
    old = add_snapshot(app, tenant_id, utcnow() - timedelta(days=3), tmp_path, store)
    newest = add_snapshot(app, tenant_id, utcnow() - timedelta(days=2), tmp_path, store)
    result = invoke(app, "jobs", "run")
    assert result.exit_code == 0, result.output
    assert "retention: 1 snapshots deleted by retention" in result.output
    assert "uninstall-purge: 0 " in result.output and "storage-cleanup: 0 " in result.output
    with app.app_context():
        assert db.session.get(BackupRun, old).deleted_at is not None
        assert db.session.get(BackupRun, newest).deleted_at is None


def test_jobs_run_takes_names_and_refuses_unknown_ones(app):
    assert "take-over-expired: 0" in invoke(app, "jobs", "run", "take-over-expired").output
    bad = invoke(app, "jobs", "run", "vacuum")
    assert bad.exit_code == 2 and "retention" in bad.output
    assert "uninstall-purge" in invoke(app, "jobs", "list").output
