"""Resolvers of the simulator's mutations: issues, relations, definitions and folders (runs: ``run_mutations``).

Each resolver reads its arguments as Xray's schema names them, calls one function of ``sim.xray.changes``
or ``sim.xray.edits`` with the time of the change from the dataset's clock, and answers with the result
type Xray answers. A refused request is a GraphQL error in a 200 and changes nothing. Test versions are
not modelled: a ``versionId`` other than 1 is refused. Mutations returning a bare ``String`` answer a
short sentence (Xray's exact wording is not documented).
"""
from __future__ import annotations

from functools import wraps

from graphql import GraphQLError

from . import changes, edits, folders
from .errors import ChangeError
from .records import jira_fields, project, require, require_all

MUTATIONS: dict = {}


def mutation(name: str):
    """Register a resolver; it gets ``(ds, stamp, **args)`` and its ChangeErrors become GraphQL errors."""
    def register(function):
        @wraps(function)
        def resolve(_root, info, **args):
            ds = info.context["dataset"]
            with ds.lock:
                try:
                    return function(ds, ds.clock.stamp(), **args)
                except ChangeError as exc:
                    raise GraphQLError(exc.message) from None

        MUTATIONS[name] = resolve
        return function

    return register


def version(version_id) -> None:
    """Refuse a test version the simulator does not have (every test has only version 1)."""
    if version_id not in (None, 1):
        raise ChangeError("versionId", f"The test version '{version_id}' was not found.")


def test_ids(test_issue_ids=None, tests=None) -> list:
    """The ids of ``testIssueIds`` and of ``tests: [TestWithVersionInput]`` together."""
    for item in tests or []:
        version(item.get("versionId"))
    return list(test_issue_ids or []) + [item.get("issueId") for item in tests or []]


def _added(ids: list, asked: list, what: str) -> str | None:
    already = len(set(asked)) - len(ids)
    return f"{already} {what} already associated." if already > 0 else None


# ---- creating and deleting --------------------------------------------------------------------


@mutation("createTest")
def create_test(ds, stamp, jira, testType=None, steps=None, gherkin=None, unstructured=None, folderPath=None,
                preconditionIssueIds=None):
    test = changes.create_test(ds, jira_fields(jira), stamp, type_ref=testType, steps=steps, gherkin=gherkin,
                               unstructured=unstructured, folder_path=folderPath,
                               precondition_ids=preconditionIssueIds)
    return {"test": test, "warnings": []}


@mutation("createPrecondition")
def create_precondition(ds, stamp, jira, preconditionType=None, definition=None, folderPath=None,
                        testIssueIds=None, tests=None):
    pre = changes.create_precondition(ds, jira_fields(jira), stamp, type_ref=preconditionType, definition=definition,
                                      folder_path=folderPath, test_ids=test_ids(testIssueIds, tests))
    return {"precondition": pre, "warnings": []}


@mutation("createTestSet")
def create_test_set(ds, stamp, jira, testIssueIds=None):
    return {"testSet": changes.create_holder(ds, "test_set", jira_fields(jira), stamp, test_ids=testIssueIds),
            "warnings": []}


@mutation("createTestPlan")
def create_test_plan(ds, stamp, jira, testIssueIds=None, savedFilter=None):
    plan = changes.create_holder(ds, "test_plan", jira_fields(jira), stamp, test_ids=testIssueIds)
    warnings = ["The simulator does not evaluate saved filters; savedFilter was ignored."] if savedFilter else []
    return {"testPlan": plan, "warnings": warnings}


@mutation("createTestExecution")
def create_test_execution(ds, stamp, jira, testEnvironments=None, testIssueIds=None, tests=None):
    fields = jira_fields(jira)
    known = set(ds.project_settings[project(ds, fields.get("project"))["id"]]["testEnvironments"])
    execution = changes.create_holder(ds, "test_execution", fields, stamp, test_ids=test_ids(testIssueIds, tests),
                                      environments=testEnvironments)
    created = [e for e in execution["testEnvironments"] if e not in known]
    return {"testExecution": execution, "createdTestEnvironments": created, "warnings": []}


def _deleter(name: str, kind: str, label: str):
    @mutation(name)
    def delete(ds, stamp, issueId):
        changes.delete_issue(ds, kind, issueId, stamp)
        return f"{label} {issueId} was deleted."

    return delete


for _name, _kind, _label in (("deleteTest", "test", "Test"), ("deletePrecondition", "precondition", "Precondition"),
                             ("deleteTestSet", "test_set", "Test Set"), ("deleteTestPlan", "test_plan", "Test Plan"),
                             ("deleteTestExecution", "test_execution", "Test Execution")):
    _deleter(_name, _kind, _label)


# ---- relations --------------------------------------------------------------------------------


def _holder_side(add_name: str, remove_name: str, relation: str, members_arg: str, result_key: str, what: str):
    """``addXToY`` / ``removeXFromY`` where the holder is the mutation's ``issueId``."""
    @mutation(add_name)
    def add(ds, stamp, issueId, versionId=None, tests=None, **args):
        version(versionId)
        asked = test_ids(args.get(members_arg), tests) if members_arg == "testIssueIds" else args[members_arg]
        added = changes.link(ds, relation, issueId, asked, stamp, members_arg)
        return {result_key: added, "warning": _added(added, asked, what)}

    @mutation(remove_name)
    def remove(ds, stamp, issueId, versionId=None, tests=None, **args):
        version(versionId)
        asked = test_ids(args.get(members_arg), tests) if members_arg == "testIssueIds" else args[members_arg]
        removed = changes.unlink(ds, relation, issueId, asked, stamp, members_arg)
        return f"{len(removed)} {what} removed."


for _spec in (
    ("addTestsToTestSet", "removeTestsFromTestSet", "set_tests", "testIssueIds", "addedTests", "tests"),
    ("addTestsToTestPlan", "removeTestsFromTestPlan", "plan_tests", "testIssueIds", "addedTests", "tests"),
    ("addTestsToTestExecution", "removeTestsFromTestExecution", "execution_tests", "testIssueIds", "addedTests",
     "tests"),
    ("addTestsToPrecondition", "removeTestsFromPrecondition", "precondition_tests", "testIssueIds", "addedTests",
     "tests"),
    ("addTestExecutionsToTestPlan", "removeTestExecutionsFromTestPlan", "plan_executions", "testExecIssueIds",
     "addedTestExecutions", "test executions"),
):
    _holder_side(*_spec)


def _test_side(add_name: str, remove_name: str, relation: str, kind: str, members_arg: str, result_key: str,
               what: str):
    """``addXToTest`` / ``removeXFromTest``: the test is the member of each holder named."""
    def holders(ds, issue_id, ids):
        require(ds, "test", issue_id)
        return [h["issueId"] for h in require_all(ds, kind, ids, members_arg)]

    @mutation(add_name)
    def add(ds, stamp, issueId, versionId=None, **args):
        version(versionId)
        ids = holders(ds, issueId, args[members_arg])
        added = [h for h in ids if changes.link(ds, relation, h, [issueId], stamp)]
        return {result_key: added, "warning": _added(added, ids, what)}

    @mutation(remove_name)
    def remove(ds, stamp, issueId, versionId=None, **args):
        version(versionId)
        removed = [h for h in holders(ds, issueId, args[members_arg])
                   if changes.unlink(ds, relation, h, [issueId], stamp)]
        return f"{len(removed)} {what} removed."


for _spec in (
    ("addPreconditionsToTest", "removePreconditionsFromTest", "precondition_tests", "precondition",
     "preconditionIssueIds", "addedPreconditions", "preconditions"),
    ("addTestSetsToTest", "removeTestSetsFromTest", "set_tests", "test_set", "testSetIssueIds", "addedTestSets",
     "test sets"),
    ("addTestPlansToTest", "removeTestPlansFromTest", "plan_tests", "test_plan", "testPlanIssueIds",
     "addedTestPlans", "test plans"),
    ("addTestExecutionsToTest", "removeTestExecutionsFromTest", "execution_tests", "test_execution",
     "testExecIssueIds", "addedTestExecutions", "test executions"),
):
    _test_side(*_spec)


@mutation("addTestEnvironmentsToTestExecution")
def add_environments(ds, stamp, issueId, testEnvironments):
    associated, created = changes.add_environments(ds, issueId, testEnvironments, stamp)
    return {"associatedTestEnvironments": associated, "createdTestEnvironments": created, "warning": None}


@mutation("removeTestEnvironmentsFromTestExecution")
def remove_environments(ds, stamp, issueId, testEnvironments):
    return f"{len(changes.remove_environments(ds, issueId, testEnvironments, stamp))} test environments removed."


# ---- definitions ------------------------------------------------------------------------------


@mutation("addTestStep")
def add_test_step(ds, stamp, issueId, step, versionId=None):
    version(versionId)
    return edits.add_step(ds, require(ds, "test", issueId), step, stamp)


@mutation("updateTestType")
def update_test_type(ds, stamp, issueId, testType, versionId=None):
    version(versionId)
    test = require(ds, "test", issueId)
    edits.set_test_type(ds, test, testType, stamp)
    return test


@mutation("updateGherkinTestDefinition")
def update_gherkin(ds, stamp, issueId, gherkin, versionId=None):
    version(versionId)
    test = require(ds, "test", issueId)
    edits.set_definition(ds, test, stamp, gherkin=gherkin)
    return test


@mutation("updateUnstructuredTestDefinition")
def update_unstructured(ds, stamp, issueId, unstructured, versionId=None):
    version(versionId)
    test = require(ds, "test", issueId)
    edits.set_definition(ds, test, stamp, unstructured=unstructured)
    return test


@mutation("updatePrecondition")
def update_precondition(ds, stamp, issueId, data=None):
    pre = require(ds, "precondition", issueId)
    data = data or {}
    edits.edit_precondition(ds, pre, stamp, definition=data.get("definition"),
                            type_ref=data.get("preconditionType"), folder_path=data.get("folderPath"))
    return pre


# ---- folders ----------------------------------------------------------------------------------


def _no_plan_folders(test_plan_id) -> None:
    if test_plan_id is not None:
        raise ChangeError("testPlanId", "The simulator does not model test plan folders.")


def _folder_result(ds, project_id, path) -> dict:
    node = folders.find(edits.project_root(ds, project_id), path)
    return {"folder": {k: node[k] for k in ("name", "path", "testsCount", "preconditionsCount", "issuesCount")},
            "warnings": []}


@mutation("createFolder")
def create_folder(ds, stamp, path, projectId=None, testIssueIds=None, issueIds=None, testPlanId=None):
    _no_plan_folders(testPlanId)
    members = [("test", i) for i in testIssueIds or []] + [(None, i) for i in issueIds or []]
    edits.create_folder(ds, projectId, path, stamp, members)
    return _folder_result(ds, projectId, path)


@mutation("deleteFolder")
def delete_folder(ds, stamp, path, projectId=None, testPlanId=None):
    _no_plan_folders(testPlanId)
    edits.delete_folder(ds, projectId, path, stamp)
    return f"The folder {folders.normalize(path)} was deleted."


@mutation("addTestsToFolder")
def add_tests_to_folder(ds, stamp, path, testIssueIds, projectId=None, index=None, testPlanId=None):
    _no_plan_folders(testPlanId)
    edits.fill_folder(ds, projectId, path, [("test", i) for i in testIssueIds], stamp)
    return _folder_result(ds, projectId, path)


@mutation("addIssuesToFolder")
def add_issues_to_folder(ds, stamp, path, issueIds, projectId, index=None):
    edits.fill_folder(ds, projectId, path, [(None, i) for i in issueIds], stamp)
    return _folder_result(ds, projectId, path)


@mutation("removeTestsFromFolder")
def remove_tests_from_folder(ds, stamp, testIssueIds, projectId=None, testPlanId=None):
    _no_plan_folders(testPlanId)
    edits.fill_folder(ds, projectId, "/", [("test", i) for i in testIssueIds], stamp)
    return f"{len(testIssueIds)} tests moved to the root folder."


@mutation("removeIssuesFromFolder")
def remove_issues_from_folder(ds, stamp, issueIds, projectId):
    edits.fill_folder(ds, projectId, "/", [(None, i) for i in issueIds], stamp)
    return f"{len(issueIds)} issues moved to the root folder."


@mutation("updateTestFolder")
def update_test_folder(ds, stamp, issueId, folderPath):
    edits.move_to_folder(ds, require(ds, "test", issueId), folderPath, stamp)
    return f"The test {issueId} is now in {folders.normalize(folderPath)}."


@mutation("updatePreconditionFolder")
def update_precondition_folder(ds, stamp, issueId, folderPath):
    edits.move_to_folder(ds, require(ds, "precondition", issueId), folderPath, stamp)
    return f"The precondition {issueId} is now in {folders.normalize(folderPath)}."
