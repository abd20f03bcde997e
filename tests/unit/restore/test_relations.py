"""The links a restore puts back: pure."""
from __future__ import annotations

from app.restore.relations import Pair, made_at_creation, missing_links, relation_pairs
from app.restore.scope import select_scope
from tests.unit.restore.records import a_test, holder, index_of


def test_links_count_when_either_side_is_in_scope_and_a_preconditions_tests_are_one_relation():
    records = {"tests": [a_test("11", "SRC-1", preconditions=["30"]), a_test("12", "SRC-2")],
               "preconditions": [{**holder("30", "SRC-9", ["11"]), "preconditionType": {}, "definition": None}],
               "test_sets": [holder("20", "SRC-3", ["11", "12"])],
               "test_plans": [holder("50", "SRC-6", ["12"], executions=["40"])],
               "test_executions": [holder("40", "SRC-5", ["12"])]}
    index = index_of(records)
    pairs = relation_pairs(index, select_scope(index, {"1"}, ["SRC-1"]))
    assert set(pairs) == {Pair("preconditions", "30", "tests", "11"), Pair("test_sets", "20", "tests", "11")}
    everything = relation_pairs(index, select_scope(index, {"1"}, None))
    assert Pair("test_plans", "50", "test_executions", "40") in everything
    assert len(everything) == len(set(everything)) == 5


def test_creating_a_holder_or_a_test_already_makes_its_links_but_never_a_plans_executions():
    created = {("test_sets", "20"), ("tests", "11")}

    def is_created(entity, source_id):
        return (entity, source_id) in created

    assert made_at_creation(Pair("test_sets", "20", "tests", "12"), is_created)
    assert made_at_creation(Pair("preconditions", "30", "tests", "11"), is_created)
    assert not made_at_creation(Pair("test_plans", "50", "tests", "11"), is_created)
    assert not made_at_creation(Pair("test_plans", "20", "test_executions", "40"), lambda *_: True)


def test_only_missing_links_are_added_grouped_by_holder():
    pairs = [Pair("test_sets", "20", "tests", "11"), Pair("test_sets", "20", "tests", "12"),
             Pair("test_sets", "21", "tests", "13"), Pair("test_sets", "22", "tests", "14")]
    targets = {"20": "200", "11": "110", "12": "120", "21": "210", "13": "130", "14": "140"}  # 22 is gone
    present = {"200": ("110",), "210": ("130",)}
    missing = missing_links(pairs, lambda _e, i: targets.get(i), lambda _e, h, _m: present.get(h))
    assert missing == {("test_sets", "200", "tests"): ["120"]}
