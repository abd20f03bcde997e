"""Incremental backups end to end against the Xray simulator over HTTP: exact against a full backup taken at the
same moment after edits, adds and deletes (SQLite and PostgreSQL, file and S3 storage), despite 429s and 5xx,
and full with the reason when the parent is gone or damaged."""
from __future__ import annotations

from pathlib import Path

import pytest

from app.backups.lifecycle.datakeys import data_key_for
from app.backups.runs.claims import claim_next
from app.backups.runs.enqueue import enqueue_manual
from app.backups.runs.runner import execute_run
from app.backups.runs.status import settle
from app.backups.schedule.settings import settings_for
from app.backups.snapshot.format import attachment_path
from app.backups.snapshot.verifier import verify_snapshot
from app.extensions import db
from app.models import BackupRun, Tenant, utcnow
from app.services import services_of
from app.urls import Purpose, policy_for
from app.xray.client import XrayClient
from app.xray.pacer import Pacer
from sim.xray.dataset import Dataset
from tests.support.backups import read_snapshot, save_credentials
from tests.support.incremental import assert_matches_truth, assert_same_data


@pytest.fixture
def dataset():
    """A dataset of this test's own: the tests change it."""
    return Dataset(scale=1)


@pytest.fixture
def app(request, xray_app):
    storage = getattr(getattr(request.node, "callspec", None), "params", {}).get("storage", "file")
    if storage == "s3":
        services_of(xray_app).store = request.getfixturevalue("s3_store_factory")()
    return xray_app


@pytest.fixture
def site(app, xray_site):
    save_credentials(app, xray_site)
    return xray_site


def fast_client(tenant, access):
    """The real client with short back-offs, so fault tests take seconds."""
    return XrayClient(access.base_url, access.client_id, access.client_secret, pacer=Pacer(100000),
                      backoff_base=0.01, backoff_cap=0.05, max_attempts=8,
                      download_policy=policy_for(Purpose.XRAY_DOWNLOAD, production=False))


def backup(app, site, *, full: bool = False) -> BackupRun:
    with app.app_context():
        enqueue_manual(db.session.get(Tenant, site.id), utcnow(), full=full)
        run_id = claim_next("test-worker", utcnow(), 120).id
        outcome = execute_run(run_id, services_of(app), client_factory=fast_client)
        settle(run_id, "test-worker", utcnow(), outcome)
        run = db.session.get(BackupRun, run_id, populate_existing=True)
        db.session.expunge(run)
    assert run.status == "succeeded", run.message
    return run


def fetch(app, site, run: BackupRun, dest: Path) -> Path:
    services = services_of(app)
    with app.app_context():
        tenant = db.session.get(Tenant, site.id)
        for rel, chunks in services.store.iter_files(run.snapshot_key, data_key_for(tenant, utcnow(), services.sealer)):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(b"".join(chunks))
    assert verify_snapshot(dest).problems == []
    return dest


def change_everything(xray) -> None:
    """Edits, adds, deletes and relation changes of every kind, as users make them in Xray."""
    ds = xray.dataset
    tests = [t["issueId"] for t in ds.tests]
    execution = next(e for e in ds.test_executions if len(e["_tests"]) > 1)
    run = next(r for r in ds.runs_by_execution[execution["issueId"]] if r["_test"] != execution["_tests"][0])
    xray.edit(tests[0], summary="Renamed", labels=["incremental"])
    xray.edit(tests[1], steps=[{"action": "a", "data": "", "result": "r",
                                "attachments": [{"filename": "step.txt", "data": b"new step file"}]}])
    xray.delete(tests[2])
    new_test = xray.add("test", project=ds.projects[0]["key"], summary="Added after the full backup")
    xray.link(ds.test_sets[0]["issueId"], [new_test["issueId"]])
    xray.add("test_execution", project=ds.projects[-1]["key"], summary="New execution", tests=tests[3:5])
    xray.edit_run(run["id"], status="FAILED", comment="regressed")
    xray.add_evidence(run["id"], [{"filename": "trace.log", "data": b"stack trace"}])
    xray.unlink(execution["issueId"], [execution["_tests"][0]])
    xray.delete(ds.preconditions[0]["issueId"])
    xray.delete(ds.test_plans[0]["issueId"])


def assert_same_snapshot(a: Path, b: Path) -> None:
    assert_same_data(read_snapshot(a), read_snapshot(b))
    index = {e["id"] for e in read_snapshot(b)["attachments"]}
    for att_id in index:
        assert (a / attachment_path(att_id)).read_bytes() == (b / attachment_path(att_id)).read_bytes()


@pytest.mark.parametrize("database,storage", [("sqlite", "file"), ("postgresql", "file"), ("sqlite", "s3")])
def test_an_incremental_snapshot_equals_a_full_one_taken_at_the_same_moment(app, site, xray, tmp_path, database,
                                                                            storage):
    first = backup(app, site)
    assert first.kind == "full" and first.parent_id is None and first.changed is None
    change_everything(xray)
    xray.reset_stats()
    second = backup(app, site)
    incremental_stats = xray.stats()
    third = backup(app, site, full=True)
    assert second.kind == "incremental" and second.parent_id == first.id
    assert third.kind == "full" and "a full backup was requested" in third.message
    incremental, full = fetch(app, site, second, tmp_path / "i"), fetch(app, site, third, tmp_path / "f")
    assert_same_snapshot(incremental, full)
    assert_matches_truth(incremental, xray.dataset, xray.url)
    assert second.counts == third.counts
    changed = second.changed
    assert changed["tests"]["added"] == 1 and changed["tests"]["removed"] == 1 and changed["tests"]["modified"] >= 2
    assert changed["test_executions"]["added"] == 1 and changed["test_plans"]["removed"] == 1
    assert changed["preconditions"]["removed"] == 1 and changed["test_sets"]["modified"] >= 1
    assert changed["test_runs"]["added"] == 2 and changed["test_runs"]["removed"] >= 1
    assert changed["attachments"] == {"added": 2, "removed": 0} or changed["attachments"]["added"] == 2
    assert incremental_stats.get("attachment", 0) == 2  # the new files only
    assert second.requests < 0.5 * first.requests, (second.requests, first.requests)
    assert second.stored_bytes and third.stored_bytes


def test_no_change_sends_only_listing_requests_and_downloads_nothing(app, site, xray):
    first = backup(app, site)
    xray.reset_stats()
    second = backup(app, site)
    stats = xray.stats()
    assert second.kind == "incremental"
    assert stats.get("attachment", 0) == 0
    assert set(stats["by_query"]) <= {"getProjectSettings", "getStatuses", "getStepStatuses", "getFolder", "getTests",
                                      "getPreconditions", "getTestSets", "getTestPlans", "getTestExecutions",
                                      "getTestRuns"}
    assert all(c == {"added": 0, "modified": 0, "removed": 0} for e, c in second.changed.items() if e != "attachments")
    assert second.requests <= 0.25 * first.requests, (second.requests, first.requests)


FAULTS = {"429 with Retry-After": dict(too_many_every=5, retry_after=0), "502": dict(error_every=4),
          "connection reset": dict(reset_every=6), "token expiry": dict(revoke_every=7)}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_faults_mid_incremental_leave_it_exact(app, site, xray, tmp_path, fault):
    backup(app, site)
    change_everything(xray)
    xray.set_faults(**FAULTS[fault])
    run = backup(app, site)
    xray.clear_faults()
    assert run.kind == "incremental"
    assert any(v for k, v in xray.stats().items() if k.startswith("fault_") or k == "rate_limited")
    assert_matches_truth(fetch(app, site, run, tmp_path / "i"), xray.dataset, xray.url)


def test_a_deleted_parent_makes_the_next_run_full_and_says_why(app, site, xray, tmp_path):
    first = backup(app, site)
    services_of(app).store.delete(first.snapshot_key)
    xray.edit(xray.dataset.tests[0]["issueId"], summary="After the parent vanished")
    run = backup(app, site)
    assert run.kind == "full" and run.parent_id is None
    assert "previous snapshot could not be read from storage (it is missing)" in run.message
    assert_matches_truth(fetch(app, site, run, tmp_path / "f"), xray.dataset, xray.url)


def test_a_corrupted_parent_makes_the_next_run_full_and_says_why(app, site, xray, tmp_path):
    backup(app, site)
    # The parent's records live in the tenant's shared packs: damage the one its publish wrote.
    packs = Path(services_of(app).config.instance_path) / "backups" / "tenants"
    damaged = [p for p in packs.rglob("*") if p.is_file() and p.parent.name == "packs"]
    assert len(damaged) == 1
    data = bytearray(damaged[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged[0].write_bytes(bytes(data))
    run = backup(app, site)
    assert run.kind == "full" and "failed its integrity check" in run.message, run.message
    assert_matches_truth(fetch(app, site, run, tmp_path / "f"), xray.dataset, xray.url)


def test_full_every_days_forces_a_full_run(app, site, xray):
    first = backup(app, site)
    with app.app_context():
        settings_for(db.session.get(Tenant, site.id), utcnow()).full_every_days = 1
        db.session.get(BackupRun, first.id).first_started_at = utcnow().replace(year=utcnow().year - 1)
        db.session.commit()
    run = backup(app, site)
    assert run.kind == "full" and "a full backup is taken every 1 day" in run.message


class ShortSinceClient(XrayClient):
    """Xray claiming changed test sets it never returns: the incremental list cannot be read whole."""

    def graphql(self, name, query, variables=None):
        if name == "TestSetsPageSince":
            self.stats.requests += 1
            return {"getTestSets": {"total": 3, "start": 0, "limit": 100, "results": []}}
        return super().graphql(name, query, variables)


def short_since_client(tenant, access):
    return ShortSinceClient(access.base_url, access.client_id, access.client_secret, pacer=Pacer(100000),
                            download_policy=policy_for(Purpose.XRAY_DOWNLOAD, production=False))


def test_a_list_not_read_whole_mid_incremental_means_a_full_read_with_the_reason(app, site, xray):
    backup(app, site)
    with app.app_context():
        enqueue_manual(db.session.get(Tenant, site.id), utcnow())
        run_id = claim_next("test-worker", utcnow(), 120).id
        outcome = execute_run(run_id, services_of(app), client_factory=short_since_client)
    assert outcome.status == "succeeded" and outcome.fields["kind"] == "full"
    assert "could not be read whole" in outcome.message and "so everything was read" in outcome.message
