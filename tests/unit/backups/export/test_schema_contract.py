"""Every GraphQL document the product sends is valid for Xray Cloud's real schema and for the simulator's,
and the simulator's schema (queries and mutations) is a faithful subset of Xray's.

Documents are discovered, not listed: ``app.backups.export.queries.ALL`` (name → document) and
``app.xray.verify.QUERIES``. The real schema is ``../shared/xray/schema.graphql``; where that folder is
absent the real-schema checks skip and say so.
"""
from __future__ import annotations

import ast
import subprocess
from pathlib import Path

import pytest
from graphql import GraphQLInputObjectType, GraphQLObjectType, build_schema, is_non_null_type, parse, validate

from app.backups.export import queries as backup_queries
from app.restore import documents as restore_documents
from app.xray import verify
from sim.xray import MAX_ITEMS, RESOLVER_LIMIT, SCHEMA_PATH
from sim.xray.graphql_api import measure
from tests.support.shared_data import shared_file
from tests.support.paths import ROOT



def product_documents() -> dict[str, str]:
    documents = {f"backups.{name}": doc for name, doc in backup_queries.ALL.items()}
    documents.update({f"verify.{name}": doc for name, doc in verify.QUERIES.items()})
    documents.update({f"restore.{name}": doc for name, doc in restore_documents.ALL.items()})
    return documents


DOCUMENTS = product_documents()


@pytest.fixture(scope="module")
def real_schema():
    return build_schema(shared_file("xray", "schema.graphql").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def sim_schema():
    return build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))


def test_the_product_sends_documents_for_every_entity():
    roots = {field for doc in DOCUMENTS.values() for field in _root_fields(doc)}
    for needed in ("getTests", "getPreconditions", "getTestSets", "getTestPlans", "getTestExecutions",
                   "getTestRuns", "getFolder", "getProjectSettings"):
        assert needed in roots, f"no document reads {needed}"


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_is_valid_against_xrays_real_schema(real_schema, name):
    errors = validate(real_schema, parse(DOCUMENTS[name]))
    assert not errors, f"{name}: " + "; ".join(e.message for e in errors)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_is_valid_against_the_simulators_schema(sim_schema, name):
    errors = validate(sim_schema, parse(DOCUMENTS[name]))
    assert not errors, f"{name}: " + "; ".join(e.message for e in errors)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_document_keeps_to_xrays_limits(name):
    items, connections, problems = measure(parse(DOCUMENTS[name]), _limit_variables(DOCUMENTS[name]))
    assert not problems, f"{name}: {problems}"
    assert items <= MAX_ITEMS, f"{name} asks for {items} items in one call"
    assert connections <= RESOLVER_LIMIT, f"{name} uses {connections} paged resolvers"


def test_simulator_schema_is_a_subset_of_the_real_one(real_schema, sim_schema):
    problems = []
    for name, own in sim_schema.type_map.items():
        if name.startswith("__"):
            continue
        real = real_schema.type_map.get(name)
        if real is None:
            problems.append(f"type {name} is not in Xray's schema")
            continue
        if not isinstance(own, (GraphQLObjectType, GraphQLInputObjectType)):
            continue
        for field_name, field in own.fields.items():
            real_field = real.fields.get(field_name)
            if real_field is None:
                problems.append(f"{name}.{field_name} is not in Xray's schema")
                continue
            if str(real_field.type) != str(field.type):
                problems.append(f"{name}.{field_name}: {field.type} here, {real_field.type} in Xray")
            for arg_name, arg in getattr(field, "args", {}).items():
                real_arg = real_field.args.get(arg_name)
                if real_arg is None or str(real_arg.type) != str(arg.type):
                    problems.append(f"{name}.{field_name}({arg_name}) differs from Xray's schema")
            for arg_name, real_arg in getattr(real_field, "args", {}).items():
                if is_non_null_type(real_arg.type) and arg_name not in getattr(field, "args", {}):
                    problems.append(f"{name}.{field_name} lacks the required argument {arg_name}")
        if isinstance(own, GraphQLInputObjectType):
            for field_name, real_field in real.fields.items():
                if is_non_null_type(real_field.type) and field_name not in own.fields:
                    problems.append(f"input {name} lacks the required field {field_name}")
    assert not problems, "\n".join(problems)


# What a restore sends: each must be in the simulator's schema (and so, by the test above, match Xray's).
RESTORE_MUTATIONS = (
    "createFolder", "createPrecondition", "createTest", "createTestSet", "createTestPlan", "createTestExecution",
    "addTestsToTestSet", "addTestsToTestPlan", "addTestsToTestExecution", "addTestExecutionsToTestPlan",
    "addPreconditionsToTest", "addTestsToPrecondition", "addTestEnvironmentsToTestExecution", "addTestsToFolder",
    "addIssuesToFolder", "updateTestFolder", "updatePreconditionFolder", "addTestStep", "updateTestType",
    "updateGherkinTestDefinition", "updateUnstructuredTestDefinition", "updatePrecondition", "updateTestRun",
    "updateTestRunStatus", "updateTestRunComment", "updateTestRunStep", "addEvidenceToTestRun",
    "addEvidenceToTestRunStep", "addDefectsToTestRun", "addDefectsToTestRunStep", "updateIterationStatus",
    "removeTestsFromTestSet", "removeTestsFromTestPlan", "removeTestsFromTestExecution",
    "removeTestExecutionsFromTestPlan", "removePreconditionsFromTest", "removeTestsFromPrecondition",
    "removeTestEnvironmentsFromTestExecution", "removeTestsFromFolder", "removeIssuesFromFolder",
    "removeEvidenceFromTestRun", "removeEvidenceFromTestRunStep", "removeDefectsFromTestRun",
    "removeDefectsFromTestRunStep", "deleteTest", "deletePrecondition", "deleteTestSet", "deleteTestPlan",
    "deleteTestExecution", "deleteFolder",
)


def test_every_mutation_the_restore_sends_is_in_the_restore_list():
    sent = {field for field, _, _ in restore_documents.MUTATIONS.values()}
    assert sent <= set(RESTORE_MUTATIONS), sorted(sent - set(RESTORE_MUTATIONS))


def test_the_simulator_answers_every_mutation_a_restore_sends(sim_schema):
    missing = [name for name in RESTORE_MUTATIONS if name not in sim_schema.mutation_type.fields]
    assert not missing, f"mutations the simulator lacks: {missing}"


def test_every_mutation_in_the_simulators_schema_has_a_resolver(sim_schema):
    from sim.xray.graphql_api import SCHEMA

    unresolved = [name for name, field in SCHEMA.mutation_type.fields.items() if field.resolve is None]
    assert not unresolved, f"mutations without a resolver: {unresolved}"


def test_every_graphql_call_in_the_app_sends_a_discovered_document():
    """A document written at a call site would escape these checks: calls must use ALL[...] or QUERIES[...]."""
    calls, strays = 0, []
    for path in sorted((ROOT / "app").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "graphql"):
                continue
            query = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "query"), None)
            calls += 1
            source = ast.unparse(query) if query is not None else "(none)"
            if not (isinstance(query, ast.Subscript) and ast.unparse(query.value).split(".")[-1] in ("ALL", "QUERIES")):
                strays.append(f"{path.relative_to(ROOT)}:{node.lineno} sends {source}")
    assert calls >= 2, "no GraphQL call sites found: the scan is broken"
    assert not strays, "\n".join(strays)


def test_the_real_schema_is_not_copied_into_the_project():
    # Assembled here so that this file does not itself hold the line it looks for.
    marker = "getExpandedTests(" + "folder: FolderSearchInput"
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    offenders = []
    for rel in filter(None, tracked.decode().split("\0")):
        path = ROOT / rel
        if path.is_file() and path.stat().st_size < 5_000_000:
            if marker in path.read_text(encoding="utf-8", errors="ignore"):
                offenders.append(rel)
    assert not offenders, f"files holding Xray's schema verbatim: {offenders}"


def _root_fields(document: str) -> list[str]:
    names = []
    for definition in parse(document).definitions:
        if definition.kind == "operation_definition":
            names += [s.name.value for s in definition.selection_set.selections if s.kind == "field"]
    return names


def _limit_variables(document: str) -> dict:
    """Variables a document takes for limits get the largest legal value (worst case)."""
    values = {}
    for definition in parse(document).definitions:
        for var in getattr(definition, "variable_definitions", None) or ():
            if "limit" in var.variable.name.value.lower():
                values[var.variable.name.value] = 100
    return values
