"""New records shaped as ``Dataset`` shapes them, and the checks Xray and Jira make on what a client sends.

Checks come first and change nothing; the ``new_*`` functions then add to the dataset (files are kept by
``sim.xray.files``). The caller holds ``ds.lock`` and passes the change's time as ``stamp``.
"""
from __future__ import annotations

import re

from . import folders
from .errors import ChangeError
from .files import decode_file, store_file

ISSUE_TYPES = {"test": "Test", "precondition": "Precondition", "test_set": "Test Set", "test_plan": "Test Plan",
               "test_execution": "Test Execution"}
_LISTS = {"test": "tests", "precondition": "preconditions", "test_set": "test_sets", "test_plan": "test_plans",
          "test_execution": "test_executions"}
_KEY = re.compile(r"^[A-Z][A-Z0-9_]*-\d+$")


def touch(changed, stamp: str) -> None:
    """Stamp each record as modified at ``stamp``."""
    for record in changed:
        record["lastModified"] = stamp


# ---- look-ups ---------------------------------------------------------------------------------


def records(ds, kind: str) -> list[dict]:
    """The dataset's list of records of an issue kind (``test``, ``precondition``, ``test_set``, ...)."""
    return getattr(ds, _LISTS[kind])


def kind_of(ds, issue_id: str) -> str | None:
    """Which kind of Xray issue an id is, or None."""
    for kind, index in (("test", ds.test_by_id), ("precondition", ds.precondition_by_id),
                        ("test_set", ds.test_set_by_id), ("test_plan", ds.test_plan_by_id),
                        ("test_execution", ds.test_execution_by_id)):
        if issue_id in index:
            return kind
    return None


def resolve_id(ds, ref) -> str | None:
    """An issue id for an id or a key, or None when neither names an issue."""
    if not isinstance(ref, str):
        return None
    if kind_of(ds, ref):
        return ref
    for kind in _LISTS:
        for record in records(ds, kind):
            if record["jira"]["key"] == ref:
                return record["issueId"]
    return None


def require(ds, kind: str, ref, field: str = "issueId") -> dict:
    """The record of that kind an id (or key) names, or a ChangeError saying what it is instead."""
    issue_id = resolve_id(ds, ref)
    if issue_id is None:
        raise ChangeError(field, f"Issue with id or key '{ref}' was not found.")
    found = kind_of(ds, issue_id)
    if found != kind:
        raise ChangeError(field, f"Issue '{ref}' is not a {ISSUE_TYPES[kind]} (it is a {ISSUE_TYPES[found]}).")
    return getattr(ds, {"test": "test_by_id", "precondition": "precondition_by_id", "test_set": "test_set_by_id",
                        "test_plan": "test_plan_by_id", "test_execution": "test_execution_by_id"}[kind])[issue_id]


def require_all(ds, kind: str, refs, field: str) -> list[dict]:
    """Every record the list names (duplicates once, in order); a ChangeError for the first unknown one."""
    if refs is None:
        return []
    if not isinstance(refs, list):
        raise ChangeError(field, f"{field} must be a list.")
    out, seen = [], set()
    for ref in refs:
        record = require(ds, kind, ref, field)
        if record["issueId"] not in seen:
            seen.add(record["issueId"])
            out.append(record)
    return out


def project(ds, ref, field: str = "project") -> dict:
    """The project a key or id (or ``{"key"}`` / ``{"id"}``) names."""
    if isinstance(ref, dict):
        ref = ref.get("key") or ref.get("id")
    if ref is None:
        raise ChangeError(field, "A project is required.")
    for candidate in ds.projects:
        if ref is not None and str(ref) in (candidate["id"], candidate["key"]):
            return candidate
    raise ChangeError(field, f"The project '{ref}' does not exist or you do not have permission to see it.")


def person(ds, account_id, field: str) -> dict | None:
    """The person with that account id (None for None); a ChangeError for an unknown user."""
    if isinstance(account_id, dict):
        account_id = account_id.get("accountId")
    if account_id is None:
        return None
    for candidate in ds.people:
        if candidate["accountId"] == account_id:
            return dict(candidate)
    raise ChangeError(field, f"The user with accountId '{account_id}' does not exist.")


def test_type(ds, pid: str, ref, field: str = "testType") -> dict:
    """The project's test type named by ``{"id"}`` or ``{"name"}``; the project's default when ref is None."""
    settings = ds.project_settings[pid]["testTypeSettings"]
    if ref is None:
        return dict(next(t for t in settings["testTypes"] if t["id"] == settings["defaultTestTypeId"]))
    if isinstance(ref, str):
        ref = {"name": ref}
    for candidate in settings["testTypes"]:
        if (ref.get("id") and ref["id"] == candidate["id"]) or (ref.get("name") and ref["name"] == candidate["name"]):
            return dict(candidate)
    raise ChangeError(field, f"The test type '{ref.get('name') or ref.get('id')}' does not exist in this project.")


def run_status(ds, name, field: str = "status") -> dict:
    """The test run status with that name."""
    for candidate in ds.statuses:
        if candidate["name"] == name:
            return dict(candidate)
    raise ChangeError(field, f"The status '{name}' is not a valid test run status.")


def step_status(ds, name, field: str = "status") -> dict:
    """The step status with that name (an iteration's status may also name a run status)."""
    for candidate in ds.step_statuses:
        if candidate["name"] == name:
            return dict(candidate)
    raise ChangeError(field, f"The status '{name}' is not a valid step status.")


def defect_ids(ds, refs, field: str = "defects") -> list[str]:
    """Defects as Xray stores them: issue ids (a key of a known issue becomes its id; other keys are kept)."""
    if not isinstance(refs, list):
        raise ChangeError(field, f"{field} must be a list of issue ids or keys.")
    out = []
    for ref in refs:
        if not isinstance(ref, str) or not (ref.isdigit() or _KEY.match(ref)):
            raise ChangeError(field, f"'{ref}' is not an issue id or key.")
        out.append(resolve_id(ds, ref) or ref)
    return out


# ---- Jira fields ------------------------------------------------------------------------------


def _names(ds, values, allowed: list[str], field: str, what: str, key: str) -> list[dict]:
    if not isinstance(values, list):
        raise ChangeError(field, f"{field} must be a list.")
    out = []
    for value in values:
        name = value.get("name") if isinstance(value, dict) else value
        if name not in allowed:
            raise ChangeError(field, f"{what} name '{name}' is not valid in project {key}.")
        out.append({"name": name})
    return out


def check_fields(ds, pid: str, fields: dict, *, creating: bool) -> dict:
    """The Jira fields as the dataset stores them, after Jira's checks (only those given when editing)."""
    key = next(p["key"] for p in ds.projects if p["id"] == pid)
    out = {}
    if creating or "summary" in fields:
        summary = fields.get("summary")
        if not isinstance(summary, str) or not summary.strip():
            raise ChangeError("summary", "You must specify a summary of the issue.")
        out["summary"] = summary
    for name in ("description", "labels"):
        if name in fields or creating:
            out[name] = fields.get(name, None if name == "description" else [])
    if not isinstance(out.get("labels", []), list):
        raise ChangeError("labels", "labels must be a list of strings.")
    if "priority" in fields or creating:
        priority = fields.get("priority") or {"name": "Medium"}
        name = priority.get("name") if isinstance(priority, dict) else priority
        if name not in ds.priorities:
            raise ChangeError("priority", f"The priority '{name}' does not exist.")
        out["priority"] = {"name": name}
    if "assignee" in fields or creating:
        out["assignee"] = person(ds, fields.get("assignee"), "assignee")
    if "reporter" in fields:
        out["reporter"] = person(ds, fields["reporter"], "reporter")
    if "components" in fields or creating:
        out["components"] = _names(ds, fields.get("components") or [], ds.components[pid], "components",
                                   "Component", key)
    if "fixVersions" in fields or creating:
        out["fixVersions"] = _names(ds, fields.get("fixVersions") or [], ds.versions[pid], "fixVersions",
                                    "Version", key)
    skipped = {"project", "issuetype", "key", "status", "created", "updated"}
    out.update({k: v for k, v in fields.items() if k not in out and k not in skipped})
    return out


def jira_fields(jira) -> dict:
    """The ``fields`` of a mutation's ``jira`` argument."""
    if not isinstance(jira, dict) or not isinstance(jira.get("fields"), dict):
        raise ChangeError("jira", 'jira must be an object with "fields".')
    return jira["fields"]


def new_issue(ds, kind: str, fields: dict, stamp: str) -> tuple[dict, dict]:
    """Check the Jira fields, then take the next issue id and key: ``(project, {"issueId", "projectId", "jira"})``."""
    target = project(ds, fields.get("project"))
    checked = check_fields(ds, target["id"], fields, creating=True)
    ds._next_issue += 1
    number = ds._keys.get(target["key"], 0) + 1
    ds._keys[target["key"]] = number
    jira = {"key": f"{target['key']}-{number}", "summary": checked.pop("summary"),
            "description": checked.pop("description"), "labels": checked.pop("labels"),
            "priority": checked.pop("priority"), "status": {"name": "To Do"}, "assignee": checked.pop("assignee"),
            "reporter": checked.pop("reporter", dict(ds.people[0])),  # the API key's user
            "components": checked.pop("components"), "fixVersions": checked.pop("fixVersions"),
            "created": stamp, "updated": stamp, "issuetype": {"name": ISSUE_TYPES[kind]}, **checked}
    return target, {"issueId": str(ds._next_issue), "projectId": target["id"], "jira": jira, "lastModified": stamp}


def add_record(ds, kind: str, record: dict) -> None:
    """Add a new issue where the API lists it: with its project's issues (projects in order), last by id."""
    listed = records(ds, kind)
    listed.append(record)
    position = {p["id"]: i for i, p in enumerate(ds.projects)}
    listed.sort(key=lambda r: position[r["projectId"]])  # stable: id order within a project stays


# ---- steps and runs ---------------------------------------------------------------------------


def check_step(ds, test: dict, step, field: str = "step") -> tuple[dict, list[tuple[str, bytes]]]:
    """A step input checked: its text fields, custom fields named from the project, and its decoded files."""
    if not isinstance(step, dict):
        raise ChangeError(field, "A step must be an object.")
    known = {f["id"]: f["name"] for f in ds.project_settings[test["projectId"]]["testStepSettings"]["fields"]}
    custom = []
    for value in step.get("customFields") or []:
        if not isinstance(value, dict) or value.get("id") not in known:
            unknown = (value or {}).get("id")
            raise ChangeError(field, f"The step custom field '{unknown}' does not exist in the project.")
        custom.append({"id": value["id"], "name": known[value["id"]], "value": value.get("value")})
    call = step.get("callTestIssueId")
    if call is not None:
        call = require(ds, "test", call, "callTestIssueId")["issueId"]
    files = [decode_file(ds, item, "attachments") for item in step.get("attachments") or []]
    text = {name: step.get(name) for name in ("action", "data", "result")}
    return {**text, "callTestIssueId": call, "customFields": custom}, files


def new_step(ds, test: dict, checked: tuple[dict, list], stamp: str) -> dict:
    """The step record (with a fresh id and its files stored) for a checked step input."""
    fields, files = checked
    step_id = ds._uuid()
    attachments = [store_file(ds, "test_step", f"{test['issueId']}/{step_id}", name, data, evidence=False,
                              stamp=stamp) for name, data in files]
    return {"id": step_id, "action": fields["action"], "data": fields["data"], "result": fields["result"],
            "callTestIssueId": fields["callTestIssueId"], "attachments": attachments,
            "customFields": fields["customFields"]}


def place(ds, record: dict, path: str | None, *, create_missing: bool = False) -> dict | None:
    """The ``folder`` value for a path in the record's project (the folder must exist unless create_missing)."""
    if path is None:
        return None
    root = ds.folders[record["projectId"]]
    try:
        if folders.find(root, path) is None:
            if not create_missing:
                raise ChangeError("folderPath", f"The folder '{folders.normalize(path)}' does not exist.")
            folders.create(root, path, parents=True)
    except folders.FolderError as exc:
        raise ChangeError("folderPath", str(exc)) from None
    return folders.record(path)


def new_run(ds, test: dict, execution: dict, stamp: str) -> dict:
    """A run of the test in the execution as Xray creates it: TODO, nothing executed yet."""
    todo = next(dict(s) for s in ds.step_statuses if s["name"] == "TODO")
    run = {
        "id": ds._hex(24), "status": next(dict(s) for s in ds.statuses if s["name"] == "TODO"), "comment": None,
        "startedOn": None, "finishedOn": None, "assigneeId": None, "executedById": None, "lastModified": stamp,
        "defects": [], "evidence": [],
        "customFields": [{"id": "rcf-" + test["projectId"], "name": "Build", "values": None}],
        "testType": dict(test["testType"]), "gherkin": test["gherkin"], "scenarioType": test["scenarioType"],
        "unstructured": test["unstructured"],
        "steps": [{"id": s["id"], "action": s["action"], "data": s["data"], "result": s["result"],
                   "attachments": [dict(a) for a in s["attachments"]],
                   "customFields": [dict(c) for c in s["customFields"]], "comment": None, "evidence": [],
                   "defects": [], "actualResult": None, "status": dict(todo)} for s in test["steps"]],
        "parameters": [], "examples": [], "results": [],
        "_test": test["issueId"], "_test_execution": execution["issueId"], "_iterations": [],
        "_preconditions": [{"preconditionRef": p, "definition": ds.precondition_by_id[p]["definition"]}
                           for p in test["_preconditions"] if p in ds.precondition_by_id],
    }
    dataset = test["dataset"]
    for row in (dataset or {}).get("rows", []):
        run["_iterations"].append({
            "rank": str(row["order"] + 1),
            "parameters": [{"name": p["name"], "value": v} for p, v in zip(dataset["parameters"], row["Values"])],
            "status": dict(todo),
            "_step_results": [{"id": s["id"], "status": dict(todo), "comment": None, "defects": [], "evidence": [],
                               "actualResult": None} for s in test["steps"]],
        })
    return run
