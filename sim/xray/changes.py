"""Changes to the ground truth: create, relate and delete issues, keeping ``lastModified`` honest.

Mutations, imports and the simulator's control API all go through these functions, so one set of rules
holds everywhere. Each checks everything first (a ``ChangeError`` leaves the data as it was), then
applies the change, stamps ``stamp`` on every record whose API object changed, and reindexes.

``lastModified`` moves when the object as the API returns it changes: its own fields, and the relation
lists on either side (a test joining a set moves the test and the set; deleting a test moves whatever
listed it). Computed fields and nested copies of related items (a set's tests' summaries, a test's runs)
do not move it. Edits are in ``sim.xray.edits``, runs in ``sim.xray.run_changes``. The caller holds
``ds.lock``.
"""
from __future__ import annotations

from . import folders
from .errors import ChangeError
from .files import drop_files
from .records import (add_record, check_fields, check_step, new_issue, new_run, new_step, place, project, records,
                      require, require_all, test_type, touch)

# relation -> (holder kind, holder list, member kind, the member's list of holders when it stores one)
RELATIONS = {
    "set_tests": ("test_set", "_tests", "test", None),
    "plan_tests": ("test_plan", "_tests", "test", None),
    "execution_tests": ("test_execution", "_tests", "test", None),
    "precondition_tests": ("precondition", "_tests", "test", "_preconditions"),
    "plan_executions": ("test_plan", "_test_executions", "test_execution", "_test_plans"),
}
KIND_DEFINITION = {"Steps": "steps", "Gherkin": "gherkin", "Unstructured": "unstructured"}


# ---- creating ---------------------------------------------------------------------------------


def check_definition(kind: str, steps, gherkin, unstructured) -> None:
    """Refuse a definition that does not fit the test type's kind."""
    given = {"steps": bool(steps), "gherkin": gherkin is not None, "unstructured": unstructured is not None}
    wrong = [name for name, present in given.items() if present and name != KIND_DEFINITION[kind]]
    if wrong:
        raise ChangeError(wrong[0], f"A test of kind {kind} cannot have a {wrong[0]} definition.")


def scenario_type(gherkin: str | None) -> str | None:
    """What Xray derives from a Gherkin definition: an outline when it has examples."""
    if gherkin is None:
        return None
    return "scenario_outline" if "Examples:" in gherkin else "scenario"


def create_test(ds, fields: dict, stamp: str, *, type_ref=None, steps=None, gherkin=None, unstructured=None,
                folder_path=None, precondition_ids=None, create_folders: bool = False) -> dict:
    """A new test (its steps' files stored, its preconditions linked both ways)."""
    target = check_new_issue(ds, fields)
    kind = test_type(ds, target["id"], type_ref)
    check_definition(kind["kind"], steps, gherkin, unstructured)
    probe = {"projectId": target["id"], "issueId": "", "_preconditions": []}
    checked_steps = [check_step(ds, probe, step, "steps") for step in steps or []]
    pres = require_all(ds, "precondition", precondition_ids, "preconditionIssueIds")
    check_folder(ds, probe, folder_path, create_folders)
    _, test = new_issue(ds, "test", fields, stamp)
    test.update({"testType": kind, "steps": [], "gherkin": gherkin, "scenarioType": scenario_type(gherkin),
                 "unstructured": unstructured, "folder": place(ds, test, folder_path, create_missing=True),
                 "dataset": None, "_preconditions": [p["issueId"] for p in pres]})
    test["steps"] = [new_step(ds, test, checked, stamp) for checked in checked_steps]
    add_record(ds, "test", test)
    for pre in pres:
        pre["_tests"].append(test["issueId"])
    touch(pres, stamp)
    ds.reindex()
    return test


def create_precondition(ds, fields: dict, stamp: str, *, type_ref=None, definition=None, folder_path=None,
                        test_ids=None) -> dict:
    """A new precondition, linked to the tests given."""
    target = check_new_issue(ds, fields)
    kind = test_type(ds, target["id"], type_ref, "preconditionType")
    tests = require_all(ds, "test", test_ids, "testIssueIds")
    check_folder(ds, {"projectId": target["id"]}, folder_path, False)
    _, pre = new_issue(ds, "precondition", fields, stamp)
    pre.update({"preconditionType": kind, "definition": definition,
                "folder": place(ds, pre, folder_path), "_tests": [t["issueId"] for t in tests]})
    add_record(ds, "precondition", pre)
    for test in tests:
        test["_preconditions"].append(pre["issueId"])
    touch(tests, stamp)
    ds.reindex()
    return pre


def create_holder(ds, kind: str, fields: dict, stamp: str, *, test_ids=None, environments=None) -> dict:
    """A new test set, test plan or test execution holding the tests given (an execution gets their runs)."""
    tests = require_all(ds, "test", test_ids, "testIssueIds")
    check_new_issue(ds, fields)
    check_environments(environments)
    _, holder = new_issue(ds, kind, fields, stamp)
    holder["_tests"] = [t["issueId"] for t in tests]
    if kind == "test_plan":
        holder.update({"folders": None, "_test_executions": []})
    if kind == "test_execution":
        holder.update({"testEnvironments": [], "_test_plans": []})
        _add_environments(ds, holder, environments or [])
    holder = _reorder(holder)
    add_record(ds, kind, holder)
    if kind == "test_execution":
        insert_runs(ds, [new_run(ds, t, holder, stamp) for t in tests])
    touch(tests, stamp)
    ds.reindex()
    return holder


def check_new_issue(ds, fields: dict) -> dict:
    """The project of a new issue, after the checks ``new_issue`` makes (done first: a refusal changes nothing)."""
    target = project(ds, fields.get("project"))
    check_fields(ds, target["id"], fields, creating=True)
    return target


def check_folder(ds, probe: dict, path, create_missing: bool) -> None:
    """Refuse a malformed folder path, or (unless it will be created) one the project does not have."""
    if path is None:
        return
    if create_missing:
        try:
            folders.normalize(path)
        except folders.FolderError as exc:
            raise ChangeError("folderPath", str(exc)) from None
    else:
        place(ds, probe, path)


def check_environments(environments) -> None:
    """Refuse anything but a list of environment names."""
    if environments is not None and (not isinstance(environments, list)
                                     or not all(isinstance(e, str) and e for e in environments)):
        raise ChangeError("testEnvironments", "testEnvironments must be a list of names.")


def _reorder(record: dict) -> dict:
    """Public keys first, relation keys last, as the generated records are laid out."""
    return {**{k: v for k, v in record.items() if not k.startswith("_")},
            **{k: v for k, v in record.items() if k.startswith("_")}}


def _add_environments(ds, execution: dict, environments: list) -> list[str]:
    check_environments(environments)
    settings = ds.project_settings[execution["projectId"]]
    created = [e for e in dict.fromkeys(environments) if e not in settings["testEnvironments"]]
    settings["testEnvironments"] = sorted(settings["testEnvironments"] + created)
    execution["testEnvironments"] += [e for e in dict.fromkeys(environments) if e not in execution["testEnvironments"]]
    return created


def add_environments(ds, execution_id: str, environments: list, stamp: str) -> tuple[list[str], list[str]]:
    """Associate environments with an execution: ``(associated, created in the project)``."""
    execution = require(ds, "test_execution", execution_id)
    before = list(execution["testEnvironments"])
    created = _add_environments(ds, execution, environments)
    if execution["testEnvironments"] != before:
        touch([execution], stamp)
    return [e for e in execution["testEnvironments"] if e not in before], created


def remove_environments(ds, execution_id: str, environments: list, stamp: str) -> list[str]:
    """Drop environments from an execution (the project keeps them)."""
    execution = require(ds, "test_execution", execution_id)
    removed = [e for e in execution["testEnvironments"] if e in set(environments or [])]
    if removed:
        execution["testEnvironments"] = [e for e in execution["testEnvironments"] if e not in removed]
        touch([execution], stamp)
    return removed


# ---- relations --------------------------------------------------------------------------------


def link(ds, relation: str, holder_id: str, member_ids, stamp: str, field: str = "issueIds") -> list[str]:
    """Add members to a holder's list (and the member's back list); return the ids actually added."""
    holder_kind, key, member_kind, back = RELATIONS[relation]
    holder = require(ds, holder_kind, holder_id)
    members = require_all(ds, member_kind, member_ids, field)
    added = [m for m in members if m["issueId"] not in holder[key]]
    for member in added:
        holder[key].append(member["issueId"])
        if back:
            member[back].append(holder["issueId"])
    if relation == "execution_tests":
        insert_runs(ds, [new_run(ds, m, holder, stamp) for m in added])
    if added:
        touch([holder, *added], stamp)
        ds.reindex()
    return [m["issueId"] for m in added]


def unlink(ds, relation: str, holder_id: str, member_ids, stamp: str, field: str = "issueIds") -> list[str]:
    """Remove members from a holder's list (an execution's runs of them go too); return the ids removed."""
    holder_kind, key, member_kind, back = RELATIONS[relation]
    holder = require(ds, holder_kind, holder_id)
    members = require_all(ds, member_kind, member_ids, field)
    removed = [m for m in members if m["issueId"] in holder[key]]
    gone = {m["issueId"] for m in removed}
    holder[key] = [i for i in holder[key] if i not in gone]
    for member in removed:
        if back:
            member[back] = [i for i in member[back] if i != holder["issueId"]]
    if relation == "execution_tests":
        drop_runs(ds, [r for r in ds.test_runs if r["_test_execution"] == holder["issueId"] and r["_test"] in gone])
    if removed:
        touch([holder, *removed], stamp)
        ds.reindex()
    return [m["issueId"] for m in removed]


def insert_runs(ds, runs: list[dict]) -> None:
    """Add runs where the API lists them: grouped by execution (in the executions' order), new ones last."""
    if not runs:
        return
    ds.test_runs.extend(runs)
    position = {e["issueId"]: i for i, e in enumerate(ds.test_executions)}
    ds.test_runs.sort(key=lambda r: position[r["_test_execution"]])  # stable: each execution keeps its order


def drop_runs(ds, runs: list[dict]) -> None:
    """Remove runs and the evidence files they hold."""
    ids = {r["id"] for r in runs}
    ds.test_runs[:] = [r for r in ds.test_runs if r["id"] not in ids]
    for run_id in ids:
        drop_files(ds, ("test_run", "test_run_step", "iteration_step"), run_id)


# ---- deleting ---------------------------------------------------------------------------------


def delete_issue(ds, kind: str, issue_id: str, stamp: str) -> None:
    """Delete an issue: it leaves every list that held it (those holders move) and its runs go with it."""
    record = require(ds, kind, issue_id)
    own = record["issueId"]
    moved: dict[int, dict] = {}

    def holders_of(lists, key):
        for holder in lists:
            if own in holder[key]:
                holder[key] = [i for i in holder[key] if i != own]
                moved[id(holder)] = holder

    if kind == "test":
        holders_of(ds.test_sets + ds.test_plans + ds.test_executions + ds.preconditions, "_tests")
        drop_runs(ds, ds.runs_by_test.get(own, []))
        drop_files(ds, ("test_step",), own)
        for test in ds.tests:
            for step in test["steps"]:
                if step["callTestIssueId"] == own:
                    step["callTestIssueId"] = None
                    moved[id(test)] = test
    elif kind == "precondition":
        holders_of(ds.tests, "_preconditions")
        for run in ds.test_runs:
            if any(p["preconditionRef"] == own for p in run["_preconditions"]):
                run["_preconditions"] = [p for p in run["_preconditions"] if p["preconditionRef"] != own]
                moved[id(run)] = run
    else:  # a set, plan or execution: the tests (and plans / executions) listing it change
        for test_id in record["_tests"]:
            if test_id in ds.test_by_id:
                moved[id(ds.test_by_id[test_id])] = ds.test_by_id[test_id]
        if kind == "test_plan":
            holders_of(ds.test_executions, "_test_plans")
        if kind == "test_execution":
            holders_of(ds.test_plans, "_test_executions")
            drop_runs(ds, ds.runs_by_execution.get(own, []))
    records(ds, kind).remove(record)
    touch([r for r in moved.values() if r is not record], stamp)
    ds.reindex()
