"""Single-use snapshot download links: issue, consume once, expire, and stream the decrypted zip."""
from __future__ import annotations

import hashlib
import io
import json
import threading
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from app.backups.lifecycle.download_links import LINK_TTL, LinkGone, consume_link, hash_token, issue_link, snapshot_filename
from app.backups.lifecycle.datakeys import data_key_for
from app.errors import Conflict, NotFound
from app.services import current_services, services_of
from app.extensions import db
from app.models import BackupRun, DownloadLink, Tenant

NOW = datetime(2026, 11, 28, 6, 0, tzinfo=timezone.utc)


def make_tenant(client_key="tenant-a", base_url="https://acme.atlassian.net") -> Tenant:
    tenant = Tenant(
        client_key=client_key,
        shared_secret_enc=current_services().sealer.seal(client_key, "connect_shared_secret", "s" * 32),
        base_url=base_url,
        installed_at=NOW,
        updated_at=NOW,
    )
    db.session.add(tenant)
    db.session.commit()
    return tenant


def make_run(tenant, status="succeeded", snapshot_key="tenants/x/run", **extra) -> BackupRun:
    run = BackupRun(
        tenant_id=tenant.id,
        status=status,
        trigger="manual",
        queued_at=NOW - timedelta(minutes=5),
        started_at=NOW - timedelta(minutes=4),
        finished_at=NOW - timedelta(minutes=1) if status not in ("queued", "running") else None,
        snapshot_key=snapshot_key if status == "succeeded" else None,
        **extra,
    )
    db.session.add(run)
    db.session.commit()
    return run


# --- the service ---------------------------------------------------------------------------------


def test_a_link_stores_only_the_hash_of_a_256_bit_token(db_app):
    with db_app.app_context():
        tenant = make_tenant()
        run = make_run(tenant)
        link = issue_link(tenant, run.id, now=NOW)
        assert len(link.token) >= 43  # 32 random bytes, base64url
        assert link.expires_at == NOW + LINK_TTL
        rows = db.session.execute(db.select(DownloadLink)).scalars().all()
        assert [r.token_hash for r in rows] == [hashlib.sha256(link.token.encode()).hexdigest()]
        assert link.token not in json.dumps([r.token_hash for r in rows])
        assert issue_link(tenant, run.id, now=NOW).token != link.token


def test_a_link_works_once(db_app):
    with db_app.app_context():
        tenant = make_tenant()
        run = make_run(tenant)
        link = issue_link(tenant, run.id, now=NOW)
        download = consume_link(link.token, now=NOW + timedelta(seconds=5))
        assert download.run.id == run.id
        with pytest.raises(LinkGone, match="already used"):
            consume_link(link.token, now=NOW + timedelta(seconds=6))


def test_a_link_expires_after_a_minute(db_app):
    with db_app.app_context():
        tenant = make_tenant()
        run = make_run(tenant)
        link = issue_link(tenant, run.id, now=NOW)
        with pytest.raises(LinkGone, match="expired"):
            consume_link(link.token, now=NOW + LINK_TTL)
        assert db.session.get(DownloadLink, hash_token(link.token)).used_at is None


def test_unknown_and_malformed_tokens_are_not_found(db_app):
    with db_app.app_context():
        for token in ("A" * 43, "short", "../../etc/passwd", "x" * 500, ""):
            with pytest.raises(NotFound):
                consume_link(token, now=NOW)


@pytest.mark.parametrize("status", ["queued", "running", "failed", "skipped", "cancelled"])
def test_only_succeeded_runs_get_links(app, status):
    with app.app_context():
        tenant = make_tenant()
        run = make_run(tenant, status=status)
        with pytest.raises(Conflict):
            issue_link(tenant, run.id, now=NOW)


def test_a_snapshot_removed_by_retention_gets_no_link(app):
    with app.app_context():
        tenant = make_tenant()
        run = make_run(tenant, deleted_at=NOW)
        with pytest.raises(Conflict, match="no longer stored"):
            issue_link(tenant, run.id, now=NOW)


def test_another_tenants_run_is_not_found(app):
    with app.app_context():
        mine, theirs = make_tenant("a"), make_tenant("b", "https://other.atlassian.net")
        run = make_run(theirs)
        for run_id in (run.id, "nope", "x" * 40):
            with pytest.raises(NotFound):
                issue_link(mine, run_id, now=NOW)


def test_a_link_to_a_snapshot_deleted_meanwhile_is_gone(app):
    with app.app_context():
        tenant = make_tenant()
        run = make_run(tenant)
        link = issue_link(tenant, run.id, now=NOW)
        run.deleted_at = NOW
        db.session.commit()
        with pytest.raises(LinkGone, match="no longer available"):
            consume_link(link.token, now=NOW)


def test_concurrent_uses_of_one_link_yield_one_download(db_app):
    with db_app.app_context():
        tenant = make_tenant()
        link = issue_link(tenant, make_run(tenant).id, now=NOW)
    outcomes, barrier = [], threading.Barrier(6)

    def use():
        with db_app.app_context():
            barrier.wait()
            try:
                consume_link(link.token, now=NOW + timedelta(seconds=1))
                outcomes.append("download")
            except LinkGone:
                outcomes.append("gone")
            finally:
                db.session.remove()

    threads = [threading.Thread(target=use) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["download"] + ["gone"] * 5


def test_old_spent_links_are_cleaned_up_when_new_ones_are_issued(app):
    with app.app_context():
        tenant = make_tenant()
        run = make_run(tenant)
        issue_link(tenant, run.id, now=NOW - timedelta(days=3))
        issue_link(tenant, run.id, now=NOW)
        assert db.session.execute(db.select(db.func.count()).select_from(DownloadLink)).scalar() == 1


def test_the_file_name_names_the_site_and_date(app):
    with app.app_context():
        tenant = make_tenant()
        run = make_run(tenant)
        assert snapshot_filename(tenant, run) == "xray-backup-acme-2026-11-28-0556.zip"
        tenant.base_url = 'http://127.0.0.1:8001/"evil'
        assert snapshot_filename(tenant, run) == "xray-backup-127-0-0-1-2026-11-28-0556.zip"


# --- the HTTP surface --------------------------------------------------------------------------------


def _run_for(app, tenant, **kwargs) -> str:
    with app.app_context():
        return make_run(db.session.get(Tenant, tenant.id), **kwargs).id


def test_the_api_issues_a_link_under_the_app_base_url(app, api, tenant):
    run_id = _run_for(app, tenant)
    response = api.post(f"/api/backups/{run_id}/download-link")
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["url"].startswith("https://xray-backup.example.test/downloads/")
    token = body["url"].rsplit("/", 1)[1]
    assert len(token) >= 43 and "jwt" not in body["url"].lower() and "." not in token
    expires = datetime.fromisoformat(body["expiresAt"].replace("Z", "+00:00"))
    assert timedelta(seconds=50) < expires - datetime.now(timezone.utc) <= timedelta(seconds=60)
    assert "no-store" in response.headers["Cache-Control"]


def test_the_api_refuses_links_for_unfinished_unknown_and_foreign_runs(app, api, tenant):
    running = _run_for(app, tenant, status="running")
    response = api.post(f"/api/backups/{running}/download-link")
    assert response.status_code == 409
    assert response.get_json()["error"] == "conflict" and "not finished" in response.get_json()["message"]
    assert api.post("/api/backups/unknown/download-link").status_code == 404
    with app.app_context():
        foreign = make_run(make_tenant("someone-else", "https://other.atlassian.net")).id
    response = api.post(f"/api/backups/{foreign}/download-link")
    assert response.status_code == 404 and response.get_json()["error"] == "not_found"


def test_the_api_needs_a_context_token(app, client, tenant):
    run_id = _run_for(app, tenant)
    assert client.post(f"/api/backups/{run_id}/download-link").status_code == 401


def test_non_admins_get_no_link(app, api, tenant):
    run_id = _run_for(app, tenant)
    assert api.as_account("someone-not-admin").post(f"/api/backups/{run_id}/download-link").status_code == 403


@pytest.mark.parametrize("token", ["A" * 43, "nope"])
def test_an_unknown_link_gets_a_clear_404_page(client, token):
    response = client.get(f"/downloads/{token}", headers={"Accept": "text/html"})
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "Download link not found" in response.get_data(as_text=True)
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_a_used_link_gets_a_clear_410_page(app, client, tenant):
    with app.app_context():
        link = issue_link(db.session.get(Tenant, tenant.id), _run_for(app, tenant), now=NOW)
        consume_link(link.token, now=NOW)
    response = client.get(f"/downloads/{link.token}", headers={"Accept": "text/html"})
    assert response.status_code == 410
    page = response.get_data(as_text=True)
    assert "no longer valid" in page and "already used" in page and link.token not in page
    json_response = client.get(f"/downloads/{link.token}", headers={"Accept": "application/json"})
    assert json_response.status_code == 410 and json_response.get_json()["error"] == "gone"


# --- the whole way: a published, encrypted snapshot comes back as a zip, once --------------------------


def publish_snapshot(app, tenant, *, run_started=NOW) -> tuple[str, bytes]:
    """Publish a small real snapshot through the storage layer; return (run id, tests.jsonl.gz bytes)."""
    import gzip

    tests_file = gzip.compress(b'{"issueId": "10001", "jira": {"key": "CALC-1"}}\n')
    with app.app_context():
        row = db.session.get(Tenant, tenant.id)
        run = make_run(row, snapshot_key=None, bytes=len(tests_file))
        run.started_at = run_started
        folder = Path(current_services().config.instance_path) / f"local-{run.id}"
        (folder / "attachments").mkdir(parents=True)
        (folder / "attachments" / "att-1").write_bytes(b"\x89PNG evidence")
        (folder / "tests.jsonl.gz").write_bytes(tests_file)
        manifest = {"format": "xray-backup/1", "runId": run.id,
                    "entities": {"tests": {"file": "tests.jsonl.gz", "count": 1}}}
        (folder / "manifest.json").write_text(json.dumps(manifest))
        run.snapshot_key = current_services().store.publish(row.client_key, run.id, folder, data_key_for(row, NOW, current_services().sealer))
        db.session.commit()
        return run.id, tests_file


def test_a_link_downloads_the_decrypted_zip_once(app, api, client, tenant):
    run_id, tests_file = publish_snapshot(app, tenant)
    url = api.post(f"/api/backups/{run_id}/download-link").get_json()["url"]
    path = url.removeprefix("https://xray-backup.example.test")
    assert client.head(path).status_code == 200  # a probe does not use the link up
    response = client.get(path)  # no Authorization header, no jwt: the token alone
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/zip"
    # The fake Jira's site is 127.0.0.1; the date is the run's start.
    assert response.headers["Content-Disposition"] == 'attachment; filename="xray-backup-127-0-0-1-2026-11-28-0600.zip"'
    assert "no-store" in response.headers["Cache-Control"]
    assert response.headers["Content-Security-Policy"].endswith(f"frame-ancestors 'self' {tenant.base_url}")
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    assert sorted(archive.namelist()) == ["attachments/att-1", "manifest.json", "tests.jsonl.gz"]
    assert json.loads(archive.read("manifest.json"))["runId"] == run_id
    assert archive.read("tests.jsonl.gz") == tests_file
    assert archive.read("attachments/att-1") == b"\x89PNG evidence"
    assert client.head(path).status_code == 410
    again = client.get(path, headers={"Accept": "text/html"})
    assert again.status_code == 410 and "already used" in again.get_data(as_text=True)


def test_a_download_that_cannot_start_leaves_the_link_usable(app, api, client, tenant):
    import shutil

    run_id, _ = publish_snapshot(app, tenant)
    url = api.post(f"/api/backups/{run_id}/download-link").get_json()["url"]
    path = url.removeprefix("https://xray-backup.example.test")
    storage = Path(services_of(app).config.backup_storage_url.removeprefix("file://"))
    shutil.move(storage, storage.with_name("moved-away"))
    failed = client.get(path, headers={"Accept": "text/html"})
    assert failed.status_code == 503 and "Try the same link again" in failed.get_data(as_text=True)
    shutil.move(storage.with_name("moved-away"), storage)
    assert client.get(path).status_code == 200


def test_concurrent_requests_for_one_link_over_http_get_one_zip(db_app, fake_jira):
    """Real HTTP, a threaded server, both databases: of simultaneous uses of one link, exactly one streams."""
    import requests
    from werkzeug.serving import make_server

    from tests.support.connect import install_tenant

    tenant = install_tenant(db_app, fake_jira)
    run_id, _ = publish_snapshot(db_app, tenant)
    with db_app.app_context():
        token = issue_link(db.session.get(Tenant, tenant.id), run_id, now=datetime.now(timezone.utc)).token
    server = make_server("127.0.0.1", 0, db_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}/downloads/{token}"
    barrier, statuses, bodies = threading.Barrier(5), [], []

    def fetch():
        barrier.wait()
        response = requests.get(url, timeout=30)
        statuses.append(response.status_code)
        if response.status_code == 200:
            bodies.append(response.content)

    try:
        workers = [threading.Thread(target=fetch) for _ in range(5)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(60)
    finally:
        server.shutdown()
    assert sorted(statuses) == [200, 410, 410, 410, 410]
    assert "manifest.json" in zipfile.ZipFile(io.BytesIO(bodies[0])).namelist()
