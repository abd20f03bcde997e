"""``POST /api/v2/import/execution``: execution results in Xray's JSON format, applied to the ground truth.

Matched to Xray Cloud's documentation of the format ("Using Xray JSON format to import execution
results"): a top-level ``testExecutionKey`` (update that execution) or ``info`` (create one:
``project``, ``summary``, ``description``, ``version``, ``user``, ``startDate``, ``finishDate``,
``testPlanKey``, ``testEnvironments``), and ``tests``: ``testKey``, ``start``, ``finish``, ``comment``,
``status``, ``executedBy``, ``assignee``, ``defects``, ``evidence`` (``data`` base64, ``filename``,
``contentType``), ``steps`` (``status``, ``comment``, ``actualResult``, ``defects``, ``evidence``) and
``iterations`` (``parameters`` ``[{"name", "value"}]``, ``status``, ``steps``). The answer is the
execution's ``{"id", "key", "self"}``.

Assumed where the documentation is silent: the import is all or nothing (a 400 ``{"error": text}``
changes nothing); tests must exist (``testInfo``, which creates tests, and ``examples`` are refused);
``info.user`` is the default ``executedBy``; ``info.startDate`` / ``finishDate`` / ``revision`` are not
stored (the simulator has no such fields); with ``testExecutionKey`` the ``info`` issue fields are
ignored but its environments and test plan apply; a new execution's summary defaults to "Execution
results"; statuses must be exact names (``PASSED``, ``FAILED``, ``TODO``, ...).
"""
from __future__ import annotations

from . import changes, run_changes
from .errors import ChangeError
from .files import decode_file
from .records import defect_ids, person, require, run_status


def import_execution(ds, payload, stamp: str, jira_url: str) -> dict:
    """Create or update the execution and its runs from an Xray JSON document; the caller holds ``ds.lock``."""
    if not isinstance(payload, dict) or not isinstance(payload.get("tests", []), list):
        raise ChangeError("body", "Wrong request syntax.")
    info = payload.get("info") or {}
    if not isinstance(info, dict):
        raise ChangeError("info", "info must be an object.")
    execution, fields = None, None
    if payload.get("testExecutionKey"):
        execution = require(ds, "test_execution", payload["testExecutionKey"], "testExecutionKey")
    else:
        fields = {"project": {"key": info.get("project")}, "summary": info.get("summary") or "Execution results",
                  "description": info.get("description")}
        if info.get("version"):
            fields["fixVersions"] = [{"name": info["version"]}]
        changes.check_new_issue(ds, fields)
    plan = require(ds, "test_plan", info["testPlanKey"], "testPlanKey") if info.get("testPlanKey") else None
    environments = info.get("testEnvironments") or []
    changes.check_environments(environments)
    default_user = person(ds, info.get("user"), "user")
    entries = [_check_entry(ds, entry) for entry in payload.get("tests") or []]
    if len({e["test"]["issueId"] for e in entries}) != len(entries):
        raise ChangeError("tests", "A test appears more than once in tests.")

    test_ids = [e["test"]["issueId"] for e in entries]
    if execution is None:
        execution = changes.create_holder(ds, "test_execution", fields, stamp, test_ids=test_ids,
                                          environments=environments)
    else:
        changes.add_environments(ds, execution["issueId"], environments, stamp)
        changes.link(ds, "execution_tests", execution["issueId"], test_ids, stamp)
    if plan is not None:
        changes.link(ds, "plan_executions", plan["issueId"], [execution["issueId"]], stamp)
    for entry in entries:
        _record(ds, execution, entry, default_user, stamp)
    return {"id": execution["issueId"], "key": execution["jira"]["key"],
            "self": f"{jira_url.rstrip('/')}/rest/api/2/issue/{execution['issueId']}"}


def _check_entry(ds, entry) -> dict:
    if not isinstance(entry, dict):
        raise ChangeError("tests", "Each entry of tests must be an object.")
    if entry.get("testInfo") or entry.get("examples"):
        raise ChangeError("tests", "The simulator imports results of existing tests only (no testInfo, no examples).")
    test = require(ds, "test", entry.get("testKey"), "testKey")
    checked = {
        "test": test, "status": run_status(ds, entry.get("status") or "TODO")["name"],
        "comment": entry.get("comment"),
        "start": run_changes.moment(entry.get("start"), "start"), "finish": run_changes.moment(entry.get("finish"),
                                                                                              "finish"),
        "executedBy": person(ds, entry.get("executedBy"), "executedBy"),
        "assignee": person(ds, entry.get("assignee"), "assignee"),
        "defects": defect_ids(ds, entry.get("defects") or []),
        "evidence": [decode_file(ds, e, "evidence") for e in entry.get("evidence") or []],
        "steps": run_changes.check_step_results(ds, test, entry.get("steps") or []),
        "iterations": None,
    }
    if entry.get("iterations") is not None:
        checked["iterations"] = run_changes.check_iterations(ds, test, entry["iterations"])
    return checked


def _record(ds, execution: dict, entry: dict, default_user: dict | None, stamp: str) -> None:
    run = next(r for r in ds.runs_by_execution[execution["issueId"]] if r["_test"] == entry["test"]["issueId"])
    executed_by = entry["executedBy"] or default_user
    run_changes.update_run(ds, run, stamp, status=entry["status"], comment=entry["comment"],
                           started_on=entry["start"], finished_on=entry["finish"],
                           executed_by_id=executed_by["accountId"] if executed_by else None,
                           assignee_id=entry["assignee"]["accountId"] if entry["assignee"] else run["assigneeId"])
    run_changes.change_run_defects(ds, run, stamp, add=entry["defects"])
    run_changes.add_run_files(ds, run, entry["evidence"], stamp)
    if entry["steps"]:
        run_changes.record_step_results(ds, run, entry["steps"], stamp)
    if entry["iterations"] is not None:
        run_changes.replace_iterations(ds, run, entry["test"], entry["iterations"], stamp)
