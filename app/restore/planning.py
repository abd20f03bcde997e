"""Gather the planner's inputs (the snapshot index, the target's state, the id map), plan, and store the plan.

The first attempt of a restore plans and stores the plan and one row per item; a resumed attempt reads them back,
so the plan the admin saw is the one carried out, and what the first attempt finished stays finished.
"""
from __future__ import annotations

import logging

from sqlalchemy import select

from ..catalogue import ISSUE_ENTITIES
from ..extensions import db
from . import idmap
from .context import Attempt
from .bulk import BulkImporter
from .models import Restore, RestoreItem
from .planner import Plan, accounts_named, lookups, plan_restore
from .recovery import recover
from .scope import Scope, SourceIndex, select_scope
from ..backups.snapshot.source import SnapshotSource
from .target import TargetView, existing_accounts, look_up, read_project

logger = logging.getLogger(__name__)

INDEXED = (*ISSUE_ENTITIES, "test_runs", "folders")


def build_index(source: SnapshotSource) -> SourceIndex:
    """The compact index of a snapshot, streamed file by file."""
    index = SourceIndex(projects={str(p.get("id")): p for p in source.projects()})
    for entity in INDEXED:
        for record in source.records(entity):
            index.add(entity, record)
    index.stored_files = {str(a["id"]) for a in source.attachment_index()}
    return index


def scope_of(restore: Restore, index: SourceIndex) -> Scope:
    """What the restore covers: the snapshot projects it maps, the issue keys it names."""
    keys = set(restore.targets)
    project_ids = {pid for pid, p in index.projects.items() if p.get("key") in keys}
    return select_scope(index, project_ids, restore.issue_keys)


def read_view(client, jira, index: SourceIndex, scope: Scope, restore: Restore, mapped) -> TargetView:
    """What the target holds that the plan depends on."""
    view = TargetView()
    for project_id, project in index.projects.items():
        target = restore.targets.get(project.get("key"))
        if target is not None:
            view.projects[project_id] = read_project(client, jira, project_id, target)
    for entity, ids in lookups(index, scope, mapped).items():
        look_up(client, entity, ids, view)
    view.asked_accounts = accounts_named(index, scope)
    view.accounts = existing_accounts(jira, view.asked_accounts)
    return view


def adopt_pending(attempt: Attempt) -> bool:
    """Look for what pending intents (an interrupted attempt or an earlier restore) created; True if any found."""
    found = False
    for entity in ISSUE_ENTITIES:
        projects = {i.target_project for i in idmap.pending(attempt.tenant_id, entity)}
        for project in attempt.view.projects.values():
            if project.id not in projects:
                continue
            if entity == "tests":
                found |= bool(BulkImporter(attempt, project, settle_seconds=attempt.settle_seconds).resume_jobs())
            found |= bool(recover(attempt.client, attempt.tenant_id, attempt.restore_id, entity, project.id,
                                  now=attempt.now(), exclude=attempt.existing_ids(entity)))
    db.session.commit()
    return found


def store_plan(restore: Restore, plan: Plan) -> None:
    """Keep the plan on the restore and one item row per decision (folders have none)."""
    restore.plan = {**plan.to_json(), "folderPaths": plan.folders}
    for seq, decision in enumerate(plan.decisions):
        db.session.add(RestoreItem(
            restore_id=restore.id, entity=decision.entity, source_id=decision.source_id, seq=seq,
            source_key=decision.source_key, source_project=decision.source_project, action=decision.action,
            target_id=decision.target_id, target_key=decision.target_key, reason=decision.reason,
            outcome="skipped" if decision.action == "skip" else None))
    db.session.commit()


def load_items(restore_id: str) -> dict[tuple[str, str], RestoreItem]:
    rows = db.session.scalars(select(RestoreItem).where(RestoreItem.restore_id == restore_id)
                              .order_by(RestoreItem.seq)).all()
    return {(row.entity, row.source_id): row for row in rows}


def plan_now(attempt: Attempt, restore: Restore) -> Plan:
    """Plan against the target as it is now, after adopting whatever pending intents made."""
    if adopt_pending(attempt):
        attempt.mapped.clear()
        attempt.mapped.update(idmap.load_map(attempt.tenant_id))
        for entity, ids in lookups(attempt.index, attempt.scope, attempt.mapped).items():
            look_up(attempt.client, entity, [i for i in ids if attempt.view.issue(entity, i) is None], attempt.view)
    plan = plan_restore(attempt.index, attempt.scope, attempt.view, attempt.mapped)
    store_plan(restore, plan)
    return plan


DRY_REASONS = {"create": "Dry run: would be created.", "link": "Dry run: would be re-linked.",
               "existing": None}


def settle_dry_run(items: dict[tuple[str, str], RestoreItem]) -> None:
    """A dry run changes nothing: items it found are existing, the rest say what the real run would do."""
    for row in items.values():
        if row.outcome is not None:
            continue
        if row.action == "existing":
            row.outcome = "existing"
        else:
            row.outcome = "skipped"
            row.reason = DRY_REASONS.get(row.action) or row.reason
    db.session.commit()
