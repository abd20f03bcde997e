"""`/api/restores`: every bad input is a clear error (status, message, the field) and changes nothing anywhere."""
from __future__ import annotations

import csv
import io
import json

import pytest

from app.extensions import db
from app.models import BackupRun, utcnow
from app.restore.models import Restore
from sim.jira import FakeJira
from tests.support.connect import ApiClient, install_tenant
from tests.support.restore import restore_env  # noqa: F401 - a fixture


def restore_rows(env) -> int:
    with env.app.app_context():
        return db.session.scalar(db.select(db.func.count()).select_from(Restore))


def add_run(env, status: str, **fields) -> str:
    with env.app.app_context():
        now = utcnow()
        run = BackupRun(tenant_id=env.site.id, status=status, trigger="manual", queued_at=now, started_at=now,
                        finished_at=None if status in ("queued", "running") else now, **fields)
        db.session.add(run)
        db.session.commit()
        return run.id


@pytest.fixture
def env(restore_env):
    env = restore_env
    env.run_id = env.backup()
    env.xray.reset_stats()
    return env


def assert_refused(env, body, status: int, field: str | None = None, words: str = "") -> dict:
    response = env.api.post("/api/restores", json=body)
    answer = response.get_json()
    assert response.status_code == status, answer
    assert answer["error"] and answer["message"]
    if field is not None:
        assert field in (answer.get("fields") or {}), answer
    if words:
        assert words in json.dumps(answer, ensure_ascii=False), answer
    assert restore_rows(env) == 0
    assert env.xray.stats().get("mutations", 0) == 0
    return answer


def test_an_unknown_run_or_another_sites_run_is_not_found(env):
    assert_refused(env, {"runId": "0" * 32}, 404)
    with FakeJira() as other_jira:
        other = install_tenant(env.app, other_jira)
        with env.app.app_context():
            now = utcnow()
            run = BackupRun(tenant_id=other.id, status="succeeded", trigger="manual", queued_at=now, started_at=now,
                            finished_at=now, snapshot_key=f"tenants/{'1' * 32}/x")
            db.session.add(run)
            db.session.commit()
            other_run = run.id
        assert_refused(env, {"runId": other_run}, 404)
        response = ApiClient(env.app.test_client(), other).get("/api/restores")
        assert response.get_json() == {"restores": []}


def test_a_run_that_did_not_succeed_cannot_be_restored(env):
    for status in ("failed", "running", "skipped"):
        answer = assert_refused(env, {"runId": add_run(env, status)}, 422, "runId", status)
        assert "succeeded" in answer["message"]


def test_a_missing_target_project_or_one_not_in_the_snapshot_is_named(env):
    assert_refused(env, {"runId": env.run_id, "projects": {"ALPHA": "NOPE"}}, 422, "projects.ALPHA", "NOPE")
    assert_refused(env, {"runId": env.run_id, "projects": {"ZULU": "ALPHA"}}, 422, "projects.ZULU", "ZULU")
    env.jira.projects = [p for p in env.jira.projects if p["key"] != "BRAVO"]  # deleted from Jira since the backup
    assert_refused(env, {"runId": env.run_id}, 422, "projects.BRAVO", "BRAVO")


def test_issue_keys_not_in_the_snapshot_or_outside_the_chosen_projects_are_named(env):
    assert_refused(env, {"runId": env.run_id, "issueKeys": ["ALPHA-1", "ALPHA-99999"]}, 422, "issueKeys",
                   "ALPHA-99999")
    assert_refused(env, {"runId": env.run_id, "projects": {"BRAVO": "BRAVO"}, "issueKeys": ["ALPHA-1"]}, 422,
                   "issueKeys", "ALPHA-1")


MALFORMED = [
    ({}, "runId"), ({"runId": 7}, "runId"), (["not", "an", "object"], "body"),
    ({"runId": "x", "projects": ["ALPHA"]}, "projects"), ({"runId": "x", "projects": {"ALPHA": ""}}, "projects"),
    ({"runId": "x", "issueKeys": "ALPHA-1"}, "issueKeys"), ({"runId": "x", "issueKeys": []}, "issueKeys"),
    ({"runId": "x", "dryRun": "yes"}, "dryRun"), ({"runId": "x", "extra": 1}, "extra"),
]


def test_a_malformed_body_names_the_field(env):
    for body, field in MALFORMED:
        assert_refused(env, body, 422, field)
    response = env.api.post("/api/restores", data="{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and restore_rows(env) == 0


def test_a_second_restore_while_one_is_queued_or_running_is_a_conflict(env):
    first = env.start({"runId": env.run_id, "dryRun": True})
    assert first["status"] == "queued"
    response = env.api.post("/api/restores", json={"runId": env.run_id})
    assert response.status_code == 409 and response.get_json()["error"] == "conflict"
    with env.app.app_context():
        assert db.session.scalar(db.select(db.func.count()).select_from(Restore)) == 1
    assert env.work() == "succeeded"
    assert env.start({"runId": env.run_id, "dryRun": True})["status"] == "queued"


def test_a_restore_reads_back_with_its_plan_items_and_report(env):
    restore = env.restore({"runId": env.run_id, "projects": {"BRAVO": "BRAVO"}, "dryRun": True})
    assert restore["status"] == "succeeded" and restore["projects"] == {"BRAVO": "BRAVO"}
    assert set(restore["plan"]) == {"create", "existing", "link", "warnings"}
    assert set(restore["plan"]["create"]) == {"tests", "preconditions", "test_sets", "test_plans", "test_executions",
                                              "test_runs", "folders"}
    listed = env.api.get("/api/restores").get_json()["restores"]
    assert [r["id"] for r in listed] == [restore["id"]]
    assert set(listed[0]) >= {"id", "runId", "status", "dryRun", "queuedAt", "startedAt", "finishedAt", "counts",
                              "message"}
    items = env.items(restore["id"])
    assert items and all(set(i) >= {"entity", "sourceId", "sourceKey", "outcome", "targetId", "targetKey", "reason"}
                         for i in items)
    assert {i["entity"] for i in items} <= {"tests", "preconditions", "test_sets", "test_plans", "test_executions",
                                            "test_runs"}
    report = env.api.get(f"/api/restores/{restore['id']}/report")
    assert report.status_code == 200 and report.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(report.get_data(as_text=True))))
    assert len(rows) == len(items) and rows[0]["outcome"] in ("existing", "skipped")
    assert env.api.get("/api/restores/" + "f" * 32).status_code == 404
    with FakeJira() as other_jira:
        other = ApiClient(env.app.test_client(), install_tenant(env.app, other_jira))
        for path in ("", "/items", "/report"):
            assert other.get(f"/api/restores/{restore['id']}{path}").status_code == 404
