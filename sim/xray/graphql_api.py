"""GraphQL over a ``Dataset`` with graphql-core, enforcing the limits Xray Cloud documents.

``execute(dataset, document, variables, base_url=...)`` returns a ``GraphQLOutcome`` (status, body):
invalid documents (unknown fields, bad arguments) are HTTP 400 as on Xray; limit violations and
resolver failures are ``errors`` in a 200. The limits, as modelled here:

- every connection's ``limit`` must be 1–100;
- one call asks for at most ``MAX_ITEMS`` (10,000) items: the sum, over every connection, of the
  product of the limits on its path (``getTests(limit: 100) { preconditions(limit: 100) }`` = 10,100);
- at most ``RESOLVER_LIMIT`` (25, the figure Xray reports) paged connections in one document — the
  simple model of Xray's per-call resolver limit;
- a ``jql`` matching more than 100 issues is an error (see ``resolvers``).

With ``enforce_limits=False`` (``Dataset.query``) none of these apply: the answer is the ground truth.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
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

from . import mutations, run_mutations
from .resolvers import MAX_LIMIT, RESOLVERS

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")
# run_mutations registers its resolvers into mutations.MUTATIONS when imported.
MUTATION_MODULES = (mutations, run_mutations)
MAX_ITEMS = 10_000
RESOLVER_LIMIT = 25


@dataclass
class GraphQLOutcome:
    status: int
    body: dict
    root_fields: tuple[str, ...] = ()


def _load_schema():
    schema = build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))
    json_type = schema.type_map["JSON"]
    json_type.serialize = lambda value: value
    json_type.parse_value = lambda value: value
    json_type.parse_literal = lambda node, variables=None: value_from_ast_untyped(node, variables)
    for type_name, fields in {**RESOLVERS, "Mutation": mutations.MUTATIONS}.items():
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


def root_fields(document_ast, operation: str = "query") -> tuple[str, ...]:
    """The root fields of the document's operations of one type (``query`` or ``mutation``)."""
    names = []
    for definition in document_ast.definitions:
        if isinstance(definition, OperationDefinitionNode) and definition.operation.value == operation:
            names += [s.name.value for s in definition.selection_set.selections if isinstance(s, FieldNode)]
    return tuple(names)


def mutation_names(document: str) -> tuple[str, ...]:
    """The mutations a document sends (none for a document that does not parse)."""
    ast, _errors = _parsed(document)
    return root_fields(ast, "mutation") if ast is not None else ()


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
    # One document at a time sees the data: a mutation in another thread never shows half done.
    with dataset.lock:
        # Every resolver is synchronous: skipping the awaitable checks saves a tenth of the time.
        result = graphql_execute(SCHEMA, ast, context_value=context, variable_values=variables,
                                 operation_name=operation_name, is_awaitable=_never_awaitable)
    body = {"data": result.data}
    if result.errors:
        body["errors"] = [e.formatted for e in result.errors]
    return GraphQLOutcome(200, body, names)
