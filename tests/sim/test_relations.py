"""Relation, folder and definition mutations change both sides of a relation and refuse unknown ids."""
from __future__ import annotations

import pytest

from tests.support.sim_api import b64, unchanged

# mutation pair, the holder's list in the dataset, where the test sees it
HOLDER_SIDE = [
    ("addTestsToTestSet", "removeTestsFromTestSet", "test_sets", "testSets"),
    ("addTestsToTestPlan", "removeTestsFromTestPlan", "test_plans", "testPlans"),
    ("addTestsToTestExecution", "removeTestsFromTestExecution", "test_executions", "testExecutions"),
    ("addTestsToPrecondition", "removeTestsFromPrecondition", "preconditions", "preconditions"),
]
FOLDER = "name path testsCount preconditionsCount issuesCount folders"


def holder_without(records: list[dict], test_id: str) -> dict:
    return next(r for r in records if test_id not in r["_tests"])


def seen_from_the_test(api, test_id: str, connection: str) -> list[str]:
    query = f'query($id: String) {{ getTest(issueId: $id) {{ {connection}(limit: 100) {{ results {{ issueId }} }} }} }}'
    return [r["issueId"] for r in api.data(query, {"id": test_id})["getTest"][connection]["results"]]


@pytest.mark.parametrize("add, remove, attribute, connection", HOLDER_SIDE)
def test_adding_and_removing_tests_shows_on_both_sides(api, ds, add, remove, attribute, connection):
    test_id = ds.tests[40]["issueId"]
    holder = holder_without(getattr(ds, attribute), test_id)
    added = api.mutate(add, "addedTests warning", issueId=holder["issueId"], testIssueIds=[test_id])
    assert added == {"addedTests": [test_id], "warning": None}
    assert test_id in holder["_tests"] and holder["issueId"] in seen_from_the_test(api, test_id, connection)
    again = api.mutate(add, "addedTests warning", issueId=holder["issueId"], testIssueIds=[test_id])
    assert again["addedTests"] == [] and "already" in again["warning"]

    assert api.mutate(remove, issueId=holder["issueId"], testIssueIds=[test_id]) == "1 tests removed."
    assert test_id not in holder["_tests"] and holder["issueId"] not in seen_from_the_test(api, test_id, connection)


def test_adding_tests_to_an_execution_adds_their_runs_and_removing_them_removes_the_runs(api, ds):
    execution = ds.test_executions[-1]
    newcomer = next(t for t in ds.tests if t["issueId"] not in execution["_tests"] and t["steps"])
    before = len(ds.runs_by_execution[execution["issueId"]])
    api.mutate("addTestsToTestExecution", "addedTests", issueId=execution["issueId"],
               tests=[{"issueId": newcomer["issueId"], "versionId": 1}])
    runs = ds.runs_by_execution[execution["issueId"]]
    assert len(runs) == before + 1 and runs[-1]["_test"] == newcomer["issueId"]
    assert runs[-1]["status"]["name"] == "TODO"
    assert ds.test_runs.index(runs[-1]) == ds.test_runs.index(runs[-2]) + 1  # still grouped by execution
    api.mutate("removeTestsFromTestExecution", issueId=execution["issueId"], testIssueIds=[newcomer["issueId"]])
    assert len(ds.runs_by_execution[execution["issueId"]]) == before
    assert newcomer["issueId"] not in [r["_test"] for r in ds.runs_by_execution[execution["issueId"]]]


@pytest.mark.parametrize("add, remove, argument, attribute, result", [
    ("addPreconditionsToTest", "removePreconditionsFromTest", "preconditionIssueIds", "preconditions",
     "addedPreconditions"),
    ("addTestSetsToTest", "removeTestSetsFromTest", "testSetIssueIds", "test_sets", "addedTestSets"),
    ("addTestPlansToTest", "removeTestPlansFromTest", "testPlanIssueIds", "test_plans", "addedTestPlans"),
    ("addTestExecutionsToTest", "removeTestExecutionsFromTest", "testExecIssueIds", "test_executions",
     "addedTestExecutions"),
])
def test_the_test_side_mutations_link_the_same_relations(api, ds, add, remove, argument, attribute, result):
    test = ds.tests[41]
    holder = holder_without(getattr(ds, attribute), test["issueId"])
    added = api.mutate(add, f"{result} warning", issueId=test["issueId"], **{argument: [holder["issueId"]]})
    assert added[result] == [holder["issueId"]] and test["issueId"] in holder["_tests"]
    if attribute == "preconditions":
        assert holder["issueId"] in test["_preconditions"]
    api.mutate(remove, issueId=test["issueId"], **{argument: [holder["issueId"]]})
    assert test["issueId"] not in holder["_tests"] and holder["issueId"] not in test["_preconditions"]


def test_plans_and_executions_are_linked_both_ways(api, ds):
    plan = ds.test_plans[-1]
    execution = next(e for e in ds.test_executions if e["issueId"] not in plan["_test_executions"])
    api.mutate("addTestExecutionsToTestPlan", "addedTestExecutions", issueId=plan["issueId"],
               testExecIssueIds=[execution["issueId"]])
    query = 'query($id: String) { getTestExecution(issueId: $id) { testPlans(limit: 10) { results { issueId } } } }'
    seen = api.data(query, {"id": execution["issueId"]})["getTestExecution"]["testPlans"]["results"]
    assert {"issueId": plan["issueId"]} in seen and execution["issueId"] in plan["_test_executions"]
    api.mutate("removeTestExecutionsFromTestPlan", issueId=plan["issueId"], testExecIssueIds=[execution["issueId"]])
    assert plan["issueId"] not in execution["_test_plans"]


@pytest.mark.parametrize("mutation, arguments", [
    ("addTestsToTestSet", {"issueId": "SET", "testIssueIds": ["TEST", "31337"]}),
    ("addTestsToTestSet", {"issueId": "31337", "testIssueIds": ["TEST"]}),
    ("addPreconditionsToTest", {"issueId": "TEST", "preconditionIssueIds": ["SET"]}),
    ("addTestExecutionsToTestPlan", {"issueId": "PLAN", "testExecIssueIds": ["TEST"]}),
])
def test_relations_with_unknown_or_wrong_ids_are_refused_whole(api, ds, mutation, arguments):
    names = {"SET": ds.test_sets[-1]["issueId"], "TEST": ds.tests[100]["issueId"], "PLAN": ds.test_plans[-1]["issueId"]}
    arguments = {k: [names.get(x, x) for x in v] if isinstance(v, list) else names.get(v, v)
                 for k, v in arguments.items()}
    with unchanged(ds):
        api.refused(mutation, "warning", **arguments)


def test_environments_are_added_to_an_execution_and_created_in_its_project(api, ds):
    execution = ds.test_executions[0]
    added = api.mutate("addTestEnvironmentsToTestExecution", "associatedTestEnvironments createdTestEnvironments",
                       issueId=execution["issueId"], testEnvironments=["Edge 200"])
    assert added == {"associatedTestEnvironments": ["Edge 200"], "createdTestEnvironments": ["Edge 200"]}
    api.mutate("removeTestEnvironmentsFromTestExecution", issueId=execution["issueId"], testEnvironments=["Edge 200"])
    assert "Edge 200" not in execution["testEnvironments"]
    assert "Edge 200" in ds.project_settings[execution["projectId"]]["testEnvironments"]


def folder(api, path: str, project: str = "10000") -> dict:
    query = f'query($p: String, $path: String!) {{ getFolder(projectId: $p, path: $path) {{ {FOLDER} }} }}'
    return api.data(query, {"p": project, "path": path})["getFolder"]


def test_folders_are_created_under_existing_parents_filled_and_deleted(api, ds):
    tests = [t["issueId"] for t in ds.tests if t["projectId"] == "10000"][10:13]
    pre = next(p for p in ds.preconditions if p["projectId"] == "10000")
    made = api.mutate("createFolder", "folder { name path testsCount } warnings", projectId="10000",
                      path="/Restored", testIssueIds=tests[:1])
    assert made["folder"] == {"name": "Restored", "path": "/Restored", "testsCount": 1}
    with unchanged(ds):
        assert "already exists" in api.refused("createFolder", "warnings", projectId="10000", path="/Restored")
        assert "parent folder" in api.refused("createFolder", "warnings", projectId="10000", path="/Missing/Child")
    api.mutate("createFolder", "warnings", projectId="ALPHA", path="/Restored/Child")

    api.mutate("addTestsToFolder", "warnings", projectId="10000", path="/Restored/Child", testIssueIds=tests[1:])
    api.mutate("addIssuesToFolder", "warnings", projectId="10000", path="/Restored", issueIds=[pre["issueId"]])
    node = folder(api, "/Restored")
    assert (node["testsCount"], node["preconditionsCount"], node["issuesCount"]) == (1, 1, 2)
    assert [c["name"] for c in node["folders"]] == ["Child"] and node["folders"][0]["testsCount"] == 2

    api.mutate("updateTestFolder", issueId=tests[0], folderPath="/Smoke")
    api.mutate("updatePreconditionFolder", issueId=pre["issueId"], folderPath="/Restored/Child")
    assert ds.test_by_id[tests[0]]["folder"] == {"name": "Smoke", "path": "/Smoke"}
    api.mutate("deleteFolder", projectId="10000", path="/Restored")
    assert all(ds.test_by_id[t]["folder"] == {"name": "", "path": "/"} for t in tests[1:])
    assert ds.precondition_by_id[pre["issueId"]]["folder"] == {"name": "", "path": "/"}
    assert "Restored" not in [c["name"] for c in folder(api, "/")["folders"]]
    api.mutate("removeTestsFromFolder", projectId="10000", testIssueIds=tests[:1])
    assert ds.test_by_id[tests[0]]["folder"]["path"] == "/"


def test_folder_mutations_refuse_other_projects_issues_and_unknown_folders(api, ds):
    bravo_test = next(t for t in ds.tests if t["projectId"] == "10001")
    with unchanged(ds):
        assert "does not belong" in api.refused("addTestsToFolder", "warnings", projectId="10000", path="/Smoke",
                                                testIssueIds=[bravo_test["issueId"]])
        assert "does not exist" in api.refused("updateTestFolder", issueId=ds.tests[0]["issueId"],
                                               folderPath="/Nowhere")
        assert "does not exist" in api.refused("deleteFolder", projectId="10000", path="/Nowhere")
        assert "plan folders" in api.refused("deleteFolder", projectId="10000", path="/Smoke", testPlanId="1")


def test_steps_type_and_definitions_are_updated_as_xray_does(api, ds):
    manual = ds.tests[4]
    step = api.mutate("addTestStep", "id action attachments { id filename }", issueId=manual["issueId"],
                      step={"action": "Check the receipt", "result": "Shown",
                            "attachments": [{"filename": "r.txt", "mimeType": "text/plain", "data": b64(b"receipt")}]})
    assert manual["steps"][-1]["id"] == step["id"] and step["action"] == "Check the receipt"
    assert api.download(step["attachments"][0]["id"]).content == b"receipt"

    with unchanged(ds):
        assert "not of a kind with a gherkin" in api.refused("updateGherkinTestDefinition", "issueId",
                                                             issueId=manual["issueId"], gherkin="Given x")
    changed = api.mutate("updateTestType", "testType { name kind } steps { id }", issueId=manual["issueId"],
                         testType={"name": "Cucumber"})
    assert changed == {"testType": {"name": "Cucumber", "kind": "Gherkin"}, "steps": []}
    updated = api.mutate("updateGherkinTestDefinition", "gherkin scenarioType", issueId=manual["issueId"],
                         gherkin="Given x")
    assert updated == {"gherkin": "Given x", "scenarioType": "scenario"}

    generic = next(t for t in ds.tests if t["testType"]["kind"] == "Unstructured")
    api.mutate("updateUnstructuredTestDefinition", "issueId", issueId=generic["issueId"], unstructured="make test")
    assert generic["unstructured"] == "make test"


def test_a_precondition_is_updated_in_place(api, ds):
    pre = ds.preconditions[1]
    data = {"definition": "Logged out ✓", "preconditionType": {"name": "Generic"}, "folderPath": "/Smoke"}
    answer = api.mutate("updatePrecondition", "definition preconditionType { name } folder { path }",
                        issueId=pre["issueId"], data=data)
    assert answer == {"definition": "Logged out ✓", "preconditionType": {"name": "Generic"},
                      "folder": {"path": "/Smoke"}}
