"""The simulator's mutations create and relate issues as Xray does, and refuse what Xray refuses."""
from __future__ import annotations

import pytest

from app.backups.export import queries
from tests.support.sim_api import b64, unchanged

ADA = "5b10a2844c20165700ede21g"
GRACE = "5b10ac8d82e05b22cc7d4ef5"

CREATE_TEST = """
mutation($jira: JSON!, $type: UpdateTestTypeInput, $steps: [CreateStepInput], $gherkin: String,
         $unstructured: String, $folder: String, $pres: [String]) {
  createTest(jira: $jira, testType: $type, steps: $steps, gherkin: $gherkin, unstructured: $unstructured,
             folderPath: $folder, preconditionIssueIds: $pres) {
    test { issueId lastModified jira(fields: ["key", "summary"]) testType { name kind } folder { path } }
    warnings
  }
}"""


def jira(summary="Restored", project="ALPHA", **fields) -> dict:
    return {"fields": {"summary": summary, "project": {"key": project}, **fields}}


def create_test(api, **variables) -> dict:
    variables.setdefault("jira", jira())
    return api.data(CREATE_TEST, variables)["createTest"]["test"]


def create(api, mutation: str, result: str, **variables) -> dict:
    """createTestSet / createTestPlan / createTestExecution / createPrecondition with ``$jira`` and extras."""
    declared = ", ".join(f"${k}: {t}" for k, (t, _) in variables.items())
    passed = ", ".join(f"{k}: ${k}" for k in variables)
    document = f"mutation({declared}) {{ {mutation}({passed}) {{ {result} {{ issueId jira(fields: [\"key\"]) }} }} }}"
    return api.data(document, {k: v for k, (_, v) in variables.items()})[mutation][result]


def all_pages(api, document: str, root: str, project_id: str) -> list[dict]:
    """Every item of a project through one of the backup's own list documents."""
    out, start = [], 0
    while True:
        page = api.data(document, {"projectId": project_id, "start": start})[root]
        out += page["results"]
        start += page["limit"]
        if start >= page["total"]:
            return out


def test_a_created_test_is_served_by_the_backups_own_queries_with_its_jira_fields_and_files(api, ds):
    pre = ds.preconditions[-1]
    fields = jira("Pay by card ✓", description="<p>HTML</p>", labels=["restored", "ünïcode"],
                  priority={"name": "High"}, components=[{"name": "API"}, {"name": "Payments"}],
                  fixVersions=[{"name": "3.0"}], assignee={"accountId": ADA})
    steps = [{"action": "Open", "data": "card=4111", "result": "Form shown",
              "attachments": [{"filename": "form.png", "mimeType": "image/png", "data": b64(b"\x89PNG bytes")}],
              "customFields": [{"id": "cf-10000-1", "value": 12}]},
             {"action": "Pay", "data": None, "result": "Paid"}]
    created = create_test(api, jira=fields, type={"name": "Manual"}, steps=steps, folder="/Regression",
                          pres=[pre["issueId"]])

    served = next(t for t in all_pages(api, queries.TESTS_PAGE, "getTests", "10000")
                  if t["issueId"] == created["issueId"])
    assert served["jira"]["summary"] == "Pay by card ✓" and served["jira"]["description"] == "<p>HTML</p>"
    assert served["jira"]["labels"] == ["restored", "ünïcode"] and served["jira"]["priority"] == {"name": "High"}
    assert served["jira"]["components"] == [{"name": "API"}, {"name": "Payments"}]
    assert served["jira"]["fixVersions"] == [{"name": "3.0"}]
    assert served["jira"]["assignee"] == {"accountId": ADA, "displayName": "Ada Lovelace"}
    assert served["jira"]["issuetype"] == {"name": "Test"} and served["jira"]["status"] == {"name": "To Do"}
    assert served["testType"]["name"] == "Manual" and served["folder"] == {"name": "Regression", "path": "/Regression"}
    assert [s["action"] for s in served["steps"]] == ["Open", "Pay"]
    assert served["steps"][0]["customFields"] == [{"id": "cf-10000-1", "name": "Expected duration", "value": 12}]
    assert served["preconditions"]["results"] == [{"issueId": pre["issueId"]}]
    attachment = served["steps"][0]["attachments"][0]
    assert attachment["filename"] == "form.png" and attachment["storedInJira"] is False
    assert api.download(attachment["id"]).content == b"\x89PNG bytes"
    assert ds.attachments[attachment["id"]]["size"] == len(b"\x89PNG bytes")
    query = 'query($id: String) { getPrecondition(issueId: $id) { tests(limit: 100) { results { issueId } } } }'
    precondition = api.data(query, {"id": pre["issueId"]})["getPrecondition"]
    assert {"issueId": created["issueId"]} in precondition["tests"]["results"]


def test_new_issue_ids_and_keys_continue_after_the_highest_ones(api, ds):
    highest = max(int(r["issueId"]) for r in ds.tests + ds.preconditions + ds.test_sets + ds.test_plans
                  + ds.test_executions)

    def last_number(project):
        return max(int(r["jira"]["key"].split("-")[1]) for r in ds.tests + ds.preconditions + ds.test_sets
                   + ds.test_plans + ds.test_executions if r["jira"]["key"].startswith(project + "-"))

    alpha, bravo = last_number("ALPHA"), last_number("BRAVO")
    test = create_test(api)
    test_set = create(api, "createTestSet", "testSet", jira=("JSON!", jira("Set", "BRAVO")))
    assert (test["issueId"], test["jira"]["key"]) == (str(highest + 1), f"ALPHA-{alpha + 1}")
    assert (test_set["issueId"], test_set["jira"]["key"]) == (str(highest + 2), f"BRAVO-{bravo + 1}")
    assert create_test(api, jira=jira(project="10000"))["jira"]["key"] == f"ALPHA-{alpha + 2}"


@pytest.mark.parametrize("variables, words", [
    ({"jira": jira(project="NOPE")}, "project 'NOPE' does not exist"),
    ({"jira": {"summary": "no fields"}}, "jira must be an object"),
    ({"jira": jira(summary="")}, "summary"),
    ({"type": {"name": "Exploratory"}}, "test type 'Exploratory'"),
    ({"jira": jira(assignee={"accountId": "no-such-user"})}, "no-such-user"),
    ({"jira": jira(components=[{"name": "Mainframe"}])}, "Component name 'Mainframe'"),
    ({"jira": jira(fixVersions=[{"name": "9.9"}])}, "Version name '9.9'"),
    ({"jira": jira(priority={"name": "Urgent"})}, "priority 'Urgent'"),
    ({"pres": ["99999999"]}, "99999999"),
    ({"type": {"name": "Cucumber"}, "steps": [{"action": "x"}]}, "steps"),
    ({"folder": "/No/Such/Folder"}, "/No/Such/Folder"),
    ({"steps": [{"action": "x", "attachments": [{"filename": "a", "data": "not base64!"}]}]}, "base64"),
    ({"steps": [{"action": "x", "customFields": [{"id": "cf-unknown", "value": 1}]}]}, "cf-unknown"),
])
def test_create_test_refuses_what_xray_refuses_and_changes_nothing(api, ds, variables, words):
    variables = {"jira": jira(), **variables}
    with unchanged(ds):
        assert words in api.error(CREATE_TEST, variables)


def test_a_component_the_target_project_lacks_is_refused(api, ds):
    assert "Component name 'UI' is not valid in project DELTA" in api.error(
        CREATE_TEST, {"jira": jira(project="DELTA", components=[{"name": "UI"}])})
    assert create_test(api, jira=jira(project="DELTA", components=[{"name": "API"}]))["jira"]["key"] == "DELTA-1"


def test_gherkin_and_generic_tests_keep_their_definitions(api, ds):
    cucumber = create_test(api, type={"name": "Cucumber"}, gherkin="Scenario: x\nGiven a\nExamples:\n| a |")
    generic = create_test(api, type={"id": ds.project_settings["10000"]["testTypeSettings"]["testTypes"][2]["id"]},
                          unstructured="./run.sh")
    assert ds.test_by_id[cucumber["issueId"]]["scenarioType"] == "scenario_outline"
    assert generic["testType"] == {"name": "Generic", "kind": "Unstructured"}
    assert ds.test_by_id[generic["issueId"]]["unstructured"] == "./run.sh"
    assert create_test(api)["testType"]["name"] == "Manual"  # the project's default type


def test_an_execution_created_with_tests_gets_a_todo_run_for_each(api, ds):
    tests = [ds.tests[3]["issueId"], ds.tests[10]["issueId"]]
    document = """mutation($jira: JSON!, $tests: [String], $envs: [String]) {
      createTestExecution(jira: $jira, testIssueIds: $tests, testEnvironments: $envs) {
        testExecution { issueId testEnvironments
          testRuns(limit: 10) { total results {
            status { name } startedOn steps { status { name } } test { issueId } } } }
        createdTestEnvironments warnings } }"""
    result = api.data(document, {"jira": jira("Nightly"), "tests": tests, "envs": ["Chrome", "Brand new env"]})
    created = result["createTestExecution"]
    runs = created["testExecution"]["testRuns"]
    assert runs["total"] == 2 and [r["test"]["issueId"] for r in runs["results"]] == tests
    assert all(r["status"]["name"] == "TODO" and r["startedOn"] is None for r in runs["results"])
    assert all(s["status"]["name"] == "TODO" for r in runs["results"] for s in r["steps"])
    assert len(runs["results"][0]["steps"]) == len(ds.tests[3]["steps"])
    assert created["createdTestEnvironments"] == ["Brand new env"]
    assert created["testExecution"]["testEnvironments"] == ["Chrome", "Brand new env"]
    assert "Brand new env" in ds.project_settings["10000"]["testEnvironments"]
    listed = api.data('query($ids: [String]) { getTestRuns(testExecIssueIds: $ids, limit: 10) { total } }',
                      {"ids": [created["testExecution"]["issueId"]]})
    assert listed["getTestRuns"]["total"] == 2


def test_a_data_driven_test_gets_a_run_with_one_iteration_per_dataset_row(api, ds):
    data_driven = next(t for t in ds.tests if t["dataset"] and len(t["dataset"]["rows"]) == 2)
    execution = create(api, "createTestExecution", "testExecution", jira=("JSON!", jira()),
                       testIssueIds=("[String]", [data_driven["issueId"]]))
    run = ds.runs_by_execution[execution["issueId"]][0]
    assert [it["rank"] for it in run["_iterations"]] == ["1", "2"]
    assert all(r["status"]["name"] == "TODO" for it in run["_iterations"] for r in it["_step_results"])


@pytest.mark.parametrize("mutation, result, field, key", [
    ("createTestSet", "testSet", "tests", "_tests"),
    ("createTestPlan", "testPlan", "tests", "_tests"),
    ("createPrecondition", "precondition", "tests", "_tests"),
])
def test_sets_plans_and_preconditions_are_created_holding_their_tests(api, ds, mutation, result, field, key):
    tests = [ds.tests[0]["issueId"], ds.tests[1]["issueId"]]
    created = create(api, mutation, result, jira=("JSON!", jira()), testIssueIds=("[String]", tests))
    attribute = {"testSet": "test_sets", "testPlan": "test_plans", "precondition": "preconditions"}[result]
    record = next(r for r in getattr(ds, attribute) if r["issueId"] == created["issueId"])
    assert record[key] == tests and record["jira"]["issuetype"]["name"] in ("Test Set", "Test Plan", "Precondition")


@pytest.mark.parametrize("mutation, variables, words", [
    ("createTestSet", {"jira": ("JSON!", jira()), "testIssueIds": ("[String]", ["424242"])}, "424242"),
    ("createTestPlan", {"jira": ("JSON!", jira(project="ZULU"))}, "ZULU"),
    ("createTestExecution", {"jira": ("JSON!", jira(assignee={"accountId": "ghost"}))}, "ghost"),
    ("createPrecondition", {"jira": ("JSON!", jira()), "preconditionType": ("UpdatePreconditionTypeInput",
                                                                             {"name": "Nope"})}, "Nope"),
])
def test_creating_sets_plans_executions_and_preconditions_refuses_bad_input(api, ds, mutation, variables, words):
    declared = ", ".join(f"${k}: {t}" for k, (t, _) in variables.items())
    passed = ", ".join(f"{k}: ${k}" for k in variables)
    document = f"mutation({declared}) {{ {mutation}({passed}) {{ warnings }} }}"
    with unchanged(ds):
        assert words in api.error(document, {k: v for k, (_, v) in variables.items()})


def test_a_test_id_where_a_set_is_expected_is_refused_naming_what_it_is(api, ds):
    with unchanged(ds):
        message = api.refused("addTestsToTestSet", "addedTests", issueId=ds.tests[0]["issueId"],
                              testIssueIds=[ds.tests[1]["issueId"]])
    assert "is not a Test Set (it is a Test)" in message


def test_versions_other_than_the_first_are_refused(api, ds):
    document = 'mutation($id: String!) { addTestStep(issueId: $id, versionId: 2, step: {action: "x"}) { id } }'
    with unchanged(ds):
        assert "version '2'" in api.error(document, {"id": ds.tests[3]["issueId"]})
