"""The entity catalogue: every kind of Xray data a snapshot holds, named once.

The exporter, the snapshot format, the pages (and through them the browser's scripts) and the CLI all read
this list, so a new entity is added here and nowhere else.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entity:
    name: str  # the snapshot's name (file `<name>.jsonl.gz`, keys of `counts`)
    label: str  # plural words for an admin
    short: str  # column heading on a terminal
    root: str | None = None  # the GraphQL list query that reads it, when it has one


ENTITIES = (
    Entity("tests", "tests", "tests", "getTests"),
    Entity("preconditions", "preconditions", "pre", "getPreconditions"),
    Entity("test_sets", "test sets", "sets", "getTestSets"),
    Entity("test_plans", "test plans", "plans", "getTestPlans"),
    Entity("test_executions", "test executions", "execs", "getTestExecutions"),
    Entity("test_runs", "test runs", "runs", "getTestRuns"),
    Entity("folders", "folders", "folders"),
    Entity("project_settings", "project settings", "settings"),
    Entity("attachments", "attachments", "files"),
)
BY_NAME = {entity.name: entity for entity in ENTITIES}
# The entities stored as JSON-lines files (attachments are files of their own plus an index).
RECORD_ENTITIES = tuple(e.name for e in ENTITIES if e.name != "attachments")
# The issue-backed entities with a key and a summary, in the order a restore creates them.
ISSUE_ENTITIES = ("preconditions", "tests", "test_sets", "test_plans", "test_executions")
LABELS = {entity.name: entity.label for entity in ENTITIES}


def label_for_root(root: str) -> str:
    """Admin words for a GraphQL list query's items (`getTestSets` → `test sets`)."""
    return next((e.label for e in ENTITIES if e.root == root), root)
