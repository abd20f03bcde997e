"""Creating the issues, in dependency order: preconditions, tests, test sets, test plans, test executions.

Each stage first adopts what an interrupted attempt made (`recovery`), then streams the entity's records from the
snapshot and creates those still missing, a batch at a time: tests through the bulk import where it keeps the
test whole, every other create through its mutation. A new item takes the links it can have at once (a
precondition its existing tests, a test its preconditions, a holder its tests).
"""
from __future__ import annotations

import logging

from ..extensions import db
from .bulk import BULK_BYTES, MAX_TESTS, BulkImporter, BulkRefused
from .context import Attempt
from .payloads import (bulk_element, bulk_ready, holder_arguments, intended_fingerprint, precondition_arguments,
                       arguments_for_test, type_for_test)
from .recovery import recover
from .writer import Create, Created, body_size

logger = logging.getLogger(__name__)

FLUSH_ITEMS = 50             # mutation creates gathered before they are sent
MUTATIONS = {"preconditions": "CreatePrecondition", "tests": "CreateTest", "test_sets": "CreateTestSet",
             "test_plans": "CreateTestPlan", "test_executions": "CreateTestExecution"}
LABELS = {"preconditions": "preconditions", "tests": "tests", "test_sets": "test sets", "test_plans": "test plans",
          "test_executions": "test executions"}


def _adopt_interrupted(attempt: Attempt, entity: str) -> None:
    """Find what pending intents (an interrupted attempt, or an earlier restore) created, project by project."""
    for project in attempt.view.projects.values():
        if entity == "tests":
            made = BulkImporter(attempt, project, settle_seconds=attempt.settle_seconds).resume_jobs()
            for source_id, created in made.items():
                row = attempt.item(entity, source_id)
                if row is not None and created.target_id:
                    attempt.mark(row, "created", created.target_id, created.target_key)
        recover(attempt.client, attempt.tenant_id, attempt.restore_id, entity, project.id, now=attempt.now(),
                exclude=attempt.existing_ids(entity))
    db.session.commit()


def _holders_of(attempt: Attempt, precondition_id: str) -> list[str]:
    """The tests a precondition is linked to, from both sides of the relation."""
    item = attempt.index.items["preconditions"][precondition_id]
    tests = list(item.members)
    tests += [t.id for t in attempt.index.items["tests"].values() if precondition_id in t.members and t.id not in tests]
    return tests


def _arguments(attempt: Attempt, entity: str, record: dict, ctx) -> tuple[dict, str | None]:
    """The create arguments of one record, and its kind (tests)."""
    existing = attempt.target_id
    if entity == "preconditions":
        tests = [t for t in (existing("tests", s) for s in _holders_of(attempt, str(record["issueId"]))) if t]
        return precondition_arguments(record, ctx, tests), None
    if entity == "tests":
        item = attempt.index.items["tests"][str(record["issueId"])]
        pres = [p for p in (existing("preconditions", s) for s in item.members) if p]
        _, kind = type_for_test((record.get("testType") or {}).get("name"), ctx.project)
        return arguments_for_test(record, ctx, pres), kind
    item = attempt.index.items[entity][str(record["issueId"])]
    tests = [t for t in (existing("tests", s) for s in item.members) if t]
    return holder_arguments(entity, record, ctx, list(dict.fromkeys(tests))), None


def _calls_pending(record: dict, wanted: set[str]) -> bool:
    return any(str(s.get("callTestIssueId")) in wanted for s in record.get("steps") or [] if s.get("callTestIssueId"))


def create_entity(attempt: Attempt, entity: str) -> None:
    """Create every item of the entity this restore still has to create."""
    _adopt_interrupted(attempt, entity)
    rows = {row.source_id: row for row in attempt.to_create(entity)}
    total = sum(1 for (kind, _), row in attempt.items.items() if kind == entity and row.action == "create")
    attempt.report(LABELS[entity], total - len(rows), total)
    if not rows:
        return
    batches: dict[str, _Batch] = {}
    deferred: set[str] = set()
    for record in attempt.source.records(entity):
        source_id = str(record["issueId"])
        if source_id not in rows:
            continue
        if entity == "tests" and _calls_pending(record, set(rows)):
            deferred.add(source_id)  # it calls a test not created yet: after the others
            continue
        project = attempt.project_of(entity, source_id)
        batch = batches.setdefault(project.id, _Batch(attempt, entity, project, rows, total))
        batch.add(record)
    for batch in batches.values():
        batch.flush(force=True)
    if deferred:
        for record in attempt.source.records(entity):
            if str(record["issueId"]) in deferred:
                project = attempt.project_of(entity, str(record["issueId"]))
                batches.setdefault(project.id, _Batch(attempt, entity, project, rows, total)).add(record, bulk=False)
        for batch in batches.values():
            batch.flush(force=True)


class _Batch:
    """Items of one entity and target project waiting to be sent (mutations, and for tests the bulk import)."""

    def __init__(self, attempt: Attempt, entity: str, project, rows: dict, total: int):
        self.attempt, self.entity, self.project, self.rows, self.total = attempt, entity, project, rows, total
        self.ctx = attempt.build_context(project)
        self.mutations: list[Create] = []
        self.bulk: list[Create] = []
        self.bulk_bytes = 0

    def add(self, record: dict, bulk: bool = True) -> None:
        args, kind = _arguments(self.attempt, self.entity, record, self.ctx)
        create = Create(str(record["issueId"]), args, intended_fingerprint(self.entity, args, kind))
        if self.entity == "tests" and bulk and bulk_ready(record, self.ctx):
            create.arguments = bulk_element(args)
            create.size = body_size(create.arguments)
            self.bulk.append(create)
            self.bulk_bytes += create.size
        else:
            self.mutations.append(create)
        self.flush()

    def flush(self, force: bool = False) -> None:
        if self.mutations and (force or len(self.mutations) >= FLUSH_ITEMS):
            items, self.mutations = self.mutations, []
            self._record(self.attempt.writer.create(MUTATIONS[self.entity], self.entity, self.project.id, items,
                                                    exclude=self.attempt.existing_ids(self.entity)))
        if self.bulk and (force or len(self.bulk) >= MAX_TESTS or self.bulk_bytes >= BULK_BYTES):
            items, self.bulk, self.bulk_bytes = self.bulk, [], 0
            importer = BulkImporter(self.attempt, self.project, settle_seconds=self.attempt.settle_seconds)
            try:
                made, leftovers = importer.create(items)
            except BulkRefused as exc:  # nothing was imported: these go through createTest instead
                logger.warning("restore %s: the test import refused its body (%s); creating one by one",
                               self.attempt.restore_id, exc)
                made, leftovers = {}, [item.source_id for item in items]
            self._record(made)
            if leftovers:
                self._one_by_one(set(leftovers))

    def _one_by_one(self, wanted: set[str]) -> None:
        """Create these tests with createTest (what the bulk import could not be trusted with)."""
        for record in self.attempt.source.records("tests"):
            if str(record["issueId"]) in wanted:
                args, kind = _arguments(self.attempt, "tests", record, self.ctx)
                self.mutations.append(Create(str(record["issueId"]), args, intended_fingerprint("tests", args, kind)))
        self.flush(force=True)

    def _record(self, made: dict[str, Created]) -> None:
        for source_id, created in made.items():
            row = self.rows.get(source_id)
            if row is None or row.outcome is not None:
                continue
            if created.target_id:
                self.attempt.mark(row, "created", created.target_id, created.target_key)
            else:
                self.attempt.mark(row, "failed", reason=created.error or "Xray refused to create it.")
        db.session.commit()
        done = sum(1 for row in self.rows.values() if row.outcome is not None)
        self.attempt.report(LABELS[self.entity], self.total - len(self.rows) + done, self.total)
