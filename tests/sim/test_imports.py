"""The bulk test import (an asynchronous job) and the Xray JSON execution results import."""
from __future__ import annotations

import time

import pytest

from sim.xray import XraySimulator
from tests.support.sim_api import SimApi, b64, unchanged

ADA = "5b10a2844c20165700ede21g"
GRACE = "5b10ac8d82e05b22cc7d4ef5"
BULK = "/api/v2/import/test/bulk"


def wait_for(api, job_id: str, timeout: float = 5.0) -> tuple[list[str], dict]:
    """Poll a job to its end: the statuses seen on the way, and the final answer."""
    seen, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = api.get(f"{BULK}/{job_id}/status").json()
        seen.append(answer["status"])
        if answer["status"] not in ("pending", "working"):
            return seen, answer
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} still {seen[-1]}")


def manual(summary: str, **extra) -> dict:
    return {"testtype": "Manual", "fields": {"summary": summary, "project": {"key": "ALPHA"}}, **extra}


def test_a_bulk_import_job_goes_from_pending_to_successful_mapping_each_element(xray, api, ds):
    pre, test_set = ds.preconditions[2], ds.test_sets[3]
    body = [
        manual("Login works", steps=[{"action": "Open", "data": "", "result": "Shown", "attachments": [
                   {"data": b64(b"shot"), "filename": "a.png", "mimeType": "image/png"}]}],
               xray_test_repository_folder="/Imported/Deep", xray_preconditions=[pre["jira"]["key"]],
               xray_test_sets=[test_set["jira"]["key"]]),
        {"testtype": "Cucumber", "fields": {"summary": "Pays", "project": {"key": "BRAVO"}, "labels": ["x"]},
         "gherkin_def": "Scenario: pay\nGiven a cart"},
        {"xray_testtype": "Generic", "summary": "Top-level fields", "xray_unstructured_def": "./check"},
    ]
    # The job's clock is stepped by hand: on a loaded machine a real-time poll can miss "working" entirely.
    now = [0.0]
    xray.imports.delay, xray.imports._monotonic = 60.0, lambda: now[0]
    submitted = api.post(f"{BULK}?project=CHARLIE", body)
    assert submitted.status_code == 200 and set(submitted.json()) == {"jobId"}
    job = f"{BULK}/{submitted.json()['jobId']}/status"
    seen = []
    for now[0] in (0.0, 29.0, 31.0, 59.0, 60.0):
        seen.append(api.get(job).json()["status"])
    assert seen == ["pending", "pending", "working", "working", "successful"]
    answer = api.get(job).json()
    issues = answer["result"]["issues"]
    assert [i["elementNumber"] for i in issues] == [0, 1, 2] and answer["result"]["errors"] == []
    assert [i["key"].split("-")[0] for i in issues] == ["ALPHA", "BRAVO", "CHARLIE"]
    assert issues[0]["self"] == f"{api.sim.jira_url}/rest/api/2/issue/{issues[0]['id']}"

    first = ds.test_by_id[issues[0]["id"]]
    assert first["folder"] == {"name": "Deep", "path": "/Imported/Deep"}
    assert first["_preconditions"] == [pre["issueId"]] and first["issueId"] in test_set["_tests"]
    assert api.download(first["steps"][0]["attachments"][0]["id"]).content == b"shot"
    assert ds.test_by_id[issues[1]["id"]]["gherkin"] == "Scenario: pay\nGiven a cart"
    assert ds.test_by_id[issues[2]["id"]]["unstructured"] == "./check"
    served = api.data('query($ids: [String]) { getTests(issueIds: $ids, limit: 10) { total } }',
                      {"ids": [i["id"] for i in issues]})
    assert served["getTests"]["total"] == 3


def test_elements_xray_refuses_are_reported_by_element_number_and_the_rest_imported(api, ds):
    body = [manual("ok"), {"fields": {"summary": "no type", "project": {"key": "ALPHA"}}},
            manual("bad set", xray_test_sets=["ALPHA-99999"]),
            {"testtype": "Manual", "fields": {"summary": "bad version", "project": {"key": "DELTA"},
                                             "fixVersions": [{"name": "2.0-beta"}]}}]
    _, answer = wait_for(api, api.post(BULK, body).json()["jobId"])
    assert answer["status"] == "partially_successful"
    assert [i["elementNumber"] for i in answer["result"]["issues"]] == [0]
    errors = {e["elementNumber"]: e["errors"] for e in answer["result"]["errors"]}
    assert set(errors) == {1, 2, 3}
    assert "testtype" in errors[1] and "xray_test_sets" in errors[2] and "fixVersions" in errors[3]


def test_a_job_importing_nothing_is_unsuccessful_and_changes_nothing(api, ds):
    with unchanged(ds):
        _, answer = wait_for(api, api.post(BULK, [manual("wrong", testtype="Exploratory")]).json()["jobId"])
    assert answer["status"] == "unsuccessful" and answer["result"]["errors"][0]["errors"] == {
        "testtype": "The test type 'Exploratory' does not exist in this project."}


def test_a_user_runs_one_import_job_at_a_time(xray, api):
    xray.imports.delay = 0.5
    first = api.post(BULK, [manual("one")])
    second = api.post(BULK, [manual("two")])
    assert first.status_code == 200 and second.status_code == 400
    assert "already in progress" in second.json()["error"]
    xray.add_client("OTHERUSER", "other-secret")
    assert SimApi(xray, "OTHERUSER", "other-secret").post(BULK, [manual("theirs")]).status_code == 200
    wait_for(api, first.json()["jobId"])
    assert api.post(BULK, [manual("three")]).status_code == 200


def test_bulk_requests_over_the_limit_or_malformed_are_refused(api, ds):
    with unchanged(ds):
        too_many = api.post(BULK, [manual(f"t{i}") for i in range(1001)])
        assert too_many.status_code == 400 and "1000" in too_many.json()["error"]
        assert api.post(BULK, {"not": "a list"}).status_code == 400
        assert api.session.post(f"{api.url}{BULK}", data=b"{nope", headers=api.headers).status_code == 400


def test_a_job_is_visible_only_to_its_user(xray, api):
    job_id = api.post(BULK, [manual("mine")]).json()["jobId"]
    xray.add_client("SOMEONE", "else")
    other = SimApi(xray, "SOMEONE", "else").get(f"{BULK}/{job_id}/status")
    assert other.status_code == 404 and other.json() == {"error": "job not found."}
    assert api.get(f"{BULK}/0000/status").status_code == 404


def test_update_key_updates_the_named_test_instead_of_creating_one(api, ds):
    test = next(t for t in ds.tests if t["testType"]["name"] == "Manual" and t["projectId"] == "10000")
    count = len(ds.tests)
    body = [{"testtype": "Manual", "update_key": test["jira"]["key"],
             "fields": {"summary": "Renamed by import", "labels": ["imported"]},
             "steps": [{"action": "Only step", "data": "", "result": "ok"}]}]
    _, answer = wait_for(api, api.post(BULK, body).json()["jobId"])
    assert answer["result"]["issues"][0]["id"] == test["issueId"] and len(ds.tests) == count
    assert test["jira"]["summary"] == "Renamed by import" and [s["action"] for s in test["steps"]] == ["Only step"]


def test_a_failing_import_job_fault_ends_the_job_failed(xray, api, ds):
    xray.set_faults(fail_import_jobs=1)
    with unchanged(ds):
        _, answer = wait_for(api, api.post(BULK, [manual("x")]).json()["jobId"])
    assert answer["status"] == "failed" and answer["result"]["issues"] == []
    _, answer = wait_for(api, api.post(BULK, [manual("y")]).json()["jobId"])
    assert answer["status"] == "successful"


def test_a_job_completes_on_its_own_without_being_polled(xray, api, ds):
    xray.imports.delay = 0.05
    api.post(BULK, [manual("unpolled")])
    deadline = time.monotonic() + 5
    while not any(t["jira"]["summary"] == "unpolled" for t in ds.tests):
        assert time.monotonic() < deadline
        time.sleep(0.02)


# ---- execution results ------------------------------------------------------------------------


def results_for(ds, executed_tests: list[dict], **info) -> dict:
    return {
        "info": {"project": "ALPHA", "summary": "Imported run", "description": "from CI", "user": GRACE,
                 "testEnvironments": ["Chrome", "Imported env"], **info},
        "tests": [{"testKey": t["jira"]["key"], "status": "FAILED" if i == 0 else "PASSED", "comment": f"c{i}",
                   "start": "2026-05-01T10:00:00Z", "finish": "2026-05-01T10:05:00+00:00", "assignee": ADA,
                   "defects": ["ALPHA-1"],
                   "evidence": [{"data": b64(b"run evidence %d" % i), "filename": f"ev{i}.txt",
                                 "contentType": "text/plain"}],
                   "steps": [{"status": "FAILED", "comment": "step", "actualResult": "boom",
                              "evidence": [{"data": b64(b"step evidence"), "filename": "s.txt"}]}]}
                  for i, t in enumerate(executed_tests)],
    }


def test_an_execution_import_creates_the_execution_with_every_result_and_file(api, ds):
    tests = [t for t in ds.tests if t["projectId"] == "10000" and len(t["steps"]) >= 1 and not t["dataset"]][:2]
    plan = ds.test_plans[0]
    answer = api.post("/api/v2/import/execution", results_for(ds, tests, testPlanKey=plan["jira"]["key"]))
    assert answer.status_code == 200, answer.text
    created = answer.json()
    assert set(created) == {"id", "key", "self"} and created["key"].startswith("ALPHA-")
    execution = ds.test_execution_by_id[created["id"]]
    assert execution["jira"]["summary"] == "Imported run" and execution["_tests"] == [t["issueId"] for t in tests]
    assert execution["testEnvironments"] == ["Chrome", "Imported env"]
    assert execution["issueId"] in plan["_test_executions"]

    runs = api.data("""query($id: String) { getTestExecution(issueId: $id) { testRuns(limit: 10) { results {
        status { name } comment startedOn finishedOn executedById assigneeId defects evidence { id filename size }
        steps { status { name } comment actualResult evidence { id } } } } } }""", {"id": created["id"]})
    first, second = runs["getTestExecution"]["testRuns"]["results"]
    assert first["status"]["name"] == "FAILED" and second["status"]["name"] == "PASSED"
    assert first["comment"] == "c0" and first["startedOn"] == "2026-05-01T10:00:00.000Z"
    assert first["finishedOn"] == "2026-05-01T10:05:00.000Z"
    assert first["executedById"] == GRACE and first["assigneeId"] == ADA
    assert first["defects"] == [next(r["issueId"] for r in ds.preconditions if r["jira"]["key"] == "ALPHA-1")]
    assert api.download(first["evidence"][0]["id"]).content == b"run evidence 0"
    assert first["evidence"][0]["size"] == len(b"run evidence 0")
    assert first["steps"][0]["status"]["name"] == "FAILED" and first["steps"][0]["actualResult"] == "boom"
    assert api.download(first["steps"][0]["evidence"][0]["id"]).content == b"step evidence"


def test_an_execution_import_with_a_key_updates_that_execution_and_adds_new_tests(api, ds):
    execution = ds.test_executions[2]
    known = ds.test_by_id[execution["_tests"][0]]
    newcomer = next(t for t in ds.tests if t["issueId"] not in execution["_tests"] and not t["steps"])
    body = {"testExecutionKey": execution["jira"]["key"],
            "tests": [{"testKey": known["jira"]["key"], "status": "ABORTED", "comment": "again"},
                      {"testKey": newcomer["jira"]["key"], "status": "PASSED"}]}
    answer = api.post("/api/v2/import/execution", body).json()
    assert answer["id"] == execution["issueId"]
    runs = {r["_test"]: r for r in ds.runs_by_execution[execution["issueId"]]}
    assert runs[known["issueId"]]["status"]["name"] == "ABORTED" and runs[known["issueId"]]["comment"] == "again"
    assert runs[newcomer["issueId"]]["status"]["name"] == "PASSED"


def test_an_execution_import_records_iterations_of_a_data_driven_test(api, ds):
    test = next(t for t in ds.tests if t["dataset"] and len(t["dataset"]["rows"]) == 2)
    body = {"info": {"project": "ALPHA"}, "tests": [{"testKey": test["jira"]["key"], "status": "FAILED", "iterations": [
        {"parameters": [{"name": "user", "value": "ada"}], "status": "PASSED"},
        {"parameters": [{"name": "user", "value": "bob"}], "status": "FAILED",
         "steps": [{"status": "FAILED", "evidence": [{"data": b64(b"it"), "filename": "it.txt"}]}]}]}]}
    answer = api.post("/api/v2/import/execution", body).json()
    run = ds.runs_by_execution[answer["id"]][0]
    assert [it["status"]["name"] for it in run["_iterations"]] == ["PASSED", "FAILED"]
    assert run["_iterations"][1]["parameters"] == [{"name": "user", "value": "bob"}]
    evidence = run["_iterations"][1]["_step_results"][0]["evidence"][0]
    assert api.download(evidence["id"]).content == b"it"


@pytest.mark.parametrize("change, words", [
    (lambda body: body["tests"][0].update(testKey="ALPHA-99999"), "ALPHA-99999"),
    (lambda body: body["tests"][0].update(status="GREEN"), "GREEN"),
    (lambda body: body["tests"][0].update(executedBy="ghost"), "ghost"),
    (lambda body: body["info"].update(project="NOPE"), "NOPE"),
    (lambda body: body["info"].update(testPlanKey="ALPHA-99998"), "ALPHA-99998"),
    (lambda body: body["tests"][0]["steps"].extend([{"status": "PASSED"}] * 500), "steps"),
    (lambda body: body["tests"][0]["evidence"].append({"filename": "x", "data": "%%%"}), "base64"),
])
def test_an_execution_import_xray_refuses_changes_nothing(api, ds, change, words):
    tests = [t for t in ds.tests if t["projectId"] == "10000" and t["steps"] and not t["dataset"]][:1]
    body = results_for(ds, tests)
    change(body)
    with unchanged(ds):
        answer = api.post("/api/v2/import/execution", body)
    assert answer.status_code == 400 and words in answer.json()["error"]


def test_imports_count_as_requests_for_the_rate_limit_and_in_stats():
    with XraySimulator(rate_limit=3, rate_window=60, import_delay=0.01) as sim:
        api = SimApi(sim)  # the authentication counts too
        job = api.post(BULK, [manual("counted")])
        assert job.status_code == 200
        assert api.get(f"{BULK}/{job.json()['jobId']}/status").status_code == 200
        execution = {"info": {"project": "ALPHA"}, "tests": []}
        assert api.post("/api/v2/import/execution", execution).status_code == 429
        stats = sim.stats()
        assert stats["import_test_bulk"] == 1 and stats["import_test_bulk_status"] == 1
        assert stats["import_execution"] == 1 and stats["rate_limited"] == 1 and stats["max_in_window"] == 3


def test_the_every_nth_faults_hit_the_import_routes(xray, api, ds):
    xray.set_faults(error_every=1, error_status=503)
    with unchanged(ds):
        assert api.post("/api/v2/import/execution", {"info": {"project": "ALPHA"}, "tests": []}).status_code == 503
        assert api.post(BULK, [manual("x")]).status_code == 503
    xray.set_faults(truncate_every=1)
    truncated = api.post("/api/v2/import/execution", {"info": {"project": "ALPHA"}, "tests": []})
    assert truncated.status_code == 200
    with pytest.raises(ValueError):
        truncated.json()
    assert xray.stats()["fault_error"] == 2
