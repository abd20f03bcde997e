"""Carrying out a stored plan, in dependency order, and summing up what became of every item.

folders → preconditions → tests (steps, files, definitions, precondition links, folder) → existing items back into
recreated folders → test sets → test plans → test executions → runs with their results → plan ↔ execution links.
Every stage can run again: it reads what is there and does only what is still missing.
"""
from __future__ import annotations

from ..extensions import db
from .context import Attempt
from .models import Restore
from .planner import PLAN_ENTITIES, SINGULAR
from .stage_issues import create_entity
from .stage_links import create_folders, link, refile, settle_links
from .stage_runs import restore_runs


def apply_plan(attempt: Attempt, plan: dict) -> None:
    """Do what the plan says, skipping what earlier attempts finished."""
    attempt.folders_present = create_folders(attempt, plan.get("folderPaths") or {})
    create_entity(attempt, "preconditions")
    create_entity(attempt, "tests")
    refile(attempt)
    link(attempt, "preconditions", "tests")
    for entity in ("test_sets", "test_plans"):
        create_entity(attempt, entity)
        link(attempt, entity, "tests")
    create_entity(attempt, "test_executions")
    restore_runs(attempt)
    attempt.report("links", 0, 1)
    link(attempt, "test_plans", "test_executions")
    settle_links(attempt)
    for row in attempt.items.values():
        if row.outcome is None:  # an item something it depends on kept from being restored
            attempt.mark(row, "skipped", reason=row.reason or "Not restored: an item it depends on was not restored.")
    db.session.commit()
    attempt.report("done", 1, 1)


def summarize(attempt: Attempt, restore: Restore, *, dry_run: bool = False) -> tuple[dict, str, bool]:
    """(counts of what was created per entity, the message an admin reads, whether anything failed)."""
    counts = {entity: 0 for entity in PLAN_ENTITIES}
    tally = {"created": 0, "existing": 0, "linked": 0, "failed": 0, "skipped": 0}
    failures: list[str] = []
    for (entity, _), row in attempt.items.items():
        tally[row.outcome or "skipped"] = tally.get(row.outcome or "skipped", 0) + 1
        if row.outcome == "created":
            counts[entity] += 1
        if row.outcome == "failed" and len(failures) < 3:
            failures.append(f"{row.source_key or row.source_id} ({SINGULAR.get(entity, entity)}): {row.reason}")
    if dry_run:
        planned = (restore.plan or {})
        create = sum((planned.get("create") or {}).values())
        link_count = sum((planned.get("link") or {}).values())
        return counts, (f"Dry run: the restore would create {create} item(s) and folder(s), re-link {link_count}, and "
                        f"found {tally['existing']} already in Xray. Nothing was sent to Xray."), False
    counts["folders"] = attempt.folders_present
    failed = tally["failed"] + len(attempt.problems)
    if failed:
        details = "; ".join(failures + attempt.problems[:2])
        return counts, (f"{failed} item(s) could not be restored ({tally['created']} created, {tally['linked']} "
                        f"re-linked, {tally['existing']} found existing): {details}"), True
    folders = f", {counts['folders']} folder(s) recreated" if counts["folders"] else ""
    return counts, (f"Restored: {tally['created']} item(s) created{folders}, {tally['linked']} re-linked, "
                    f"{tally['existing']} already in Xray."), False
