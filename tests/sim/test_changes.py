"""modifiedSince, the lastModified rules an incremental backup relies on, the clock, and driving changes."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest
import requests

from tests.support.sim_api import b64, unchanged

LISTS = {"getTests": "tests", "getPreconditions": "preconditions", "getTestSets": "test_sets",
         "getTestPlans": "test_plans", "getTestExecutions": "test_executions", "getTestRuns": "test_runs"}
GRACE = "5b10ac8d82e05b22cc7d4ef5"


def modified_since(api, since: str) -> dict[str, set[str]]:
    """Every list query's answer to modifiedSince, as ids per query."""
    ids = {name: "id" if name == "getTestRuns" else "issueId" for name in LISTS}
    fields = " ".join(f"{name}(limit: 100, modifiedSince: $since) {{ results {{ {ids[name]} }} }}" for name in LISTS)
    data = api.data(f"query($since: String) {{ {fields} }}", {"since": since})
    return {name: {r.get("id") or r.get("issueId") for r in data[name]["results"]} for name in LISTS}


def moment_before_a_change(xray) -> str:
    since = xray.clock()["now"]
    time.sleep(0.003)  # the change's stamp is then strictly after, in milliseconds
    return since


@pytest.mark.parametrize("name", sorted(LISTS))
def test_every_list_returns_only_what_changed_after_modified_since(xray, api, ds, name):
    records = getattr(ds, LISTS[name])
    target = records[len(records) // 2]
    since = moment_before_a_change(xray)
    if name == "getTestRuns":
        xray.edit_run(target["id"], comment="changed later")
    else:
        xray.edit(target["issueId"], summary="Changed later")
    changed = modified_since(api, since)
    assert changed[name] == {target.get("id") or target.get("issueId")}
    assert all(not ids for other, ids in changed.items() if other != name)


@pytest.mark.parametrize("since, cut", [
    ("2025-06-01", "2025-06-01T00:00:00.000Z"),
    ("2025-06-01T00:00:00Z", "2025-06-01T00:00:00.000Z"),
    ("2025-06-01T02:00:00+02:00", "2025-06-01T00:00:00.000Z"),
    ("2025-06-01T00:00:00", "2025-06-01T00:00:00.000Z"),
    ("2025/06/01 13:30", "2025-06-01T13:30:00.000Z"),
    ("2025-06-01T13:30:00.000Z", "2025-06-01T13:30:00.000Z"),
])
def test_modified_since_accepts_the_date_formats_and_is_strictly_after(api, ds, since, cut):
    got = api.data('query($s: String) { getTests(limit: 1, modifiedSince: $s) { total } }', {"s": since})
    assert got["getTests"]["total"] == sum(t["lastModified"] > cut for t in ds.tests)


def test_modified_since_at_an_items_own_time_leaves_that_item_out(api, ds):
    latest = max(t["lastModified"] for t in ds.tests)
    assert api.data('query($s: String) { getTests(limit: 1, modifiedSince: $s) { total } }',
                    {"s": latest})["getTests"]["total"] == 0
    assert "not a valid date" in api.error('{ getTests(limit: 1, modifiedSince: "last tuesday") { total } }')


def test_a_test_joining_a_set_moves_the_test_and_the_set_only(xray, api, ds):
    test_set = ds.test_sets[-1]
    test = next(t for t in ds.tests if t["issueId"] not in test_set["_tests"])
    since = moment_before_a_change(xray)
    api.mutate("addTestsToTestSet", "addedTests", issueId=test_set["issueId"], testIssueIds=[test["issueId"]])
    assert modified_since(api, since) == {**{name: set() for name in LISTS}, "getTests": {test["issueId"]},
                                          "getTestSets": {test_set["issueId"]}}


def test_a_change_that_changes_nothing_moves_nothing(xray, api, ds):
    test_set = next(s for s in ds.test_sets if s["_tests"])
    since = moment_before_a_change(xray)
    api.mutate("addTestsToTestSet", "addedTests", issueId=test_set["issueId"], testIssueIds=test_set["_tests"][:1])
    xray.edit(ds.tests[7]["issueId"], summary=ds.tests[7]["jira"]["summary"])
    assert not any(modified_since(api, since).values())


def test_deleting_a_test_moves_every_issue_that_listed_it(xray, api, ds):
    test = next(t for t in ds.tests if t["_preconditions"]
                and all(ds.member_of.get((kind, t["issueId"])) for kind in ("sets", "plans", "execs")))
    holders = {"getTestSets": set(ds.member_of[("sets", test["issueId"])]),
               "getTestPlans": set(ds.member_of[("plans", test["issueId"])]),
               "getTestExecutions": set(ds.member_of[("execs", test["issueId"])]),
               "getPreconditions": set(test["_preconditions"])}
    since = moment_before_a_change(xray)
    api.data('mutation($id: String!) { deleteTest(issueId: $id) }', {"id": test["issueId"]})
    assert modified_since(api, since) == {**holders, "getTests": set(), "getTestRuns": set()}


def test_a_runs_results_move_the_run_but_not_its_test_or_execution(xray, api, ds):
    run = next(r for r in ds.test_runs if r["steps"] and not r["_iterations"])
    since = moment_before_a_change(xray)
    api.data('mutation($id: String!) { updateTestRunStatus(id: $id, status: "PASSED") }', {"id": run["id"]})
    api.data('mutation($id: String!) { updateTestRunComment(id: $id, comment: "ok") }', {"id": run["id"]})
    xray.edit_run_step(run["id"], run["steps"][0]["id"], status="FAILED", comment="step note")
    assert modified_since(api, since) == {**{name: set() for name in LISTS}, "getTestRuns": {run["id"]}}


def test_editing_a_test_does_not_move_the_sets_that_hold_a_copy_of_it(xray, api, ds):
    test = next(t for t in ds.tests if ds.member_of.get(("sets", t["issueId"])))
    since = moment_before_a_change(xray)
    xray.edit(test["issueId"], summary="Renamed", description="new", folder="/Smoke")
    changed = modified_since(api, since)
    assert changed["getTests"] == {test["issueId"]} and changed["getTestSets"] == set()


def test_adding_a_test_to_an_execution_moves_both_and_its_new_run_is_new(xray, api, ds):
    execution = ds.test_executions[-1]
    test = next(t for t in ds.tests if t["issueId"] not in execution["_tests"])
    since = moment_before_a_change(xray)
    xray.link(execution["issueId"], [test["issueId"]])
    changed = modified_since(api, since)
    new_run = next(r["id"] for r in ds.runs_by_execution[execution["issueId"]] if r["_test"] == test["issueId"])
    assert changed["getTests"] == {test["issueId"]} and changed["getTestExecutions"] == {execution["issueId"]}
    assert changed["getTestRuns"] == {new_run}


def test_linking_a_plan_and_an_execution_moves_both(xray, api, ds):
    plan = ds.test_plans[-1]
    execution = next(e for e in ds.test_executions if e["issueId"] not in plan["_test_executions"])
    since = moment_before_a_change(xray)
    xray.link(plan["issueId"], [execution["issueId"]])
    changed = modified_since(api, since)
    assert changed["getTestPlans"] == {plan["issueId"]} and changed["getTestExecutions"] == {execution["issueId"]}


def test_the_clock_skew_moves_every_stamp_and_modified_since_must_allow_for_it(xray, api, ds):
    xray.set_clock(skew_seconds=-3600)
    real_now = datetime.now(timezone.utc)
    test = ds.tests[20]
    xray.edit(test["issueId"], summary="Changed by a slow clock")
    stamped = datetime.fromisoformat(test["lastModified"].replace("Z", "+00:00"))
    assert timedelta(minutes=59) < real_now - stamped < timedelta(minutes=61)
    app_minute_ago = (real_now - timedelta(minutes=1)).isoformat()
    assert test["issueId"] not in modified_since(api, app_minute_ago)["getTests"]
    with_overlap = (real_now - timedelta(hours=2)).isoformat()
    assert test["issueId"] in modified_since(api, with_overlap)["getTests"]

    assert requests.post(f"{xray.url}/_sim/clock", json={"skew_seconds": 90}, timeout=5).json()["skewSeconds"] == 90
    now = requests.get(f"{xray.url}/_sim/clock", timeout=5).json()["now"]
    ahead = datetime.fromisoformat(now.replace("Z", "+00:00"))
    assert timedelta(seconds=85) < ahead - datetime.now(timezone.utc) < timedelta(seconds=95)


def test_stamps_of_quick_successive_changes_are_strictly_increasing(xray, ds):
    for i in range(20):
        xray.edit(ds.tests[30 + i]["issueId"], summary=f"quick {i}")
    stamps = [ds.tests[30 + i]["lastModified"] for i in range(20)]
    assert stamps == sorted(stamps) and len(set(stamps)) == 20


def test_the_control_route_drives_every_kind_of_change(xray, api, ds):
    def change(op, **args):
        return requests.post(f"{xray.url}/_sim/change", json={"op": op, "args": args}, timeout=5)

    steps = [{"action": "a", "attachments": [{"filename": "f.bin", "data": b64(b"\x01\x02")}]}]
    made = change("add", kind="test", project="BRAVO", summary="Added by a user", steps=steps).json()["result"]
    assert made["key"].startswith("BRAVO-")
    query = 'query($id: String) { getTest(issueId: $id) { steps { attachments { id } } } }'
    served = api.data(query, {"id": made["issueId"]})
    assert api.download(served["getTest"]["steps"][0]["attachments"][0]["id"]).content == b"\x01\x02"
    test_set = change("add", kind="test_set", project="BRAVO", summary="A set", tests=[made["issueId"]])
    test_set = test_set.json()["result"]
    assert ds.test_set_by_id[test_set["issueId"]]["_tests"] == [made["issueId"]]
    assert change("edit", issue_id=made["issueId"], summary="Renamed", folder="/Smoke").status_code == 200
    relation = {"holder_id": test_set["issueId"], "member_ids": [made["issueId"]]}
    assert change("unlink", **relation).json()["result"] == [made["issueId"]]
    assert change("link", **relation).json()["result"] == [made["issueId"]]
    run = ds.test_runs[0]
    assert change("edit_run", run_id=run["id"], status="FAILED", executed_by_id=GRACE).status_code == 200
    assert run["status"]["name"] == "FAILED" and run["executedById"] == GRACE
    evidence = change("add_evidence", run_id=run["id"], files=[{"filename": "e", "data": b64(b"e")}])
    assert len(evidence.json()["result"]) == 1
    assert change("delete", issue_id=made["issueId"]).status_code == 200
    assert made["issueId"] not in ds.test_by_id and ds.test_set_by_id[test_set["issueId"]]["_tests"] == []
    with unchanged(ds):
        refused = change("edit", issue_id=ds.tests[0]["issueId"], components=[{"name": "Nope"}])
        assert refused.status_code == 400 and refused.json()["field"] == "components"
        assert change("explode").status_code == 400


def test_a_snapshot_keeps_the_ground_truth_of_its_moment(xray, api, ds):
    before = xray.snapshot()
    test = ds.tests[0]
    xray.edit(test["issueId"], summary="After the snapshot")
    query = 'query($id: String) { getTest(issueId: $id) { jira(fields: ["summary"]) } }'
    assert before.query(query, {"id": test["issueId"]})["data"]["getTest"]["jira"]["summary"] != "After the snapshot"
    assert ds.query(query, {"id": test["issueId"]})["data"]["getTest"]["jira"]["summary"] == "After the snapshot"

    xray.reset_stats()
    truth = requests.post(f"{xray.url}/_sim/query", json={"query": query, "variables": {"id": test["issueId"]}},
                          timeout=5).json()
    assert truth["data"]["getTest"]["jira"]["summary"] == "After the snapshot"
    whole = requests.get(f"{xray.url}/_sim/snapshot", timeout=10).json()
    assert next(t for t in whole["tests"] if t["issueId"] == test["issueId"])["jira"]["summary"] == "After the snapshot"
    assert len(whole["test_runs"]) == len(ds.test_runs) and "_tests" in whole["test_sets"][0]
    assert xray.stats().get("requests", 0) == 0  # control routes are not Xray requests


def test_the_backup_exporter_reproduces_the_ground_truth_after_every_kind_of_change(xray, api, ds, tmp_path):
    from app.backups.export.exporter import Exporter
    from app.backups.snapshot.writer import SnapshotWriter
    from tests.support.backups import DatasetClient, assert_snapshot_matches

    made = xray.add("test", project="ALPHA", summary="New", folder="/Smoke",
                    steps=[{"action": "x", "attachments": [{"filename": "n.txt", "data": b"new"}]}])
    execution = xray.add("test_execution", project="ALPHA", summary="Run it", tests=[made["issueId"]])
    run = ds.runs_by_execution[execution["issueId"]][0]
    xray.edit_run(run["id"], status="PASSED", comment="fine")
    xray.add_evidence(run["id"], [{"filename": "e.txt", "data": b"evidence"}])
    xray.edit_run_step(run["id"], run["steps"][0]["id"], status="PASSED",
                       add_evidence=[{"filename": "s.txt", "data": b"step"}])
    xray.link(ds.test_sets[0]["issueId"], [made["issueId"]])
    xray.delete(ds.tests[5]["issueId"])
    xray.delete(ds.test_executions[3]["issueId"])
    xray.edit(ds.tests[9]["issueId"], steps=[{"action": "only step"}])
    api.data('mutation { createFolder(projectId: "10000", path: "/Smoke/New") { warnings } }')
    api.post("/api/v2/import/execution", {"info": {"project": "BRAVO"}, "tests": [
        {"testKey": next(t for t in ds.tests if t["projectId"] == "10001")["jira"]["key"], "status": "FAILED",
         "evidence": [{"filename": "i.txt", "data": b64(b"imported")}]}]})

    client = DatasetClient(ds)
    writer = SnapshotWriter(tmp_path / "snap", run_id="r", started_at="s", xray_api_url=client.base_url)
    Exporter(client, writer).export(ds.projects)
    writer.finish(finished_at="f", requests=client.stats.requests)
    assert_snapshot_matches(tmp_path / "snap", ds, client.base_url)
    assert writer.counts() == ds.counts()
