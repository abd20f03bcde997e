"""`flask backup run CLIENT_KEY` against the simulator (with its waits explained), and `flask backup verify PATH`."""
from __future__ import annotations

import re
import time
import zipfile

import pytest
from sqlalchemy import insert

from app import create_app
from app.backups.snapshot.writer import SnapshotWriter
from app.crypto import generate_key, tenant_hash
from app.extensions import db
from app.models import BackupRun, XrayPacerSlot
from app.xray.pacer import MARGIN_SECONDS, WINDOW_SECONDS
from tests.support.backups import save_credentials
from tests.support.connect import install_tenant


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


def test_backup_run_says_when_and_why_it_waits_for_the_shared_xray_budget(make_app, xray, fake_jira, dataset):
    app = make_app(XRAY_API_URL=xray.url, XRAY_RATE_LIMIT="1000")
    fake_jira.projects = [dict(p) for p in dataset.projects]
    site = install_tenant(app, fake_jira)
    save_credentials(app, site)
    # Another process used the whole budget a little under 5 minutes ago: the first request waits about 3 s.
    leaves_at = time.time() + 3
    with app.app_context(), db.engine.begin() as conn:
        conn.execute(insert(XrayPacerSlot), [{"tenant_hash": tenant_hash(site.client_key),
                                              "at": leaves_at - WINDOW_SECONDS - MARGIN_SECONDS}] * 1000)
    started = time.monotonic()
    result = app.test_cli_runner().invoke(args=["backup", "run", site.client_key])
    assert result.exit_code == 0, result.output
    assert time.monotonic() - started >= 2
    assert re.search(r"Waiting [23] s: this site's shared Xray budget \(1000 requests per 5 minutes", result.output)
    assert "Status: succeeded" in result.output


def test_backup_run_says_when_it_retries_a_failing_xray(app, site, xray):
    save_credentials(app, site)
    xray.set_faults(error_every=30, error_status=503)
    result = app.test_cli_runner().invoke(args=["backup", "run", site.client_key])
    assert result.exit_code == 0, result.output
    assert re.search(r"Waiting (a moment|\d+ s): Xray failed on \w+ \(HTTP 503\); retrying \(attempt 2\)\.",
                     result.output), result.output


def test_the_restore_drill_exports_a_stored_snapshot_that_verifies(app, site, tmp_path, make_config):
    save_credentials(app, site)
    runner = app.test_cli_runner()
    assert runner.invoke(args=["backup", "run", site.client_key]).exit_code == 0
    with app.app_context():
        run_id = db.session.scalars(db.select(BackupRun.id)).one()
    target = tmp_path / "drill.zip"
    exported = runner.invoke(args=["backup", "export", run_id, str(target)])
    assert exported.exit_code == 0, exported.output
    verified = runner.invoke(args=["backup", "verify", str(target)])
    assert verified.exit_code == 0 and "OK" in verified.output
    # The database without the escrowed keys: nothing can be decrypted, and the command says why.
    keyless = create_app(make_config(DATABASE_URL=app.config["SQLALCHEMY_DATABASE_URI"],
                                     ENCRYPTION_KEYS=f"k9:{generate_key()}", XRAY_API_URL="http://127.0.0.1:9"))
    failed = keyless.test_cli_runner().invoke(args=["backup", "export", run_id, str(tmp_path / "no.zip")])
    assert failed.exit_code == 1 and "cannot be unwrapped with any key in ENCRYPTION_KEYS" in failed.output
    with keyless.app_context():
        db.engine.dispose()
    assert runner.invoke(args=["backup", "export", "no-such-run", str(tmp_path / "x.zip")]).exit_code == 1
