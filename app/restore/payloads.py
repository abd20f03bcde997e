"""What recreates an item in Xray, built from its snapshot record: mutation arguments, bulk import elements,
execution results (Xray JSON), and the fingerprint an item created from them will show. Pure, apart from the
attachment reader it is given.

Everything the target lacks is left out here (a user, component, version or step field it does not have); the
planner names each of those in the plan's warnings.
"""
from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
from dataclasses import dataclass, field
from typing import Callable

from .scope import DEFAULT_RUN_STATUS
from .target import TargetProject

KIND_DEFINITION = {"Steps": "steps", "Gherkin": "gherkin", "Unstructured": "unstructured"}


def summary_for(summary: str | None, key: str | None) -> str:
    """The summary to create an issue with: Jira refuses an empty one, so an empty summary gets a placeholder."""
    if summary and summary.strip():
        return summary
    return f"(no summary: restored from {key or 'a snapshot'})"


@dataclass
class BuildContext:
    project: TargetProject
    accounts: set[str] = field(default_factory=set)        # accounts Jira knows
    stored: set[str] = field(default_factory=set)          # attachment ids whose bytes the snapshot holds
    attachment: Callable[[str], bytes] = lambda _id: b""
    resolve: Callable[[str, str], str | None] = lambda _entity, _id: None  # source id -> target id
    folder: Callable[[str | None], str | None] = lambda path: path      # the folder an item can go into


def _file(ctx: BuildContext, item: dict, data_key: str = "data") -> dict | None:
    att_id = item.get("id")
    if not att_id or item.get("storedInJira") or att_id not in ctx.stored:
        return None
    filename = item.get("filename") or att_id
    return {data_key: base64.b64encode(ctx.attachment(att_id)).decode("ascii"), "filename": filename,
            "mimeType": mimetypes.guess_type(filename)[0] or "application/octet-stream"}


def jira_fields(record: dict, ctx: BuildContext) -> dict:
    """The Jira fields of a new issue: what the snapshot holds that the target project and site accept."""
    jira = record.get("jira") or {}
    project = ctx.project
    fields = {"project": {"key": project.key}, "summary": summary_for(jira.get("summary"), jira.get("key"))}
    if jira.get("description") is not None:
        fields["description"] = jira["description"]
    if jira.get("labels"):
        fields["labels"] = list(jira["labels"])
    if (jira.get("priority") or {}).get("name"):
        fields["priority"] = {"name": jira["priority"]["name"]}
    components = [c["name"] for c in jira.get("components") or [] if c.get("name") in project.components]
    if components:
        fields["components"] = [{"name": name} for name in components]
    versions = [v["name"] for v in jira.get("fixVersions") or [] if v.get("name") in project.versions]
    if versions:
        fields["fixVersions"] = [{"name": name} for name in versions]
    assignee = (jira.get("assignee") or {}).get("accountId")
    if assignee and assignee in ctx.accounts:
        fields["assignee"] = {"accountId": assignee}
    return fields


def type_for_test(type_name: str | None, project: TargetProject) -> tuple[str | None, str | None]:
    """The (name, kind) a test gets: its own type when the project has it, else the project's default."""
    if type_name in project.types:
        return type_name, project.types[type_name]
    return project.default_type, project.kind_of(project.default_type)


def _steps(record: dict, ctx: BuildContext, *, with_fields: bool) -> list[dict]:
    steps = []
    for step in record.get("steps") or []:
        built = {"action": step.get("action"), "data": step.get("data"), "result": step.get("result")}
        files = [f for f in (_file(ctx, a) for a in step.get("attachments") or []) if f]
        if files:
            built["attachments"] = files
        if with_fields:
            custom = [{"id": ctx.project.step_fields[c["name"]], "value": c.get("value")}
                      for c in step.get("customFields") or [] if c.get("name") in ctx.project.step_fields]
            if custom:
                built["customFields"] = custom
            call = step.get("callTestIssueId")
            target = ctx.resolve("tests", str(call)) if call else None
            if target:
                built["callTestIssueId"] = target
        steps.append(built)
    return steps


def _definition(record: dict, kind: str | None) -> dict:
    """The one definition the target kind takes (another kind's definition has no place in it)."""
    which = KIND_DEFINITION.get(kind or "")
    if which == "gherkin" and record.get("gherkin") is not None:
        return {"gherkin": record["gherkin"]}
    if which == "unstructured" and record.get("unstructured") is not None:
        return {"unstructured": record["unstructured"]}
    return {}


def arguments_for_test(record: dict, ctx: BuildContext, preconditions: list[str]) -> dict:
    """`createTest` arguments for a test record (steps with their files and custom fields, definition, links)."""
    name, kind = type_for_test((record.get("testType") or {}).get("name"), ctx.project)
    args = {"jira": {"fields": jira_fields(record, ctx)}}
    if name:
        args["testType"] = {"name": name}
    if KIND_DEFINITION.get(kind or "") == "steps":
        args["steps"] = _steps(record, ctx, with_fields=True)
    args.update(_definition(record, kind))
    folder = ctx.folder((record.get("folder") or {}).get("path"))
    if folder is not None:
        args["folderPath"] = folder
    if preconditions:
        args["preconditionIssueIds"] = preconditions
    return args


def bulk_ready(record: dict, ctx: BuildContext) -> bool:
    """Whether the bulk import keeps this test whole: it takes no step custom fields, no called tests, and
    drops an empty Gherkin or generic definition."""
    _, kind = type_for_test((record.get("testType") or {}).get("name"), ctx.project)
    which = KIND_DEFINITION.get(kind or "")
    if which in ("gherkin", "unstructured") and record.get(which) == "":
        return False
    for step in record.get("steps") or []:
        if step.get("callTestIssueId"):
            return False
        if any(c.get("name") in ctx.project.step_fields for c in step.get("customFields") or []):
            return False
    return True


def bulk_element(args: dict) -> dict:
    """The bulk import element equal to a test's `createTest` arguments (see `bulk_ready`)."""
    element = {"fields": args["jira"]["fields"]}
    if args.get("testType"):
        element["testtype"] = args["testType"]["name"]
    if "steps" in args:
        element["steps"] = args["steps"]
    if args.get("gherkin") is not None:
        element["gherkin_def"] = args["gherkin"]
    if args.get("unstructured") is not None:
        element["unstructured_def"] = args["unstructured"]
    if args.get("folderPath") is not None:
        element["xray_test_repository_folder"] = args["folderPath"]
    if args.get("preconditionIssueIds"):
        element["xray_preconditions"] = args["preconditionIssueIds"]
    return element


def precondition_arguments(record: dict, ctx: BuildContext, tests: list[str]) -> dict:
    """`createPrecondition` arguments (linked at once to the given existing tests)."""
    args = {"jira": {"fields": jira_fields(record, ctx)}}
    name, _ = type_for_test((record.get("preconditionType") or {}).get("name"), ctx.project)
    if name:
        args["preconditionType"] = {"name": name}
    if record.get("definition") is not None:
        args["definition"] = record["definition"]
    folder = ctx.folder((record.get("folder") or {}).get("path"))
    if folder is not None:
        args["folderPath"] = folder
    if tests:
        args["testIssueIds"] = tests
    return args


def holder_arguments(entity: str, record: dict, ctx: BuildContext, tests: list[str]) -> dict:
    """`createTestSet` / `createTestPlan` / `createTestExecution` arguments with the tests to hold."""
    args = {"jira": {"fields": jira_fields(record, ctx)}, "testIssueIds": tests}
    if entity == "test_executions" and record.get("testEnvironments"):
        args["testEnvironments"] = list(record["testEnvironments"])
    return args


# ---- fingerprints: what an item created from these arguments looks like when read back ----------------------


def _text(value) -> str:
    return "" if value is None else str(value)


def _digest(parts) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False, sort_keys=True).encode("utf-8")).hexdigest()


def fingerprint(entity: str, summary, description, labels, extra=None) -> str:
    """One hash over what identifies an item we created: its Jira texts and its entity's own content."""
    return _digest([entity, _text(summary), _text(description), list(labels or []), extra])


def _test_extra(kind, steps, gherkin, unstructured) -> list:
    return [kind or "", [[_text(s.get("action")), _text(s.get("data")), _text(s.get("result"))] for s in steps or []],
            _text(gherkin), _text(unstructured)]


def intended_fingerprint(entity: str, args: dict, kind: str | None = None) -> str:
    """The fingerprint of the item these create arguments make."""
    fields = args["jira"]["fields"]
    extra = None
    if entity == "tests":
        extra = _test_extra(kind, args.get("steps"), args.get("gherkin"), args.get("unstructured"))
    elif entity == "preconditions":
        extra = _text(args.get("definition"))
    elif entity == "test_executions":
        extra = sorted(args.get("testEnvironments") or [])
    return fingerprint(entity, fields.get("summary"), fields.get("description"), fields.get("labels"), extra)


def found_fingerprint(entity: str, record: dict) -> str:
    """The fingerprint of an item as Xray lists it (the `RestoreRecent*` documents)."""
    jira = record.get("jira") or {}
    extra = None
    if entity == "tests":
        extra = _test_extra((record.get("testType") or {}).get("kind"), record.get("steps"), record.get("gherkin"),
                            record.get("unstructured"))
    elif entity == "preconditions":
        extra = _text(record.get("definition"))
    elif entity == "test_executions":
        extra = sorted(record.get("testEnvironments") or [])
    return fingerprint(entity, jira.get("summary"), jira.get("description"), jira.get("labels"), extra)


# ---- test runs ----------------------------------------------------------------------------------------------


def _status(value) -> str:
    return (value or {}).get("name") or DEFAULT_RUN_STATUS


def _step_result(step: dict, ctx: BuildContext) -> dict:
    out = {"status": _status(step.get("status"))}
    for name in ("comment", "actualResult"):
        if step.get(name) is not None:
            out[name] = step[name]
    if step.get("defects"):
        out["defects"] = list(step["defects"])
    files = [f for f in (_file(ctx, e, "data") for e in step.get("evidence") or []) if f]
    if files:
        out["evidence"] = [{"data": f["data"], "filename": f["filename"], "contentType": f["mimeType"]} for f in files]
    return out


def run_result(record: dict, test_key: str, ctx: BuildContext, step_count: int) -> dict:
    """One entry of an execution results import (Xray JSON) recording a run's result and its steps'."""
    entry = {"testKey": test_key, "status": _status(record.get("status"))}
    for source, name in (("comment", "comment"), ("startedOn", "start"), ("finishedOn", "finish")):
        if record.get(source) is not None:
            entry[name] = record[source]
    for source, name in (("executedById", "executedBy"), ("assigneeId", "assignee")):
        if record.get(source) and record[source] in ctx.accounts:
            entry[name] = record[source]
    if record.get("defects"):
        entry["defects"] = list(record["defects"])
    files = [f for f in (_file(ctx, e) for e in record.get("evidence") or []) if f]
    if files:
        entry["evidence"] = [{"data": f["data"], "filename": f["filename"], "contentType": f["mimeType"]}
                             for f in files]
    steps = [_step_result(step, ctx) for step in (record.get("steps") or [])[:step_count]]
    while steps and steps[-1] == {"status": DEFAULT_RUN_STATUS}:
        steps.pop()  # a fresh run's steps are already TODO
    if steps:
        entry["steps"] = steps
    return entry


def run_fields(record: dict, project: TargetProject) -> list[dict]:
    """`updateTestRun` custom field values, mapped by name to the target project's run fields."""
    return [{"id": project.run_fields[c["name"]], "value": c["values"]} for c in record.get("customFields") or []
            if c.get("name") in project.run_fields and c.get("values") not in (None, [])]


def entry_size(entry: dict) -> int:
    """Roughly how many bytes an entry adds to a request body (files dominate)."""
    return len(json.dumps(entry, ensure_ascii=False))
