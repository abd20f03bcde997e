"""GraphQL over a ``Dataset`` with graphql-core, enforcing the limits Xray Cloud documents.

``execute(dataset, document, variables)`` returns ``(http_status, body)`` semantics through
``GraphQLOutcome``: invalid documents (unknown fields, bad arguments) are HTTP 400 as on Xray; limit
violations and resolver failures are ``errors`` in a 200.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from datetime import datetime
from pathlib import Path

from graphql import (
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    build_schema,
    parse,
    validate,
)
from graphql import execute as graphql_execute
from graphql.utilities import value_from_ast_untyped

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")
MAX_LIMIT = 100
MAX_ITEMS = 10_000
RESOLVER_LIMIT = 25


@dataclass
class GraphQLOutcome:
    status: int
    body: dict
    root_fields: tuple[str, ...] = ()


# ---- connections and filters ------------------------------------------------------------------


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
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise GraphQLError(f"modifiedSince is not a valid date: {value!r}") from None
    if moment.tzinfo is None:
        from datetime import timezone

        moment = moment.replace(tzinfo=timezone.utc)
    return moment


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
        since = _parse_moment(args["modifiedSince"])
        out = [r for r in out if _parse_moment(r["lastModified"]) >= since]
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
        since = _parse_moment(modifiedSince)
        runs = [r for r in runs if _parse_moment(r["lastModified"]) >= since]
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


def _load_schema():
    schema = build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))
    json_type = schema.type_map["JSON"]
    json_type.serialize = lambda value: value
    json_type.parse_value = lambda value: value
    json_type.parse_literal = lambda node, variables=None: value_from_ast_untyped(node, variables)
    for type_name, fields in RESOLVERS.items():
        graphql_type = schema.type_map[type_name]
        for field_name, resolver in fields.items():
            graphql_type.fields[field_name].resolve = resolver
    return schema


SCHEMA = _load_schema()


def _never_awaitable(_value) -> bool:
    return False


# ---- limits -----------------------------------------------------------------------------------


def _argument_value(node, variables: dict):
    value = value_from_ast_untyped(node.value, variables)
    return value


def measure(document_ast, variables: dict | None) -> tuple[int, int, list[str]]:
    """Items requested (sum over connections of the product of nested limits), connections, limit problems."""
    variables = variables or {}
    fragments = {d.name.value: d for d in document_ast.definitions if d.kind == "fragment_definition"}
    problems: list[str] = []
    totals = [0, 0]

    def walk(selection_set, multiplier: int, seen: frozenset):
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                limit_arg = next((a for a in selection.arguments or () if a.name.value == "limit"), None)
                factor = multiplier
                if limit_arg is not None:
                    limit = _argument_value(limit_arg, variables)
                    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
                        problems.append(f"{selection.name.value}: limit must be between 1 and {MAX_LIMIT}, got {limit}")
                        limit = 1
                    factor = multiplier * limit
                    totals[0] += factor
                    totals[1] += 1
                walk(selection.selection_set, factor, seen)
            elif isinstance(selection, InlineFragmentNode):
                walk(selection.selection_set, multiplier, seen)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    walk(fragment.selection_set, multiplier, seen | {selection.name.value})

    for definition in document_ast.definitions:
        if isinstance(definition, OperationDefinitionNode):
            walk(definition.selection_set, 1, frozenset())
    return totals[0], totals[1], problems


def root_fields(document_ast) -> tuple[str, ...]:
    names = []
    for definition in document_ast.definitions:
        if isinstance(definition, OperationDefinitionNode):
            names += [s.name.value for s in definition.selection_set.selections if isinstance(s, FieldNode)]
    return tuple(names)


def execute(dataset, document: str, variables: dict | None = None, *, base_url: str,
            enforce_limits: bool = True, resolver_limit: int | None = RESOLVER_LIMIT,
            operation_name: str | None = None) -> dict | GraphQLOutcome:
    """Run a document; with enforce_limits return a GraphQLOutcome, otherwise the response body."""
    outcome = _execute(dataset, document, variables, base_url, enforce_limits, resolver_limit, operation_name)
    return outcome if enforce_limits else outcome.body


@lru_cache(maxsize=256)
def _parsed(document: str):
    """The parsed document and its validation errors; a client sends the same few documents again and again."""
    try:
        ast = parse(document)
    except GraphQLError as exc:
        return None, [exc.formatted]
    return ast, [e.formatted for e in validate(SCHEMA, ast)]


def _execute(dataset, document, variables, base_url, enforce_limits, resolver_limit, operation_name):
    ast, errors = _parsed(document)
    if ast is None:
        return GraphQLOutcome(400, {"errors": errors})
    if errors:
        return GraphQLOutcome(400, {"errors": errors}, root_fields(ast))
    names = root_fields(ast)
    if enforce_limits:
        items, connections, problems = measure(ast, variables)
        if items > MAX_ITEMS:
            problems.append(f"The query requests {items} items, more than the {MAX_ITEMS} allowed in one call.")
        if resolver_limit is not None and connections > resolver_limit:
            problems.append(f"The query uses {connections} paged resolvers, more than the {resolver_limit} allowed.")
        if problems:
            return GraphQLOutcome(200, {"data": None, "errors": [{"message": p} for p in problems]}, names)
    context = {"dataset": dataset, "base_url": base_url.rstrip("/"), "enforce_limits": enforce_limits}
    # Every resolver is synchronous: skipping the awaitable checks saves a tenth of the time.
    result = graphql_execute(SCHEMA, ast, context_value=context, variable_values=variables,
                             operation_name=operation_name, is_awaitable=_never_awaitable)
    body = {"data": result.data}
    if result.errors:
        body["errors"] = [e.formatted for e in result.errors]
    return GraphQLOutcome(200, body, names)
