"""Browsing a snapshot through the API: projects, items searched by key or summary, one item in full."""
from __future__ import annotations

import pytest

from app.extensions import db
from app.models import BackupRun, utcnow
from tests.support.restore import restore_env  # noqa: F401 - a fixture


@pytest.fixture
def env(restore_env):
    restore_env.run_id = restore_env.backup()
    return restore_env


def test_a_snapshot_lists_its_projects_and_their_items_searchable_by_key_or_summary(env):
    ds, api = env.ds, env.api
    contents = api.get(f"/api/snapshots/{env.run_id}").get_json()
    alpha = next(p for p in contents["projects"] if p["key"] == "ALPHA")
    assert alpha["counts"]["tests"] == sum(1 for t in ds.tests if t["projectId"] == "10000")
    assert alpha["counts"]["test_runs"] == sum(1 for r in ds.test_runs
                                               if ds.test_execution_by_id[r["_test_execution"]]["projectId"] == "10000")
    page = api.get(f"/api/snapshots/{env.run_id}/items?project=ALPHA&entity=tests&limit=10&offset=5").get_json()
    assert page["total"] == alpha["counts"]["tests"] and len(page["items"]) == 10 and page["offset"] == 5
    key = ds.tests[1]["jira"]["key"]
    by_key = api.get(f"/api/snapshots/{env.run_id}/items", query_string={"q": key.lower()}).get_json()
    assert key in [i["key"] for i in by_key["items"]]
    by_summary = api.get(f"/api/snapshots/{env.run_id}/items", query_string={"q": "测试"}).get_json()
    assert by_summary["total"] >= 1 and all("测试" in i["summary"] or "测试" in (i["key"] or "")
                                            for i in by_summary["items"])
    assert api.get(f"/api/snapshots/{env.run_id}/items?entity=nope").status_code == 422
    assert api.get(f"/api/snapshots/{env.run_id}/items?limit=x").status_code == 422


def test_a_test_shows_its_steps_files_and_runs_and_an_execution_its_runs(env):
    ds, api = env.ds, env.api
    test = next(t for t in ds.tests if any(s["attachments"] for s in t["steps"]) and ds.runs_by_test.get(t["issueId"]))
    detail = api.get(f"/api/snapshots/{env.run_id}/items/tests/{test['issueId']}").get_json()
    assert detail["key"] == test["jira"]["key"] and len(detail["steps"]) == len(test["steps"])
    assert any(a["filename"] for s in detail["steps"] for a in s["attachments"])
    assert len(detail["runs"]) == len(ds.runs_by_test[test["issueId"]])
    assert {r["status"] for r in detail["runs"]} <= {s["name"] for s in ds.statuses}
    execution = ds.test_executions[0]
    shown = api.get(f"/api/snapshots/{env.run_id}/items/test_executions/{execution['issueId']}").get_json()
    assert len(shown["tests"]) == len(execution["_tests"]) and len(shown["runs"]) == len(execution["_tests"])
    assert api.get(f"/api/snapshots/{env.run_id}/items/tests/1").status_code == 404
    assert api.get(f"/api/snapshots/{env.run_id}/items/folders/1").status_code == 404


def test_only_a_stored_succeeded_snapshot_can_be_explored(env):
    with env.app.app_context():
        now = utcnow()
        failed = BackupRun(tenant_id=env.site.id, status="failed", trigger="manual", queued_at=now, finished_at=now)
        db.session.add(failed)
        db.session.commit()
        failed_id = failed.id
    assert env.api.get(f"/api/snapshots/{failed_id}").status_code == 409
    assert env.api.get("/api/snapshots/" + "0" * 32).status_code == 404


def test_the_sites_projects_are_listed_as_restore_targets(env):
    projects = env.api.get("/api/jira-projects").get_json()["projects"]
    assert [p["key"] for p in projects] == ["ALPHA", "BRAVO", "CHARLIE", "DELTA"]
