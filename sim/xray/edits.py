"""Edits of existing tests and preconditions (fields, type, definition, steps, folder) and of folders.

The rules of ``sim.xray.changes`` hold: everything is checked before anything changes, and only records
whose API object changed get ``stamp`` as their ``lastModified``. The caller holds ``ds.lock``.
"""
from __future__ import annotations

from . import folders
from .changes import KIND_DEFINITION, scenario_type
from .errors import ChangeError
from .files import drop_files
from .records import check_fields, check_step, kind_of, new_step, place, project, require, test_type, touch


def edit_fields(ds, record: dict, fields: dict, stamp: str) -> None:
    """Change Jira fields of an issue (summary, description, labels, ...), checked as on creation."""
    if "project" in fields:
        raise ChangeError("project", "The simulator does not move issues between projects.")
    checked = check_fields(ds, record["projectId"], fields, creating=False)
    changed = {k: v for k, v in checked.items() if record["jira"].get(k, object()) != v}
    if changed:
        record["jira"].update(changed)
        record["jira"]["updated"] = stamp
        touch([record], stamp)


def set_test_type(ds, test: dict, type_ref, stamp: str) -> None:
    """Change a test's type; definitions of another kind are dropped, as the new kind has no place for them."""
    kind = test_type(ds, test["projectId"], type_ref)
    keep = KIND_DEFINITION[kind["kind"]]
    if keep != "steps" and test["steps"]:
        drop_files(ds, ("test_step",), test["issueId"], keep=_files_runs_show(ds, test))
        test["steps"] = []
    if keep != "gherkin":
        test["gherkin"], test["scenarioType"] = None, None
    if keep != "unstructured":
        test["unstructured"] = None
    test["testType"] = kind
    touch([test], stamp)


def set_definition(ds, test: dict, stamp: str, *, gherkin=None, unstructured=None) -> None:
    """Replace a Gherkin or generic test's definition."""
    which = "gherkin" if gherkin is not None else "unstructured"
    if KIND_DEFINITION[test["testType"]["kind"]] != which:
        raise ChangeError(which, f"The test {test['jira']['key']} is not of a kind with a {which} definition.")
    if gherkin is not None:
        test["gherkin"], test["scenarioType"] = gherkin, scenario_type(gherkin)
    else:
        test["unstructured"] = unstructured
    touch([test], stamp)


def add_step(ds, test: dict, step, stamp: str) -> dict:
    """Append a step to a manual test."""
    if test["testType"]["kind"] != "Steps":
        raise ChangeError("step", f"The test {test['jira']['key']} is not a test of kind Steps.")
    created = new_step(ds, test, check_step(ds, test, step), stamp)
    test["steps"].append(created)
    touch([test], stamp)
    return created


def replace_steps(ds, test: dict, steps: list, stamp: str) -> None:
    """Replace every step of a manual test (files runs still show are kept)."""
    if test["testType"]["kind"] != "Steps":
        raise ChangeError("steps", f"The test {test['jira']['key']} is not a test of kind Steps.")
    checked = [check_step(ds, test, step, "steps") for step in steps]
    drop_files(ds, ("test_step",), test["issueId"], keep=_files_runs_show(ds, test))
    test["steps"] = [new_step(ds, test, c, stamp) for c in checked]
    touch([test], stamp)


def _files_runs_show(ds, test: dict) -> set[str]:
    # Runs keep the steps of the test version they ran, so their files stay downloadable.
    return {a["id"] for run in ds.runs_by_test.get(test["issueId"], []) for s in run["steps"] for a in s["attachments"]}


def move_to_folder(ds, record: dict, path: str, stamp: str, *, create_missing: bool = False) -> None:
    """Put a test or precondition in a folder of its project."""
    folder = place(ds, record, path, create_missing=create_missing)
    if record.get("folder") != folder:
        record["folder"] = folder
        touch([record], stamp)
    ds.reindex()


def edit_precondition(ds, pre: dict, stamp: str, *, definition=None, type_ref=None, folder_path=None) -> None:
    """Change a precondition's definition, type or folder (those given)."""
    kind = test_type(ds, pre["projectId"], type_ref, "preconditionType") if type_ref is not None else None
    before = (pre["definition"], pre["preconditionType"], pre["folder"])
    folder = place(ds, pre, folder_path) if folder_path is not None else pre["folder"]
    if definition is not None:
        pre["definition"] = definition
    if kind is not None:
        pre["preconditionType"] = kind
    pre["folder"] = folder
    if (pre["definition"], pre["preconditionType"], pre["folder"]) != before:
        touch([pre], stamp)
    ds.reindex()


# ---- folders ----------------------------------------------------------------------------------


def project_root(ds, project_ref) -> dict:
    """The folder tree of the project a key or id names."""
    return ds.folders[project(ds, project_ref, "projectId")["id"]]


def folder_members(ds, project_ref, members) -> list[dict]:
    """Tests and preconditions of the project, from ``[(kind or None for either, issue id)]``."""
    pid = project(ds, project_ref, "projectId")["id"]
    out = []
    for kind, issue_id in members:
        found = kind_of(ds, issue_id) if isinstance(issue_id, str) else None
        if found not in ((kind,) if kind else ("test", "precondition")):
            what = "a Test" if kind == "test" else "a Test or Precondition"
            raise ChangeError("issueIds", f"Issue '{issue_id}' is not {what}.")
        record = require(ds, found, issue_id)
        if record["projectId"] != pid:
            raise ChangeError("issueIds", f"Issue '{issue_id}' does not belong to the folder's project.")
        out.append(record)
    return out


def create_folder(ds, project_ref, path: str, stamp: str, members=()) -> dict:
    """A new folder (its parent must exist), with the tests and preconditions given moved into it."""
    root = project_root(ds, project_ref)
    records_ = folder_members(ds, project_ref, members)
    try:
        node = folders.create(root, path)
    except folders.FolderError as exc:
        raise ChangeError("path", str(exc)) from None
    for record in records_:
        move_to_folder(ds, record, path, stamp)
    ds.reindex()
    return node


def fill_folder(ds, project_ref, path: str, members, stamp: str) -> None:
    """Move tests and preconditions of the project into an existing folder (``/`` takes them out of any)."""
    root = project_root(ds, project_ref)
    records_ = folder_members(ds, project_ref, members)
    if folders.find(root, path) is None:
        raise ChangeError("path", f"The folder '{folders.normalize(path)}' does not exist.")
    for record in records_:
        move_to_folder(ds, record, path, stamp)


def delete_folder(ds, project_ref, path: str, stamp: str) -> None:
    """Delete a folder and its subfolders; what they held moves to the root folder."""
    pid = project(ds, project_ref, "projectId")["id"]
    try:
        removed = set(folders.remove(ds.folders[pid], path))
    except folders.FolderError as exc:
        raise ChangeError("path", str(exc)) from None
    for record in ds.tests + ds.preconditions:
        if record["projectId"] == pid and (record.get("folder") or {}).get("path") in removed:
            record["folder"] = folders.record("/")
            touch([record], stamp)
    ds.reindex()
