"""Deleting an issue takes it out of every list that held it and takes its runs and files with it."""
from __future__ import annotations

import pytest

from tests.support.sim_api import unchanged


def delete(api, mutation: str, issue_id: str) -> str:
    return api.data(f'mutation($id: String!) {{ {mutation}(issueId: $id) }}', {"id": issue_id})[mutation]


def test_deleting_a_test_removes_it_from_every_list_and_removes_its_runs_and_files(api, ds):
    test = next(t for t in ds.tests if t["_preconditions"] and any(s["attachments"] for s in t["steps"])
                and all(ds.member_of.get((kind, t["issueId"])) for kind in ("sets", "execs")))
    test_id = test["issueId"]
    runs = list(ds.runs_by_test[test_id])
    files = [a["id"] for s in test["steps"] for a in s["attachments"] if not a["storedInJira"]]
    files += [e["id"] for r in runs for e in r["evidence"] if not e["storedInJira"]]
    assert delete(api, "deleteTest", test_id) == f"Test {test_id} was deleted."

    assert api.data('query($id: String) { getTest(issueId: $id) { issueId } }', {"id": test_id})["getTest"] is None
    for holder in ds.test_sets + ds.test_plans + ds.test_executions + ds.preconditions:
        assert test_id not in holder["_tests"]
    assert not any(r["_test"] == test_id for r in ds.test_runs)
    assert all(r["id"] not in ds.test_run_by_id for r in runs)
    assert files and all(api.download(f).status_code == 404 for f in files)
    query = 'query($ids: [String]) { getTestRuns(testIssueIds: $ids, limit: 10) { total } }'
    listed = api.data(query, {"ids": [test_id]})
    assert listed["getTestRuns"]["total"] == 0


def test_deleting_an_execution_removes_its_runs_and_its_place_in_plans(api, ds):
    plan = next(p for p in ds.test_plans if p["_test_executions"])
    execution = ds.test_execution_by_id[plan["_test_executions"][0]]
    run_ids = [r["id"] for r in ds.runs_by_execution[execution["issueId"]]]
    delete(api, "deleteTestExecution", execution["issueId"])
    assert execution["issueId"] not in plan["_test_executions"]
    assert not any(r in ds.test_run_by_id for r in run_ids)
    runs = api.data('query($ids: [String]) { getTestRunsById(ids: $ids, limit: 100) { total } }', {"ids": run_ids})
    assert runs["getTestRunsById"]["total"] == 0


def test_deleting_a_precondition_removes_it_from_tests_and_from_their_runs(api, ds):
    pre = next(p for p in ds.preconditions if any(r["_preconditions"] for t in p["_tests"]
                                                  for r in ds.runs_by_test.get(t, [])))
    delete(api, "deletePrecondition", pre["issueId"])
    assert not any(pre["issueId"] in t["_preconditions"] for t in ds.tests)
    assert not any(p["preconditionRef"] == pre["issueId"] for r in ds.test_runs for p in r["_preconditions"])


@pytest.mark.parametrize("mutation, attribute", [("deleteTestSet", "test_sets"), ("deleteTestPlan", "test_plans")])
def test_deleting_a_set_or_plan_leaves_its_tests(api, ds, mutation, attribute):
    holder = next(h for h in getattr(ds, attribute) if h["_tests"])
    tests = list(holder["_tests"])
    delete(api, mutation, holder["issueId"])
    assert holder not in getattr(ds, attribute) and all(t in ds.test_by_id for t in tests)
    kind = "sets" if attribute == "test_sets" else "plans"
    assert all(holder["issueId"] not in ds.member_of.get((kind, t), []) for t in tests)


def test_a_delete_of_the_wrong_kind_or_an_unknown_id_is_refused(api, ds):
    with unchanged(ds):
        assert "is not a Test Set" in api.error('mutation($id: String!) { deleteTestSet(issueId: $id) }',
                                                {"id": ds.tests[0]["issueId"]})
        assert "was not found" in api.error('mutation { deleteTest(issueId: "1") }')


def test_deleted_tests_are_also_dropped_from_called_test_steps(ds, xray):
    caller = ds.tests[3]
    called = ds.tests[5]
    xray.edit(caller["issueId"], steps=[{"action": "call", "callTestIssueId": called["issueId"]}])
    assert caller["steps"][0]["callTestIssueId"] == called["issueId"]
    xray.delete(called["issueId"])
    assert caller["steps"][0]["callTestIssueId"] is None
