"""The links between items a restore puts back, and which of them the target lacks. Pure.

A relation is a (holder, member) pair from the snapshot — a set's, plan's or precondition's tests, a plan's test
executions — counted when either side is in the restore's scope. Runs (an execution's tests) are the runs stage's
business, not a link.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .scope import Scope, SourceIndex

# (holder entity, member entity, the holder's attribute in SourceItem)
RELATIONS = (
    ("preconditions", "tests", "members"),
    ("test_sets", "tests", "members"),
    ("test_plans", "tests", "members"),
    ("test_plans", "test_executions", "executions"),
)
# The mutation adding members to a holder, per relation.
ADD_MUTATION = {("preconditions", "tests"): "AddTestsToPrecondition", ("test_sets", "tests"): "AddTestsToTestSet",
                ("test_plans", "tests"): "AddTestsToTestPlan",
                ("test_plans", "test_executions"): "AddTestExecutionsToTestPlan"}
MEMBERS_ARGUMENT = {"tests": "testIssueIds", "test_executions": "testExecIssueIds"}


@dataclass(frozen=True)
class Pair:
    holder_entity: str
    holder: str
    member_entity: str
    member: str


def relation_pairs(index: SourceIndex, scope: Scope) -> list[Pair]:
    """Every snapshot link with at least one side in scope (a test's preconditions count as the precondition's)."""
    in_scope = {entity: set(ids) for entity, ids in scope.items.items()}
    seen: set[Pair] = set()
    out: list[Pair] = []

    def add(pair: Pair) -> None:
        if pair not in seen and (pair.holder in in_scope[pair.holder_entity]
                                 or pair.member in in_scope[pair.member_entity]):
            seen.add(pair)
            out.append(pair)

    for holder_entity, member_entity, attribute in RELATIONS:
        for holder in index.items[holder_entity].values():
            for member in getattr(holder, attribute):
                add(Pair(holder_entity, holder.id, member_entity, member))
    for test in index.items["tests"].values():  # the same relation seen from the test
        for pre in test.members:
            add(Pair("preconditions", pre, "tests", test.id))
    return out


def made_at_creation(pair: Pair, created: Callable[[str, str], bool]) -> bool:
    """Whether creating one side already makes the link: a new holder takes its members, a new test its
    preconditions (preconditions are created before tests, tests before everything else)."""
    if pair.holder_entity == "test_plans" and pair.member_entity == "test_executions":
        return False  # executions come after plans: linked in a last stage
    if created(pair.holder_entity, pair.holder):
        return True
    return pair.holder_entity == "preconditions" and created(pair.member_entity, pair.member)


def missing_links(pairs: list[Pair], resolve: Callable[[str, str], str | None],
                  current: Callable[[str, str, str], tuple[str, ...] | None]
                  ) -> dict[tuple[str, str, str], list[str]]:
    """The links to add: `{(holder entity, holder target id, member entity): [member target ids]}`.

    `resolve` gives an item's target id (None: not in Xray); `current(holder entity, holder target id, member
    entity)` the holder's present members of that entity in the target (None: not known to be missing any).
    """
    out: dict[tuple[str, str, str], list[str]] = {}
    for pair in pairs:
        holder = resolve(pair.holder_entity, pair.holder)
        member = resolve(pair.member_entity, pair.member)
        if holder is None or member is None:
            continue
        present = current(pair.holder_entity, holder, pair.member_entity)
        if present is None or member in present:
            continue
        targets = out.setdefault((pair.holder_entity, holder, pair.member_entity), [])
        if member not in targets:
            targets.append(member)
    return out
