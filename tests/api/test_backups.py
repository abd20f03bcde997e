"""The runs API: start, list (paged, newest first), details, and the decrypted snapshot zip."""
from __future__ import annotations

import io
import zipfile
from datetime import timedelta

import pytest

from app.extensions import db
from app.backups.lifecycle.datakeys import data_key_for
from app.backups.snapshot.verifier import verify_snapshot
from app.backups.snapshot.writer import SnapshotWriter
from app.services import current_services
from app.models import BackupRun, Tenant, utcnow


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request, make_app):
    """Every API test on both databases: the one-active-run rule is a partial unique index on each."""
    if request.param == "postgresql":
        return make_app(DATABASE_URL=request.getfixturevalue("pg_database_url"))
    return make_app()


def add_run(app, tenant_id: int, status: str, minutes_ago: int, **fields) -> str:
    with app.app_context():
        run = BackupRun(tenant_id=tenant_id, status=status, trigger="scheduled",
                        queued_at=utcnow() - timedelta(minutes=minutes_ago), **fields)
        db.session.add(run)
        db.session.commit()
        return run.id


def other_tenant(app) -> int:
    with app.app_context():
        now = utcnow()
        row = Tenant(client_key="other-site", shared_secret_enc="x", base_url="https://other.atlassian.net",
                     installed_at=now, updated_at=now)
        db.session.add(row)
        db.session.commit()
        return row.id


def test_back_up_now_queues_one_run_and_refuses_a_second(api):
    first = api.post("/api/backups")
    assert first.status_code == 202
    assert first.get_json()["status"] in ("queued", "running")
    second = api.post("/api/backups")
    assert second.status_code == 409
    assert second.get_json()["error"] == "conflict"
    runs = api.get("/api/backups").get_json()["runs"]
    assert [r["id"] for r in runs] == [first.get_json()["id"]]
    assert runs[0]["trigger"] == "manual"


def test_runs_are_listed_newest_first_with_the_contract_fields_and_paged(app, api, tenant):
    ids = [add_run(app, tenant.id, "succeeded", minutes_ago=m, counts={"tests": m}, bytes=10)
           for m in (50, 40, 30, 20, 10)]
    add_run(app, other_tenant(app), "succeeded", minutes_ago=5)
    body = api.get("/api/backups?limit=2").get_json()
    assert [r["id"] for r in body["runs"]] == [ids[4], ids[3]]
    assert body["total"] == 5
    for key in ("id", "status", "trigger", "queuedAt", "startedAt", "finishedAt", "counts", "bytes", "message"):
        assert key in body["runs"][0]
    older = api.get(f"/api/backups?limit=2&before={body['next']}").get_json()
    assert [r["id"] for r in older["runs"]] == [ids[2], ids[1]]
    by_offset = api.get("/api/backups?limit=2&offset=4").get_json()
    assert [r["id"] for r in by_offset["runs"]] == [ids[0]] and by_offset["next"] is None
    bad = api.get("/api/backups?limit=0")
    assert bad.status_code == 422 and "limit" in bad.get_json()["fields"]


def test_one_run_shows_counts_warnings_and_error_text(app, api, tenant):
    run_id = add_run(app, tenant.id, "failed", 1, message="Xray rejected the saved API key.",
                     counts={"tests": 3}, warnings=["attachment a1 is stored in Jira"], requests=7)
    body = api.get(f"/api/backups/{run_id}").get_json()
    assert body["status"] == "failed"
    assert body["error"] == "Xray rejected the saved API key."
    assert body["warnings"] == ["attachment a1 is stored in Jira"]
    assert body["counts"] == {"tests": 3} and body["requests"] == 7


def test_unknown_and_other_tenants_runs_are_not_found(app, api):
    foreign = add_run(app, other_tenant(app), "succeeded", 1, snapshot_key="tenants/x/y")
    for path in (f"/api/backups/{foreign}", f"/api/backups/{foreign}/snapshot", "/api/backups/nope",
                 "/api/backups/nope/snapshot"):
        assert api.get(path).status_code == 404, path


def test_snapshot_of_a_run_not_succeeded_is_a_conflict(app, api, tenant):
    for status in ("queued", "failed", "skipped"):
        run_id = add_run(app, tenant.id, status, 1)
        with app.app_context():
            db.session.execute(db.update(BackupRun).where(BackupRun.id != run_id).values(status="cancelled"))
            db.session.commit()
        assert api.get(f"/api/backups/{run_id}/snapshot").status_code == 409


def test_succeeded_run_downloads_as_a_zip_that_verifies(app, api, tenant, tmp_path):
    run_id = add_run(app, tenant.id, "running", 1)
    local = tmp_path / "local"
    writer = SnapshotWriter(local, run_id=run_id, started_at="s", xray_api_url="u")
    writer.write("tests", {"issueId": "1", "jira": {"summary": "Prüfung ✓"}})
    with writer.attachment("a1", filename="f.bin", owner={"type": "test_run"}) as fh:
        fh.write(bytes(range(256)) * 100)
    writer.finish(finished_at="f", requests=3)
    with app.app_context():
        row = db.session.get(Tenant, tenant.id)
        key = current_services().store.publish(row.client_key, run_id, local, data_key_for(row, utcnow(), current_services().sealer))
        db.session.execute(db.update(BackupRun).where(BackupRun.id == run_id)
                           .values(status="succeeded", snapshot_key=key))
        db.session.commit()
    response = api.get(f"/api/backups/{run_id}/snapshot")
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    archive = tmp_path / "download.zip"
    archive.write_bytes(response.get_data())
    assert verify_snapshot(archive).problems == []
    with zipfile.ZipFile(io.BytesIO(response.get_data())) as zf:
        names = zf.namelist()
    assert any(n.endswith("manifest.json") for n in names)
