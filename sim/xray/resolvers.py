"""Resolvers of the simulator's schema over a ``Dataset``: root lists with Xray's filters, connections.

Connections page a list as Xray does (``total``, ``start``, ``limit``, ``results``) and refuse a
``limit`` outside 1–100 when the context enforces Xray's limits.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone

from graphql import GraphQLError

MAX_LIMIT = 100


def _page(info, items: list, limit: int, start: int | None) -> dict:
    start = start or 0
    if info.context["enforce_limits"] and not 1 <= limit <= MAX_LIMIT:
        raise GraphQLError(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    if start < 0:
        raise GraphQLError(f"start must not be negative, got {start}")
    return {"total": len(items), "start": start, "limit": limit, "results": items[start:start + limit]}


def _by_ids(index: dict, ids: list[str], only: list[str] | None) -> list:
    wanted = set(only) if only is not None else None
    return [index[i] for i in ids if i in index and (wanted is None or i in wanted)]


def _parse_moment(value: str) -> datetime:
    """ISO 8601 (``Z``, an offset, or none: UTC), a date alone, or Jira's ``yyyy/MM/dd [HH:mm]``."""
    text = value.strip().replace("Z", "+00:00") if isinstance(value, str) else ""
    if _JIRA_DATE.match(text):
        text = text.replace("/", "-")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise GraphQLError(f"modifiedSince is not a valid date: {value!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment


def _modified_after(records: list[dict], since: str) -> list[dict]:
    """Records whose lastModified is strictly after ``since``."""
    moment = _parse_moment(since)
    return [r for r in records if _parse_moment(r["lastModified"]) > moment]


_JIRA_DATE = re.compile(r"^\d{4}/\d{2}/\d{2}( \d{2}:\d{2})?$")
_JQL_PROJECT = re.compile(r'^\s*project\s*(?:=\s*"?([A-Za-z0-9_]+)"?|in\s*\(([^)]*)\))\s*$', re.I)
_JQL_KEYS = re.compile(r"^\s*(?:key|issue|issuekey)\s+in\s*\(([^)]*)\)\s*$", re.I)


def _jql_filter(dataset, records: list[dict], jql: str) -> list[dict]:
    """The small jql subset the simulator understands: project = X, project in (...), key in (...)."""
    match = _JQL_PROJECT.match(jql)
    if match:
        names = [match.group(1)] if match.group(1) else [n.strip(' "') for n in match.group(2).split(",")]
        ids = {p["id"] for p in dataset.projects if p["key"] in names or p["id"] in names}
        out = [r for r in records if r["projectId"] in ids]
    else:
        match = _JQL_KEYS.match(jql)
        if not match:
            raise GraphQLError(f"The simulator does not understand this jql: {jql!r}")
        keys = {k.strip(' "') for k in match.group(1).split(",")}
        out = [r for r in records if r["jira"]["key"] in keys or r["issueId"] in keys]
    if len(out) > MAX_LIMIT:
        raise GraphQLError("The jql matches more than 100 issues; use projectId and paging instead.")
    return out


def _filter(info, records: list[dict], args: dict) -> list[dict]:
    dataset = info.context["dataset"]
    out = records
    if args.get("projectId") is not None:
        project = args["projectId"]
        ids = {p["id"] for p in dataset.projects if project in (p["id"], p["key"])}
        out = [r for r in out if r["projectId"] in ids]
    if args.get("issueIds") is not None:
        wanted = set(args["issueIds"])
        out = [r for r in out if r["issueId"] in wanted]
    if args.get("jql"):
        out = _jql_filter(dataset, out, args["jql"])
    if args.get("modifiedSince"):
        out = _modified_after(out, args["modifiedSince"])
    type_filter = args.get("testType") or args.get("preconditionType")
    if type_filter:
        key = "testType" if "testType" in args else "preconditionType"
        out = [r for r in out if all(r[key].get(k) == v for k, v in type_filter.items() if v is not None)]
    if args.get("folder"):
        path = args["folder"]["path"].rstrip("/") or "/"
        deep = args["folder"].get("includeDescendants")

        def inside(record):
            own = (record.get("folder") or {}).get("path") or "/"
            return own == path or (deep and (path == "/" or own.startswith(path + "/")))

        out = [r for r in out if inside(r)]
    return out


def _list_resolver(attr: str):
    def resolve(_root, info, limit, start=None, **args):
        return _page(info, _filter(info, getattr(info.context["dataset"], attr), args), limit, start)

    return resolve


def _single_resolver(index: str):
    def resolve(_root, info, issueId=None):
        return getattr(info.context["dataset"], index).get(issueId)

    return resolve


def _runs(_root, info, limit, start=None, testIssueIds=None, testExecIssueIds=None, testRunAssignees=None,
          modifiedSince=None):
    runs = info.context["dataset"].test_runs
    for key, wanted in (("_test", testIssueIds), ("_test_execution", testExecIssueIds),
                        ("assigneeId", testRunAssignees)):
        if wanted is not None:
            wanted = set(wanted)
            runs = [r for r in runs if r[key] in wanted]
    if modifiedSince:
        runs = _modified_after(runs, modifiedSince)
    return _page(info, runs, limit, start)


def _runs_by_id(_root, info, limit, ids=None, start=None):
    index = info.context["dataset"].test_run_by_id
    runs = [index[i] for i in (ids or []) if i in index]
    return _page(info, runs, limit, start)


def _run_for(_root, info, testIssueId=None, testExecIssueId=None):
    for run in info.context["dataset"].runs_by_test.get(testIssueId, []):
        if run["_test_execution"] == testExecIssueId:
            return run
    return None


def _folder(_root, info, path, projectId=None, testPlanId=None):
    dataset = info.context["dataset"]
    if testPlanId is not None:
        return None
    node = dataset.folders.get(projectId) if projectId is not None else None
    if node is None:
        raise GraphQLError(f"Project {projectId!r} was not found")
    parts = [p for p in path.split("/") if p]
    for part in parts:
        node = next((c for c in node["folders"] if c["name"] == part), None)
        if node is None:
            raise GraphQLError(f"Folder {path!r} was not found")
    return node


def _settings(_root, info, projectIdOrKey=None):
    dataset = info.context["dataset"]
    for project in dataset.projects:
        if projectIdOrKey in (project["id"], project["key"]):
            return dataset.project_settings.get(project["id"])
    raise GraphQLError(f"Project {projectIdOrKey!r} was not found")


def _datasets(_root, info, testIssueIds=None, testExecIssueIds=None, testPlanIssueIds=None):
    tests = info.context["dataset"].test_by_id
    return [tests[i]["dataset"] for i in (testIssueIds or []) if i in tests and tests[i]["dataset"]]


def _dataset_one(_root, info, testIssueId, **_ignored):
    test = info.context["dataset"].test_by_id.get(testIssueId)
    return test["dataset"] if test else None


# ---- object fields ----------------------------------------------------------------------------


def _jira(record, _info, fields=None):
    jira = record["jira"]
    if fields is None:
        return dict(jira)
    return {f: jira[f] for f in fields if f in jira}


def _child(index: str, relation: str):
    def resolve(record, info, limit, start=0, issueIds=None):
        items = _by_ids(getattr(info.context["dataset"], index), record[relation], issueIds)
        return _page(info, items, limit, start)

    return resolve


def _member_of(kind: str, index: str):
    def resolve(record, info, limit, start=0, issueIds=None):
        dataset = info.context["dataset"]
        ids = dataset.member_of.get((kind, record["issueId"]), [])
        return _page(info, _by_ids(getattr(dataset, index), ids, issueIds), limit, start)

    return resolve


def _download_link(record, info):
    return f"{info.context['base_url']}/api/v2/attachments/{record['id']}"


RESOLVERS = {
    "Query": {
        "getTests": _list_resolver("tests"),
        "getPreconditions": _list_resolver("preconditions"),
        "getTestSets": _list_resolver("test_sets"),
        "getTestPlans": _list_resolver("test_plans"),
        "getTestExecutions": _list_resolver("test_executions"),
        "getTest": _single_resolver("test_by_id"),
        "getPrecondition": _single_resolver("precondition_by_id"),
        "getTestSet": _single_resolver("test_set_by_id"),
        "getTestPlan": _single_resolver("test_plan_by_id"),
        "getTestExecution": _single_resolver("test_execution_by_id"),
        "getTestRuns": _runs,
        "getTestRunsById": _runs_by_id,
        "getTestRun": _run_for,
        "getTestRunById": lambda _r, info, id=None: info.context["dataset"].test_run_by_id.get(id),
        "getFolder": _folder,
        "getProjectSettings": _settings,
        "getStatuses": lambda _r, info, projectId=None: info.context["dataset"].statuses,
        "getStatus": lambda _r, info, name=None: next(
            (s for s in info.context["dataset"].statuses if s["name"] == name), None),
        "getStepStatuses": lambda _r, info, projectId=None: info.context["dataset"].step_statuses,
        "getStepStatus": lambda _r, info, name=None: next(
            (s for s in info.context["dataset"].step_statuses if s["name"] == name), None),
        "getIssueLinkTypes": lambda _r, info: info.context["dataset"].issue_link_types,
        "getDatasets": _datasets,
        "getDataset": _dataset_one,
    },
    "Test": {
        "jira": _jira,
        "preconditions": _child("precondition_by_id", "_preconditions"),
        "testSets": _member_of("sets", "test_set_by_id"),
        "testPlans": _member_of("plans", "test_plan_by_id"),
        "testExecutions": _member_of("execs", "test_execution_by_id"),
        "testRuns": lambda t, info, limit, start=0: _page(
            info, info.context["dataset"].runs_by_test.get(t["issueId"], []), limit, start),
    },
    "Precondition": {"jira": _jira, "tests": _child("test_by_id", "_tests")},
    "TestSet": {"jira": _jira, "tests": _child("test_by_id", "_tests")},
    "TestPlan": {
        "jira": _jira,
        "tests": _child("test_by_id", "_tests"),
        "testExecutions": _child("test_execution_by_id", "_test_executions"),
    },
    "TestExecution": {
        "jira": _jira,
        "tests": _child("test_by_id", "_tests"),
        "testPlans": _child("test_plan_by_id", "_test_plans"),
        "testRuns": lambda e, info, limit, start=0: _page(
            info, info.context["dataset"].runs_by_execution.get(e["issueId"], []), limit, start),
    },
    "TestRun": {
        "iterations": lambda r, info, limit, start=0: _page(info, r["_iterations"], limit, start),
        "preconditions": lambda r, info, limit, start=0: _page(info, r["_preconditions"], limit, start),
        "test": lambda r, info: info.context["dataset"].test_by_id[r["_test"]],
        "testExecution": lambda r, info: info.context["dataset"].test_execution_by_id[r["_test_execution"]],
    },
    "TestRunIteration": {
        "stepResults": lambda it, info, limit, start=0: _page(info, it["_step_results"], limit, start),
    },
    "TestRunPrecondition": {
        "preconditionRef": lambda p, info: info.context["dataset"].precondition_by_id.get(p["preconditionRef"]),
    },
    "Attachment": {"downloadLink": _download_link},
    "Evidence": {"downloadLink": _download_link},
}
