"""Relation, folder and definition mutations change both sides of a relation and refuse unknown ids."""
from __future__ import annotations

import pytest

from sim_api import b64, unchanged

# mutation pair, the holder's list in the dataset, where the test sees it, the types of testIssueIds (add, remove)
HOLDER_SIDE = [
    ("addTestsToTestSet", "removeTestsFromTestSet", "test_sets", "testSets", "[String]!", "[String]!"),
    ("addTestsToTestPlan", "removeTestsFromTestPlan", "test_plans", "testPlans", "[String]!", "[String]!"),
    ("addTestsToTestExecution", "removeTestsFromTestExecution", "test_executions", "testExecutions", "[String]",
     "[String]!"),
    ("addTestsToPrecondition", "removeTestsFromPrecondition", "preconditions", "preconditions", "[String]",
     "[String]"),
]


def holder_without(records: list[dict], test_id: str) -> dict:
    return next(r for r in records if test_id not in r["_tests"])


def seen_from_the_test(api, test_id: str, connection: str) -> list[str]:
    query = f'query($id: String) {{ getTest(issueId: $id) {{ {connection}(limit: 100) {{ results {{ issueId }} }} }} }}'
    return [r["issueId"] for r in api.data(query, {"id": test_id})["getTest"][connection]["results"]]


@pytest.mark.parametrize("add, remove, attribute, connection, add_type, remove_type", HOLDER_SIDE)
def test_adding_and_removing_tests_shows_on_both_sides(api, ds, add, remove, attribute, connection, add_type,
                                                       remove_type):
    test_id = ds.tests[40]["issueId"]
    holder = holder_without(getattr(ds, attribute), test_id)
    document = f'mutation($id: String!, $t: {add_type}) {{ {add}(issueId: $id, testIssueIds: $t) {{ addedTests warning }} }}'
    added = api.data(document, {"id": holder["issueId"], "t": [test_id]})[add]
    assert added == {"addedTests": [test_id], "warning": None}
    assert test_id in holder["_tests"] and holder["issueId"] in seen_from_the_test(api, test_id, connection)
    again = api.data(document, {"id": holder["issueId"], "t": [test_id]})[add]
    assert again["addedTests"] == [] and "already" in again["warning"]

    removal = f'mutation($id: String!, $t: {remove_type}) {{ {remove}(issueId: $id, testIssueIds: $t) }}'
    assert api.data(removal, {"id": holder["issueId"], "t": [test_id]})[remove] == "1 tests removed."
    assert test_id not in holder["_tests"] and holder["issueId"] not in seen_from_the_test(api, test_id, connection)


def test_adding_tests_to_an_execution_adds_their_runs_and_removing_them_removes_the_runs(api, ds):
    execution = ds.test_executions[-1]
    newcomer = next(t for t in ds.tests if t["issueId"] not in execution["_tests"] and t["steps"])
    before = len(ds.runs_by_execution[execution["issueId"]])
    api.data('mutation($id: String!, $t: [TestWithVersionInput]) { addTestsToTestExecution(issueId: $id, tests: $t) { addedTests } }',
             {"id": execution["issueId"], "t": [{"issueId": newcomer["issueId"], "versionId": 1}]})
    runs = ds.runs_by_execution[execution["issueId"]]
    assert len(runs) == before + 1 and runs[-1]["_test"] == newcomer["issueId"]
    assert runs[-1]["status"]["name"] == "TODO"
    assert ds.test_runs.index(runs[-1]) == ds.test_runs.index(runs[-2]) + 1  # still grouped by execution
    api.data('mutation($id: String!, $t: [String]!) { removeTestsFromTestExecution(issueId: $id, testIssueIds: $t) }',
             {"id": execution["issueId"], "t": [newcomer["issueId"]]})
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
    document = f'mutation($id: String!, $h: [String]!) {{ {add}(issueId: $id, {argument}: $h) {{ {result} warning }} }}'
    assert api.data(document, {"id": test["issueId"], "h": [holder["issueId"]]})[add][result] == [holder["issueId"]]
    assert test["issueId"] in holder["_tests"]
    if attribute == "preconditions":
        assert holder["issueId"] in test["_preconditions"]
    document = f'mutation($id: String!, $h: [String]!) {{ {remove}(issueId: $id, {argument}: $h) }}'
    api.data(document, {"id": test["issueId"], "h": [holder["issueId"]]})
    assert test["issueId"] not in holder["_tests"] and holder["issueId"] not in test["_preconditions"]


def test_plans_and_executions_are_linked_both_ways(api, ds):
    plan = ds.test_plans[-1]
    execution = next(e for e in ds.test_executions if e["issueId"] not in plan["_test_executions"])
    document = 'mutation($id: String!, $e: [String]!) { addTestExecutionsToTestPlan(issueId: $id, testExecIssueIds: $e) { addedTestExecutions } }'
    api.data(document, {"id": plan["issueId"], "e": [execution["issueId"]]})
    seen = api.data('query($id: String) { getTestExecution(issueId: $id) { testPlans(limit: 10) { results { issueId } } } }',
                    {"id": execution["issueId"]})["getTestExecution"]["testPlans"]["results"]
    assert {"issueId": plan["issueId"]} in seen and execution["issueId"] in plan["_test_executions"]
    api.data('mutation($id: String!, $e: [String]!) { removeTestExecutionsFromTestPlan(issueId: $id, testExecIssueIds: $e) }',
             {"id": plan["issueId"], "e": [execution["issueId"]]})
    assert plan["issueId"] not in execution["_test_plans"]


@pytest.mark.parametrize("document, variables", [
    ('mutation($id: String!, $t: [String]!) { addTestsToTestSet(issueId: $id, testIssueIds: $t) { addedTests } }',
     {"id": "SET", "t": ["TEST", "31337"]}),
    ('mutation($id: String!, $t: [String]!) { addTestsToTestSet(issueId: $id, testIssueIds: $t) { addedTests } }',
     {"id": "31337", "t": ["TEST"]}),
    ('mutation($id: String!, $p: [String]!) { addPreconditionsToTest(issueId: $id, preconditionIssueIds: $p) { addedPreconditions } }',
     {"id": "TEST", "p": ["SET"]}),
    ('mutation($id: String!, $e: [String]!) { addTestExecutionsToTestPlan(issueId: $id, testExecIssueIds: $e) { addedTestExecutions } }',
     {"id": "PLAN", "e": ["TEST"]}),
])
def test_relations_with_unknown_or_wrong_ids_are_refused_whole(api, ds, document, variables):
    names = {"SET": ds.test_sets[-1]["issueId"], "TEST": ds.tests[100]["issueId"], "PLAN": ds.test_plans[-1]["issueId"]}
    variables = {k: [names.get(x, x) for x in v] if isinstance(v, list) else names.get(v, v) for k, v in variables.items()}
    with unchanged(ds):
        api.error(document, variables)


def test_environments_are_added_to_an_execution_and_created_in_its_project(api, ds):
    execution = ds.test_executions[0]
    added = api.data('mutation($id: String!, $e: [String]!) { addTestEnvironmentsToTestExecution(issueId: $id, testEnvironments: $e) { associatedTestEnvironments createdTestEnvironments } }',
                     {"id": execution["issueId"], "e": ["Edge 200"]})["addTestEnvironmentsToTestExecution"]
    assert added == {"associatedTestEnvironments": ["Edge 200"], "createdTestEnvironments": ["Edge 200"]}
    api.data('mutation($id: String!, $e: [String]!) { removeTestEnvironmentsFromTestExecution(issueId: $id, testEnvironments: $e) }',
             {"id": execution["issueId"], "e": ["Edge 200"]})
    assert "Edge 200" not in execution["testEnvironments"]
    assert "Edge 200" in ds.project_settings[execution["projectId"]]["testEnvironments"]


def folder(api, path: str, project: str = "10000") -> dict:
    query = 'query($p: String, $path: String!) { getFolder(projectId: $p, path: $path) { name path testsCount preconditionsCount issuesCount folders } }'
    return api.data(query, {"p": project, "path": path})["getFolder"]


def test_folders_are_created_under_existing_parents_filled_and_deleted(api, ds):
    tests = [t["issueId"] for t in ds.tests if t["projectId"] == "10000"][10:13]
    pre = next(p for p in ds.preconditions if p["projectId"] == "10000")
    create = 'mutation($p: String, $path: String!, $t: [String]) { createFolder(projectId: $p, path: $path, testIssueIds: $t) { folder { name path testsCount } warnings } }'
    made = api.data(create, {"p": "10000", "path": "/Restored", "t": tests[:1]})["createFolder"]
    assert made["folder"] == {"name": "Restored", "path": "/Restored", "testsCount": 1}
    with unchanged(ds):
        assert "already exists" in api.error(create, {"p": "10000", "path": "/Restored"})
        assert "parent folder" in api.error(create, {"p": "10000", "path": "/Missing/Child"})
    api.data(create, {"p": "ALPHA", "path": "/Restored/Child"})

    api.data('mutation($t: [String]!) { addTestsToFolder(projectId: "10000", path: "/Restored/Child", testIssueIds: $t) { folder { testsCount } } }',
             {"t": tests[1:]})
    api.data('mutation($i: [String]!) { addIssuesToFolder(projectId: "10000", path: "/Restored", issueIds: $i) { folder { issuesCount } } }',
             {"i": [pre["issueId"]]})
    node = folder(api, "/Restored")
    assert (node["testsCount"], node["preconditionsCount"], node["issuesCount"]) == (1, 1, 2)
    assert [c["name"] for c in node["folders"]] == ["Child"] and node["folders"][0]["testsCount"] == 2

    api.data('mutation($id: String!) { updateTestFolder(issueId: $id, folderPath: "/Smoke") }', {"id": tests[0]})
    api.data('mutation($id: String!) { updatePreconditionFolder(issueId: $id, folderPath: "/Restored/Child") }',
             {"id": pre["issueId"]})
    assert ds.test_by_id[tests[0]]["folder"] == {"name": "Smoke", "path": "/Smoke"}
    api.data('mutation { deleteFolder(projectId: "10000", path: "/Restored") }')
    assert all(ds.test_by_id[t]["folder"] == {"name": "", "path": "/"} for t in tests[1:])
    assert ds.precondition_by_id[pre["issueId"]]["folder"] == {"name": "", "path": "/"}
    assert "Restored" not in [c["name"] for c in folder(api, "/")["folders"]]
    api.data('mutation($t: [String]!) { removeTestsFromFolder(projectId: "10000", testIssueIds: $t) }', {"t": tests[:1]})
    assert ds.test_by_id[tests[0]]["folder"]["path"] == "/"


def test_folder_mutations_refuse_other_projects_issues_and_unknown_folders(api, ds):
    bravo_test = next(t for t in ds.tests if t["projectId"] == "10001")
    with unchanged(ds):
        assert "does not belong" in api.error(
            'mutation($t: [String]!) { addTestsToFolder(projectId: "10000", path: "/Smoke", testIssueIds: $t) { warnings } }',
            {"t": [bravo_test["issueId"]]})
        assert "does not exist" in api.error(
            'mutation($id: String!) { updateTestFolder(issueId: $id, folderPath: "/Nowhere") }',
            {"id": ds.tests[0]["issueId"]})
        assert "does not exist" in api.error('mutation { deleteFolder(projectId: "10000", path: "/Nowhere") }')


def test_steps_type_and_definitions_are_updated_as_xray_does(api, ds):
    manual = ds.tests[4]
    step = api.data('mutation($id: String!, $s: CreateStepInput!) { addTestStep(issueId: $id, step: $s) { id action attachments { id filename } } }',
                    {"id": manual["issueId"], "s": {"action": "Check the receipt", "result": "Shown",
                                                    "attachments": [{"filename": "r.txt", "mimeType": "text/plain",
                                                                     "data": b64(b"receipt")}]}})["addTestStep"]
    assert manual["steps"][-1]["id"] == step["id"] and step["action"] == "Check the receipt"
    assert api.download(step["attachments"][0]["id"]).content == b"receipt"

    with unchanged(ds):
        assert "not of a kind with a gherkin" in api.error(
            'mutation($id: String!) { updateGherkinTestDefinition(issueId: $id, gherkin: "Given x") { issueId } }',
            {"id": manual["issueId"]})
    changed = api.data('mutation($id: String!) { updateTestType(issueId: $id, testType: {name: "Cucumber"}) { testType { name kind } steps { id } } }',
                       {"id": manual["issueId"]})["updateTestType"]
    assert changed == {"testType": {"name": "Cucumber", "kind": "Gherkin"}, "steps": []}
    updated = api.data('mutation($id: String!) { updateGherkinTestDefinition(issueId: $id, gherkin: "Given x") { gherkin scenarioType } }',
                       {"id": manual["issueId"]})["updateGherkinTestDefinition"]
    assert updated == {"gherkin": "Given x", "scenarioType": "scenario"}

    generic = next(t for t in ds.tests if t["testType"]["kind"] == "Unstructured")
    api.data('mutation($id: String!) { updateUnstructuredTestDefinition(issueId: $id, unstructured: "make test") { issueId } }',
             {"id": generic["issueId"]})
    assert generic["unstructured"] == "make test"


def test_a_precondition_is_updated_in_place(api, ds):
    pre = ds.preconditions[1]
    data = {"definition": "Logged out ✓", "preconditionType": {"name": "Generic"}, "folderPath": "/Smoke"}
    answer = api.data('mutation($id: String!, $d: UpdatePreconditionInput) { updatePrecondition(issueId: $id, data: $d) { definition preconditionType { name } folder { path } } }',
                      {"id": pre["issueId"], "d": data})["updatePrecondition"]
    assert answer == {"definition": "Logged out ✓", "preconditionType": {"name": "Generic"}, "folder": {"path": "/Smoke"}}
