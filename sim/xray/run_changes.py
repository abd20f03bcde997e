"""Changes to test runs: status, comment, dates, people, step results, iterations, evidence and defects.

A run's ``lastModified`` moves whenever the run as the API returns it changes; nothing else moves with it
(the test's status and the execution's nested runs are computed or copies). Checks come first, as in
``sim.xray.changes``. Runs are created by adding tests to executions, never directly. The caller holds
``ds.lock``.
"""
from __future__ import annotations

from datetime import datetime, timezone

from .clock import iso_ms
from .errors import ChangeError
from .files import decode_file, drop_files, store_file
from .records import defect_ids, person, run_status, step_status, touch

_UNSET = object()


def require_run(ds, run_id, field: str = "id") -> dict:
    """The run with that id, or a ChangeError."""
    run = ds.test_run_by_id.get(run_id) if isinstance(run_id, str) else None
    if run is None:
        raise ChangeError(field, f"Test run with id '{run_id}' was not found.")
    return run


def moment(value, field: str) -> str | None:
    """An ISO 8601 date-time as Xray returns it (UTC, milliseconds); None stays None."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ChangeError(field, f"'{value}' is not a valid date-time.") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return iso_ms(parsed)


def update_run(ds, run: dict, stamp: str, *, comment=_UNSET, started_on=_UNSET, finished_on=_UNSET,
               assignee_id=_UNSET, executed_by_id=_UNSET, custom_fields=None, status=None) -> None:
    """Set the given run fields (those left out stay as they are)."""
    new = {}
    if comment is not _UNSET:
        new["comment"] = comment
    if started_on is not _UNSET:
        new["startedOn"] = moment(started_on, "startedOn")
    if finished_on is not _UNSET:
        new["finishedOn"] = moment(finished_on, "finishedOn")
    if assignee_id is not _UNSET:
        new["assigneeId"] = (person(ds, assignee_id, "assigneeId") or {}).get("accountId")
    if executed_by_id is not _UNSET:
        new["executedById"] = (person(ds, executed_by_id, "executedById") or {}).get("accountId")
    if status is not None:
        new["status"] = run_status(ds, status)
    if custom_fields is not None:
        new["customFields"] = _custom_fields(ds, run, custom_fields)
    changed = {k: v for k, v in new.items() if run.get(k) != v}
    if changed:
        run.update(changed)
        touch([run], stamp)


def _custom_fields(ds, run: dict, values) -> list[dict]:
    pid = ds.test_by_id[run["_test"]]["projectId"]
    known = {f["id"]: f["name"] for f in ds.project_settings[pid]["testRunCustomFieldSettings"]["fields"]}
    current = {c["id"]: dict(c) for c in run["customFields"]}
    for value in values if isinstance(values, list) else [None]:
        if not isinstance(value, dict) or value.get("id") not in known:
            raise ChangeError("customFields", f"The test run custom field '{(value or {}).get('id')}' does not exist.")
        given = value.get("value")
        current[value["id"]] = {"id": value["id"], "name": known[value["id"]],
                                "values": given if given is None or isinstance(given, list) else [given]}
    return list(current.values())


def step_result(run: dict, step_id, iteration_rank=None) -> tuple[dict, str]:
    """The step's result in the run (or in one iteration): ``(result, evidence owner id)``."""
    if iteration_rank is None:
        for step in run["steps"]:
            if step["id"] == step_id:
                return step, f"{run['id']}/{step_id}"
        raise ChangeError("stepId", f"The step '{step_id}' is not in test run '{run['id']}'.")
    iteration = iteration_of(run, iteration_rank)
    for step in iteration["_step_results"]:
        if step["id"] == step_id:
            return step, f"{run['id']}/{int(iteration['rank']) - 1}/{step_id}"
    raise ChangeError("stepId", f"The step '{step_id}' is not in iteration {iteration_rank} of '{run['id']}'.")


def iteration_of(run: dict, rank) -> dict:
    """The run's iteration with that rank."""
    for iteration in run["_iterations"]:
        if iteration["rank"] == str(rank):
            return iteration
    raise ChangeError("iterationRank", f"The iteration '{rank}' is not in test run '{run['id']}'.")


def update_step(ds, run: dict, step_id, stamp: str, *, iteration_rank=None, status=None, comment=None,
                actual_result=None, add_defects=(), remove_defects=(), add_evidence=(), remove_evidence_ids=(),
                remove_evidence_filenames=()) -> dict:
    """Record a step's result; returns what was added and removed, as ``updateTestRunStep`` answers."""
    target, owner = step_result(run, step_id, iteration_rank)
    new_status = step_status(ds, status) if status is not None else None
    adding = defect_ids(ds, list(add_defects or []), "defects")
    files = [decode_file(ds, item, "evidence") for item in add_evidence or []]
    before = repr({k: target[k] for k in ("status", "comment", "actualResult", "defects", "evidence")})
    if new_status is not None:
        target["status"] = new_status
    if comment is not None:
        target["comment"] = comment
    if actual_result is not None:
        target["actualResult"] = actual_result
    added_defects = [d for d in dict.fromkeys(adding) if d not in target["defects"]]
    removed_defects = [d for d in target["defects"] if d in set(remove_defects or [])]
    target["defects"] = [d for d in target["defects"] if d not in removed_defects] + added_defects
    removed = _remove_evidence(ds, target, remove_evidence_ids, remove_evidence_filenames)
    kind = "test_run_step" if iteration_rank is None else "iteration_step"
    added = [store_file(ds, kind, owner, name, data, evidence=True, stamp=stamp) for name, data in files]
    target["evidence"] += added
    if repr({k: target[k] for k in ("status", "comment", "actualResult", "defects", "evidence")}) != before:
        touch([run], stamp)
    return {"addedDefects": added_defects, "removedDefects": removed_defects,
            "addedEvidence": [a["id"] for a in added], "removedEvidence": removed, "warnings": []}


def add_run_evidence(ds, run: dict, items, stamp: str) -> list[str]:
    """Attach evidence (``AttachmentDataInput`` items) to the run itself; returns the new attachment ids."""
    return add_run_files(ds, run, [decode_file(ds, item, "evidence") for item in items or []], stamp)


def add_run_files(ds, run: dict, files: list[tuple[str, bytes]], stamp: str) -> list[str]:
    """Attach decoded ``(filename, bytes)`` files to the run as evidence; returns their ids."""
    added = [store_file(ds, "test_run", run["id"], name, data, evidence=True, stamp=stamp) for name, data in files]
    run["evidence"] += added
    if added:
        touch([run], stamp)
    return [a["id"] for a in added]


def remove_run_evidence(ds, run: dict, stamp: str, ids=(), filenames=()) -> list[str]:
    """Detach (and delete) evidence of the run; returns the ids removed."""
    removed = _remove_evidence(ds, run, ids, filenames)
    if removed:
        touch([run], stamp)
    return removed


def _remove_evidence(ds, holder: dict, ids, filenames) -> list[str]:
    ids, filenames = set(ids or ()), set(filenames or ())
    gone = [e["id"] for e in holder["evidence"] if e["id"] in ids or e["filename"] in filenames]
    holder["evidence"] = [e for e in holder["evidence"] if e["id"] not in gone]
    for att_id in gone:
        ds.attachments.pop(att_id, None)
        ds._uploads.pop(att_id, None)
        ds._sha256.pop(att_id, None)
    return gone


def change_run_defects(ds, run: dict, stamp: str, *, add=(), remove=()) -> tuple[list[str], list[str]]:
    """Add and remove defects of the run itself: ``(added, removed)``."""
    adding = defect_ids(ds, list(add or []), "issues")
    added = [d for d in dict.fromkeys(adding) if d not in run["defects"]]
    removed = [d for d in run["defects"] if d in set(remove or [])]
    run["defects"] = [d for d in run["defects"] if d not in removed] + added
    if added or removed:
        touch([run], stamp)
    return added, removed


def set_iteration_status(ds, run: dict, rank, status, stamp: str) -> None:
    """Set one iteration's status (a step status, or a run status shown as one)."""
    iteration = iteration_of(run, rank)
    new = iteration_status(ds, status)
    if iteration["status"] != new:
        iteration["status"] = new
        touch([run], stamp)


def check_iterations(ds, test: dict, iterations) -> list[dict]:
    """Iteration results (Xray JSON ``iterations``) checked against the test's steps."""
    if not isinstance(iterations, list):
        raise ChangeError("iterations", "iterations must be a list.")
    out = []
    for iteration in iterations:
        if not isinstance(iteration, dict):
            raise ChangeError("iterations", "Each iteration must be an object.")
        status = iteration_status(ds, iteration.get("status") or "TODO")
        parameters = [{"name": p.get("name"), "value": p.get("value")} for p in iteration.get("parameters") or []]
        out.append({"status": status, "parameters": parameters,
                    "steps": check_step_results(ds, test, iteration.get("steps") or [])})
    return out


def check_step_results(ds, test: dict, steps) -> list[dict]:
    """Step results (Xray JSON ``steps``, in the order of the test's steps) checked."""
    if not isinstance(steps, list) or len(steps) > len(test["steps"]):
        raise ChangeError("steps", f"The test {test['jira']['key']} has {len(test['steps'])} steps; "
                                   f"{len(steps) if isinstance(steps, list) else 'no list of'} results were given.")
    out = []
    for step in steps:
        out.append({"status": step_status(ds, step.get("status") or "TODO"), "comment": step.get("comment"),
                    "actualResult": step.get("actualResult"), "defects": defect_ids(ds, step.get("defects") or []),
                    "files": [decode_file(ds, e, "evidence") for e in step.get("evidence") or []]})
    return out


def iteration_status(ds, name) -> dict:
    """A step status by name, or a run status shown as one (iterations take either)."""
    try:
        return step_status(ds, name)
    except ChangeError:
        found = run_status(ds, name)
        return {"name": found["name"], "description": found["description"], "color": found["color"],
                "testStatus": found}


def record_step_results(ds, run: dict, results: list[dict], stamp: str) -> None:
    """Write checked step results onto the run's steps, in order."""
    for step, result in zip(run["steps"], results):
        update_step(ds, run, step["id"], stamp, status=result["status"]["name"], comment=result["comment"],
                    actual_result=result["actualResult"], add_defects=result["defects"])
        owner = f"{run['id']}/{step['id']}"
        step["evidence"] += [store_file(ds, "test_run_step", owner, name, data, evidence=True, stamp=stamp)
                             for name, data in result["files"]]
    touch([run], stamp)


def replace_iterations(ds, run: dict, test: dict, iterations: list[dict], stamp: str) -> None:
    """Replace the run's iterations with checked ones (their old evidence goes)."""
    drop_files(ds, ("iteration_step",), run["id"])
    todo = step_status(ds, "TODO")
    run["_iterations"] = []
    for order, iteration in enumerate(iterations):
        results = []
        for index, step in enumerate(test["steps"]):
            given = iteration["steps"][index] if index < len(iteration["steps"]) else None
            owner = f"{run['id']}/{order}/{step['id']}"
            results.append({
                "id": step["id"], "status": given["status"] if given else dict(todo),
                "comment": given["comment"] if given else None, "defects": given["defects"] if given else [],
                "evidence": [store_file(ds, "iteration_step", owner, name, data, evidence=True, stamp=stamp)
                             for name, data in (given["files"] if given else [])],
                "actualResult": given["actualResult"] if given else None})
        run["_iterations"].append({"rank": str(order + 1), "parameters": iteration["parameters"],
                                   "status": iteration["status"], "_step_results": results})
    touch([run], stamp)
