"""`/healthz` and `/readyz`: bounded in time when the database hangs, naming the storage and the scheduler."""
from __future__ import annotations

import time

import pytest

from app import create_app
from app.scheduler import start_background
from app.services import services_of
from tests.support.hung import HungServer, closed_port


def test_healthz_answers_503_within_5_seconds_when_the_database_hangs(make_config):
    with HungServer() as database:
        app = create_app(make_config(DATABASE_URL=f"postgresql+psycopg://app@127.0.0.1:{database.port}/app"))
        client = app.test_client()
        for path in ("/healthz", "/readyz"):
            started = time.monotonic()
            response = client.get(path)
            elapsed = time.monotonic() - started
            assert response.status_code == 503 and elapsed < 5.0, (path, elapsed)
        assert database.accepted, "the probe never reached the hung listener"
        assert client.get("/readyz").json["database"] == "unavailable"


def test_readyz_is_503_without_a_live_scheduler_and_200_while_one_runs(app):
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["database"] == "ok" and response.json["storage"] == "ok"
    assert response.json["scheduler"] == "missing" and "scheduler/worker" in response.json["message"]
    background = start_background(app, services_of(app), workers=1, schedule=False)
    try:
        response = client.get("/readyz")
        assert response.status_code == 200
        assert response.json == {"database": "ok", "storage": "ok", "scheduler": "ok"}
    finally:
        background.stop(timeout=5)
    assert client.get("/readyz").json["scheduler"] == "missing"  # a clean stop removes the heartbeat at once


def test_readyz_counts_only_processes_that_run_backup_workers(app):
    background = start_background(app, services_of(app), workers=0)  # schedules, runs no backups
    try:
        assert app.test_client().get("/readyz").json["scheduler"] == "missing"
    finally:
        background.stop(timeout=5)


@pytest.fixture
def with_scheduler():
    """Run a worker-only background for an app while the test reads /readyz."""
    started = []

    def _start(app):
        started.append(start_background(app, services_of(app), workers=1, schedule=False))

    yield _start
    for background in started:
        background.stop(timeout=5)


def test_readyz_is_503_when_the_file_storage_is_unusable(make_app, tmp_path, with_scheduler):
    not_a_folder = tmp_path / "a-file"
    not_a_folder.write_text("")
    app = make_app(BACKUP_STORAGE_URL=not_a_folder.as_uri())
    with_scheduler(app)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["storage"] == "unreachable" and response.json["database"] == "ok"
    assert str(tmp_path) not in response.get_data(as_text=True)  # no data, no paths


def test_readyz_is_503_within_5_seconds_when_s3_is_down(make_app, monkeypatch, with_scheduler):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-access")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    app = make_app(BACKUP_STORAGE_URL="s3://snapshots/backups",
                   S3_ENDPOINT_URL=f"http://127.0.0.1:{closed_port()}")
    with_scheduler(app)
    started = time.monotonic()
    response = app.test_client().get("/readyz")
    assert time.monotonic() - started < 5.0
    assert response.status_code == 503 and response.json["storage"] == "unreachable"


def test_readyz_is_200_with_a_reachable_s3_bucket(make_app, s3_server, monkeypatch, with_scheduler):
    for name, value in (("AWS_ACCESS_KEY_ID", "test-access"), ("AWS_SECRET_ACCESS_KEY", "test-secret"),
                        ("AWS_DEFAULT_REGION", "us-east-1")):
        monkeypatch.setenv(name, value)
    bucket = s3_server.new_bucket()
    app = make_app(BACKUP_STORAGE_URL=f"s3://{bucket}/backups", S3_ENDPOINT_URL=s3_server.url)
    with_scheduler(app)
    assert app.test_client().get("/readyz").status_code == 200
    missing = make_app(BACKUP_STORAGE_URL="s3://no-such-bucket/backups", S3_ENDPOINT_URL=s3_server.url)
    with_scheduler(missing)
    assert missing.test_client().get("/readyz").json["storage"] == "unreachable"
