"""GET /api/backups/<id>/changes?since=<id>: what changed between two real backups of the simulated Xray, edited in
between as a user would; and the errors (missing `since`, unknown or another tenant's run, a run with no snapshot)."""
from __future__ import annotations

import pytest

from app.backups.changes import service as changes_service
from app.backups.changes.diff import natural
from app.backups.lifecycle.datakeys import data_key_for
from app.extensions import db
from app.models import BackupRun, Tenant, utcnow
from app.backups.snapshot.source import SnapshotSource
from app.services import services_of
from tests.support.queue import add_tenant
from tests.support.restore import restore_env  # noqa: F401 - a fixture

ALPHA = "10000"


@pytest.fixture(autouse=True)
def fresh_cache():
    changes_service._CACHE.clear()
    yield
    changes_service._CACHE.clear()


def _has_files(test: dict) -> bool:
    return any(s.get("attachments") for s in test["steps"])


def _attachment_index(env, run_id: str) -> list[dict]:
    services = services_of(env.app)
    with env.app.app_context():
        tenant = db.session.get(Tenant, env.site.id)
        run = db.session.get(BackupRun, run_id)
        return list(SnapshotSource(services.store, run.snapshot_key,
                                   data_key_for(tenant, utcnow(), services.sealer)).attachment_index())


def _key(ds, issue_id: str) -> str:
    for records in (ds.tests, ds.test_executions):
        for record in records:
            if record["issueId"] == issue_id:
                return record["jira"]["key"]
    raise KeyError(issue_id)


def test_changes_between_two_backups_name_every_edit_add_and_delete(restore_env):
    env, xray = restore_env, restore_env.xray
    ds = env.ds
    first = env.backup()

    alpha = [t for t in ds.tests if t["projectId"] == ALPHA and t["testType"]["name"] == "Manual"
             and t["steps"] and not _has_files(t)]
    renamed, restepped = alpha[0], alpha[1]
    gone = next(t for t in alpha[2:] if ds.runs_by_test.get(t["issueId"]))
    gone_runs = sorted(r["id"] for r in ds.runs_by_test[gone["issueId"]])
    holders_of_gone = {h["issueId"] for records in (ds.test_sets, ds.test_plans, ds.test_executions, ds.preconditions)
                       for h in records if gone["issueId"] in h.get("_tests", [])}
    test_set = next(s for s in ds.test_sets if s["projectId"] == ALPHA and renamed["issueId"] not in s["_tests"]
                    and s["issueId"] not in holders_of_gone)
    run = next(r for r in ds.test_runs if r["_test"] not in (gone["issueId"], renamed["issueId"]))
    other_status = next(s["name"] for s in ds.statuses if s["name"] != run["status"]["name"])

    xray.edit(renamed["issueId"], summary="Renamed between the backups")
    xray.edit(restepped["issueId"], steps=[{"action": "Only step now", "data": "", "result": "Done"}])
    added = xray.add("test", project="ALPHA", summary="Added between the backups", test_type="Manual",
                     steps=[{"action": "a", "data": "", "result": "r"}])
    xray.delete(gone["issueId"])
    xray.link(test_set["issueId"], [renamed["issueId"]])
    xray.edit_run(run["id"], status=other_status)
    evidence = xray.add_evidence(run["id"], [{"filename": "proof.txt", "data": b"it worked"}])

    second = env.backup()
    response = env.api.get(f"/api/backups/{second}/changes", query_string={"since": first})
    assert response.status_code == 200, response.get_json()
    out = response.get_json()
    assert set(out) == {"tests", "preconditions", "test_sets", "test_plans", "test_executions", "test_runs",
                        "attachments"}

    tests = out["tests"]
    assert tests["added"] == [{"id": added["issueId"], "key": added["key"], "summary": "Added between the backups"}]
    assert tests["removed"] == [{"id": gone["issueId"], "key": gone["jira"]["key"], "summary": gone["jira"]["summary"]}]
    modified = {i["key"]: i for i in tests["modified"]}
    assert set(modified) == {renamed["jira"]["key"], restepped["jira"]["key"]}
    assert modified[renamed["jira"]["key"]]["summary"] == "Renamed between the backups"
    assert modified[renamed["jira"]["key"]]["parts"] == ["fields"]
    assert modified[restepped["jira"]["key"]]["parts"] == ["steps"]
    assert tests["counts"] == {"added": 1, "modified": 2, "removed": 1} and tests["truncated"] is False

    # A test joining a set, and a deleted test leaving whatever listed it, modify the holders.
    sets = {i["id"]: i for i in out["test_sets"]["modified"]}
    assert sets[test_set["issueId"]]["parts"] == ["tests"]
    held_by = {i["id"] for entity in ("test_sets", "test_plans", "test_executions", "preconditions")
               for i in out[entity]["modified"]}
    assert held_by == holders_of_gone | {test_set["issueId"]}
    assert all(not out[e]["added"] and not out[e]["removed"]
               for e in ("preconditions", "test_sets", "test_plans", "test_executions"))

    runs = out["test_runs"]
    assert [r["id"] for r in runs["removed"]] == gone_runs
    assert all(r["test"] == gone["jira"]["key"] for r in runs["removed"])  # keys from the older snapshot
    assert runs["modified"] == [{"id": run["id"], "test": _key(ds, run["_test"]),
                                 "testExecution": _key(ds, run["_test_execution"])}]
    assert runs["added"] == []
    assert out["attachments"]["added"] == [{"id": evidence[0], "filename": "proof.txt", "size": len(b"it worked")}]
    # The deleted test's files (of its steps and its runs) are gone with it, and only they.
    owned = sorted(a["id"] for a in _attachment_index(env, first)
                   if (a.get("owner") or {}).get("issueId") == gone["issueId"]
                   or (a.get("owner") or {}).get("testRunId") in gone_runs)
    assert [a["id"] for a in out["attachments"]["removed"]] == sorted(owned, key=natural)

    # The reverse direction is the mirror image; a run compared with itself has no changes.
    back = env.api.get(f"/api/backups/{first}/changes?since={second}").get_json()
    assert back["tests"]["added"] == tests["removed"] and back["tests"]["removed"] == tests["added"]
    same = env.api.get(f"/api/backups/{second}/changes?since={second}").get_json()
    assert all(not any(lists["counts"].values()) for lists in same.values())

    # A cap lists the first items in order and keeps the counts exact.
    capped = env.api.get(f"/api/backups/{second}/changes?since={first}&limit=1").get_json()
    assert capped["test_runs"]["removed"] == runs["removed"][:1]
    assert capped["test_runs"]["counts"]["removed"] == len(gone_runs)
    assert capped["test_runs"]["truncated"] is (len(gone_runs) > 1)
    assert capped["tests"]["modified"] == sorted(tests["modified"], key=lambda i: int(i["key"].split("-")[1]))[:1]


def test_bad_requests_get_clear_errors(restore_env):
    env = restore_env
    run_id = env.backup()
    missing = env.api.get(f"/api/backups/{run_id}/changes")
    assert missing.status_code == 422 and "since" in missing.get_json()["fields"]
    assert env.api.get(f"/api/backups/{run_id}/changes?since=" + "0" * 32).status_code == 404
    assert env.api.get(f"/api/backups/{'0' * 32}/changes?since={run_id}").status_code == 404
    bad_limit = env.api.get(f"/api/backups/{run_id}/changes?since={run_id}&limit=lots")
    assert bad_limit.status_code == 422 and "limit" in bad_limit.get_json()["fields"]
    assert env.api.get(f"/api/backups/{run_id}/changes?since={run_id}&limit=5001").status_code == 422

    other_id = add_tenant(env.app, "another-site")
    with env.app.app_context():
        now = utcnow()
        failed = BackupRun(tenant_id=env.site.id, status="failed", trigger="manual", queued_at=now, finished_at=now)
        theirs = BackupRun(tenant_id=other_id, status="succeeded", trigger="manual", queued_at=now, finished_at=now,
                           snapshot_key=db.session.get(BackupRun, run_id).snapshot_key)
        db.session.add_all([failed, theirs])
        db.session.commit()
        failed_id, theirs_id = failed.id, theirs.id
    conflict = env.api.get(f"/api/backups/{run_id}/changes?since={failed_id}")
    assert conflict.status_code == 409 and "failed" in conflict.get_json()["message"]
    assert env.api.get(f"/api/backups/{failed_id}/changes?since={run_id}").status_code == 409
    # Another tenant's run is not found, from either side, even when it names a snapshot the caller could read.
    assert env.api.get(f"/api/backups/{theirs_id}/changes?since={run_id}").status_code == 404
    assert env.api.get(f"/api/backups/{run_id}/changes?since={theirs_id}").status_code == 404


def test_a_snapshot_storage_cannot_read_is_a_plain_503(restore_env):
    env = restore_env
    run_id = env.backup()
    services = services_of(env.app)
    with env.app.app_context():
        key = db.session.get(BackupRun, run_id).snapshot_key
    services.store.delete(key)  # gone from storage behind the app's back
    response = env.api.get(f"/api/backups/{run_id}/changes?since={run_id}")
    assert response.status_code == 503
    body = response.get_json()
    assert body["error"] == "unavailable" and key not in body["message"] and "tenants/" not in body["message"]
