"""The query documents: valid against Xray's real schema, and within Xray's item and limit budgets."""
from __future__ import annotations

import pytest
from graphql import build_schema, parse, validate
from graphql.language import IntValueNode, visit, Visitor

from app.backups.export import queries
from tests.support.shared_data import shared_file


@pytest.fixture(scope="module")
def xray_schema():
    return build_schema(shared_file("xray", "schema.graphql").read_text())


@pytest.mark.parametrize("name", sorted(queries.ALL))
def test_every_document_is_valid_against_xrays_schema(name, xray_schema):
    errors = validate(xray_schema, parse(queries.ALL[name]))
    assert errors == [], f"{name}: {[e.message for e in errors]}"


@pytest.mark.parametrize("name", sorted(queries.ALL))
def test_every_document_is_named_as_its_key_and_stays_within_limits(name):
    document = parse(queries.ALL[name])
    operations = [d for d in document.definitions if d.kind == "operation_definition"]
    assert [op.name.value for op in operations] == [name]
    assert queries.items_requested(queries.ALL[name]) <= queries.MAX_ITEMS

    limits = []

    class Limits(Visitor):
        def enter_argument(self, node, *_):
            if node.name.value == "limit":
                assert isinstance(node.value, IntValueNode), f"{name}: limit must be literal"
                limits.append(int(node.value.value))

    visit(document, Limits())
    assert all(1 <= value <= 100 for value in limits)
    assert limits or name == "ProjectMeta"


def test_item_budget_counts_products_of_nested_limits():
    assert queries.items_requested("{ getTests(limit: 100) { results { preconditions(limit: 100) { total } } } }") == 10_100
    assert queries.items_requested(queries.TESTS_PAGE) == 100 + 100 * queries.TEST_PRECONDITIONS_INLINE
    assert queries.items_requested(queries.TEST_PLANS_PAGE) == 100 + 100 * 50 + 100 * 49


def test_lists_are_paged_by_project_not_jql():
    for name, document in queries.ALL.items():
        assert "jql" not in document, name
