"""`flask backup run CLIENT_KEY` against the simulator, and `flask backup verify PATH`."""
from __future__ import annotations

import zipfile

import pytest

from app.backups.snapshot.writer import SnapshotWriter
from app.extensions import db
from app.models import BackupRun
from tests.support.backups import save_credentials


@pytest.fixture
def app(xray_app):
    """This module's app reads Xray from the simulator (tests.support.backups.xray_app)."""
    return xray_app


@pytest.fixture
def site(xray_site):
    return xray_site


def write_snapshot(root):
    writer = SnapshotWriter(root, run_id="r", started_at="s", xray_api_url="u")
    writer.write("tests", {"issueId": "1", "jira": {"summary": "ok"}})
    with writer.attachment("a1", filename="f", owner={"type": "test_run"}) as fh:
        fh.write(b"evidence bytes" * 100)
    writer.finish(finished_at="f", requests=1)
    return root


def test_backup_run_succeeds_with_progress_and_exit_status_zero(app, site, dataset):
    save_credentials(app, site)
    result = app.test_cli_runner().invoke(args=["backup", "run", site.client_key])
    assert result.exit_code == 0, result.output
    assert "Status: succeeded" in result.output
    assert f"{dataset.counts()['tests']} tests" in result.output
    assert "requests" in result.output and "rate-limit waits" in result.output
    with app.app_context():
        run = db.session.scalars(db.select(BackupRun)).one()
        assert run.status == "succeeded" and run.trigger == "manual"


def test_backup_run_without_credentials_is_skipped_and_exits_non_zero(app, site):
    result = app.test_cli_runner().invoke(args=["backup", "run", site.client_key])
    assert result.exit_code == 1
    assert "Status: skipped" in result.output
    assert "No Xray credentials are saved" in result.output


def test_backup_run_of_an_unknown_site_says_so(app):
    result = app.test_cli_runner().invoke(args=["backup", "run", "no-such-client-key"])
    assert result.exit_code != 0
    assert "No installed site has the clientKey" in result.output


def test_verify_accepts_a_sound_snapshot_folder_and_zip(app, tmp_path):
    root = write_snapshot(tmp_path / "snap")
    runner = app.test_cli_runner()
    result = runner.invoke(args=["backup", "verify", str(root)])
    assert result.exit_code == 0 and "OK" in result.output
    archive = tmp_path / "snap.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in root.rglob("*"):
            if path.is_file():
                zf.write(path, "snap/" + path.relative_to(root).as_posix())
    assert runner.invoke(args=["backup", "verify", str(archive)]).exit_code == 0


def test_verify_reports_one_altered_byte_and_exits_non_zero(app, tmp_path):
    root = write_snapshot(tmp_path / "snap")
    target = root / "attachments" / "a1"
    data = bytearray(target.read_bytes())
    data[7] ^= 0x20
    target.write_bytes(bytes(data))
    result = app.test_cli_runner().invoke(args=["backup", "verify", str(root)])
    assert result.exit_code == 1
    assert "attachments/a1: sha256 does not match the index" in result.output
