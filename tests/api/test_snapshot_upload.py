"""`POST /api/snapshots`: a downloaded snapshot zip comes back in — verified file by file, stored encrypted, an
`imported` run that can be explored and restored (here on another site) — and every bad upload is refused
naming the file, storing nothing."""
from __future__ import annotations

import io
import json
import zipfile

import pytest

from app.extensions import db
from app.models import BackupRun
from sim.jira import FakeJira
from tests.support.backups import save_credentials
from tests.support.connect import ApiClient, install_tenant
from tests.support.restore import CHARLIE, DELTA, jira_like, restore_env  # noqa: F401 - restore_env is a fixture


@pytest.fixture
def env(restore_env):
    env = restore_env
    env.run_id = env.backup()
    response = env.api.get(f"/api/backups/{env.run_id}/snapshot")
    assert response.status_code == 200
    env.zip = response.get_data()
    return env


def upload(api, data: bytes, content_type: str = "application/zip"):
    return api.post("/api/snapshots", data=data, headers={"Content-Type": content_type})


def rewritten(data: bytes, change) -> bytes:
    """The zip with its entries passed through `change(name, bytes)` (None drops an entry)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            content = change(info.filename, src.read(info))
            if content is not None:
                dst.writestr(info.filename, content)
    return out.getvalue()


def runs(env) -> list[BackupRun]:
    with env.app.app_context():
        rows = db.session.scalars(db.select(BackupRun).order_by(BackupRun.queued_at)).all()
        db.session.expunge_all()
        return rows


def test_an_uploaded_snapshot_is_verified_stored_and_restorable_on_another_site(env):
    other_jira = FakeJira().start()
    try:
        jira_like(other_jira, env.ds)
        other = install_tenant(env.app, other_jira)
        save_credentials(env.app, other)
        api = ApiClient(env.app.test_client(), other)
        response = upload(api, env.zip)
        assert response.status_code == 201, response.get_json()
        run = response.get_json()
        original = env.api.get(f"/api/backups/{env.run_id}").get_json()
        assert run["trigger"] == "imported" and run["status"] == "succeeded" and run["downloadable"]
        assert {k: v for k, v in run["counts"].items()} == original["counts"]
        assert [r["id"] for r in api.get("/api/backups").get_json()["runs"]] == [run["id"]]
        explored = api.get(f"/api/snapshots/{run['id']}").get_json()
        assert [p["key"] for p in explored["projects"]] == ["ALPHA", "BRAVO", "CHARLIE", "DELTA"]

        restore_id = api.post("/api/restores", json={"runId": run["id"], "projects": {"CHARLIE": "DELTA"}}).get_json()["id"]
        env.api = api  # the other site's worker runs it
        assert env.work() == "succeeded", api.get(f"/api/restores/{restore_id}").get_json()["message"]
        created = sum(1 for t in env.ds.tests if t["projectId"] == DELTA)
        assert created == sum(1 for t in env.ds.tests if t["projectId"] == CHARLIE)
        zipped = api.get(f"/api/backups/{run['id']}/snapshot").get_data()
        with zipfile.ZipFile(io.BytesIO(zipped)) as again, zipfile.ZipFile(io.BytesIO(env.zip)) as first:
            assert sorted(again.namelist()) == sorted(first.namelist())
            assert all(again.read(n) == first.read(n) for n in first.namelist())
    finally:
        other_jira.stop()


def test_bad_uploads_are_refused_naming_the_file_and_store_nothing(env):
    before = len(runs(env))
    manifest = json.loads(zipfile.ZipFile(io.BytesIO(env.zip)).read("manifest.json"))
    an_attachment = next(n for n in zipfile.ZipFile(io.BytesIO(env.zip)).namelist() if n.startswith("attachments/"))

    def flip(name, content):
        return content[:-1] + bytes([content[-1] ^ 1]) if name == "tests.jsonl.gz" else content

    def version(name, content):
        return json.dumps({**manifest, "format": "xray-backup/2"}).encode() if name == "manifest.json" else content

    cases = [
        (b"not a zip at all", "body", "not a zip"),
        (rewritten(env.zip, flip), "tests.jsonl.gz", "tests.jsonl.gz"),
        (rewritten(env.zip, lambda n, c: None if n == "test_runs.jsonl.gz" else c), "test_runs.jsonl.gz",
         "test_runs.jsonl.gz is missing"),
        (rewritten(env.zip, lambda n, c: None if n == an_attachment else c), an_attachment, an_attachment),
        (rewritten(env.zip, version), "manifest.json", "xray-backup/2"),
    ]
    for data, field, words in cases:
        response = upload(env.api, data)
        answer = response.get_json()
        assert response.status_code == 422, answer
        assert words in answer["message"] and field in json.dumps(answer["fields"]), answer
    assert len(runs(env)) == before


def test_links_escaping_paths_and_zip_bombs_are_refused(env):
    def entry(name: str, content: bytes, mode: int | None = None) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            if mode is not None:
                info.external_attr = mode << 16
            archive.writestr(info, content)
        return out.getvalue()

    link = upload(env.api, entry("manifest.json", b"/etc/passwd", 0o120777))
    assert link.status_code == 422 and "symbolic link" in link.get_json()["message"]
    escape = upload(env.api, entry("../../outside.txt", b"x"))
    assert escape.status_code == 422 and "not a path inside" in escape.get_json()["message"]
    bomb = upload(env.api, entry("tests.jsonl.gz", b"\0" * 30_000_000))
    assert bomb.status_code == 422 and "absurd size" in bomb.get_json()["message"]
    wrong_type = upload(env.api, env.zip, "application/json")
    assert wrong_type.status_code == 422 and "Content-Type" in wrong_type.get_json()["fields"]


class CountingStream(io.BytesIO):
    """A request body that says how much of it was read."""

    def __init__(self, size: int):
        super().__init__(b"\0" * size)
        self.size, self.read_bytes = size, 0

    def read(self, n=-1):
        data = super().read(n)
        self.read_bytes += len(data)
        return data

    def readinto(self, buffer):
        n = super().readinto(buffer)
        self.read_bytes += n
        return n

    def readline(self, limit=-1):
        data = super().readline(limit)
        self.read_bytes += len(data)
        return data


def test_an_upload_above_max_upload_mb_is_refused_413_without_being_read(make_app, fake_jira):
    app = make_app(MAX_UPLOAD_MB="1")
    api = ApiClient(app.test_client(), install_tenant(app, fake_jira))
    body = CountingStream(5 * 1024 * 1024)
    response = api.post("/api/snapshots", input_stream=body,
                        headers={"Content-Type": "application/zip", "Content-Length": str(body.size)})
    assert response.status_code == 413 and response.get_json()["error"] == "payload_too_large"
    assert "MAX_UPLOAD_MB" in response.get_json()["message"]
    assert body.read_bytes == 0
    small = api.post("/api/snapshots", data=b"PK\x05\x06" + b"\0" * 18, headers={"Content-Type": "application/zip"})
    assert small.status_code == 422  # under the limit: read, and refused as a snapshot
