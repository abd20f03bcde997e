"""Folders, and the links between items that creating them did not already make.

Folders are created parents first, one level per request, after reading the project's tree again (so a resumed
attempt creates only what is still missing). Existing tests and preconditions whose folder was recreated go back
into it. Links are read from the target again and only the missing ones are added; adding a link twice changes
nothing, so these steps need no intents.
"""
from __future__ import annotations

import logging
from typing import Callable

from ..extensions import db
from .context import Attempt
from .relations import ADD_MUTATION, MEMBERS_ARGUMENT, missing_links, relation_pairs
from .target import TargetView, look_up, refresh_folders

logger = logging.getLogger(__name__)


def create_folders(attempt: Attempt, planned: dict[str, list[str]]) -> int:
    """Create the planned folders still missing; return how many of the planned folders exist now."""
    present = 0
    for project in attempt.view.projects.values():
        wanted = planned.get(project.id) or []
        if not wanted:
            continue
        existing = refresh_folders(attempt.client, project)
        missing = [p for p in wanted if p not in existing]
        attempt.report("folders", len(wanted) - len(missing), len(wanted))
        for depth in sorted({p.count("/") for p in missing}):
            level = [p for p in missing if p.count("/") == depth]
            attempt.writer.update("CreateFolder", [{"projectId": project.id, "path": p} for p in level])
        if missing:
            existing = refresh_folders(attempt.client, project)
        failed = [p for p in wanted if p not in existing]
        for path in failed:
            attempt.problems.append(f"The folder {path} could not be created in project {project.key}.")
        present += len(wanted) - len(failed)
        attempt.report("folders", len(wanted) - len(failed), len(wanted))
    return present


def refile(attempt: Attempt) -> None:
    """Put existing tests and preconditions back into the folders this restore recreated."""
    groups: dict[tuple[str, str, str], list[tuple[str, str]]] = {}
    for (entity, source_id), row in attempt.items.items():
        if entity in ("tests", "preconditions") and row.action == "link" and (row.reason or "").startswith("Put back"):
            item = attempt.index.items[entity][source_id]
            project = attempt.project_of(entity, source_id)
            groups.setdefault((entity, project.id, item.folder), []).append((source_id, row.target_id))
    for (entity, project_id, path), members in groups.items():
        ids = [target for _, target in members]
        if entity == "tests":
            errors = attempt.writer.update("AddTestsToFolder", [{"projectId": project_id, "path": path,
                                                                 "testIssueIds": ids}])
        else:
            errors = attempt.writer.update("AddIssuesToFolder", [{"projectId": project_id, "path": path,
                                                                  "issueIds": ids}])
        if errors[0]:
            for source_id, _ in members:
                attempt.link_errors[(entity, source_id)] = f"It could not be put back into {path}: {errors[0]}"


def _present(attempt: Attempt, holder_entity: str, member_entity: str, pairs) -> Callable:
    """How to tell a holder's present members in the target, read again now."""
    fresh = TargetView()
    if holder_entity == "preconditions":  # read from the tests' side: a test lists its preconditions
        tests = {attempt.target_id("tests", p.member) for p in pairs} - {None}
        look_up(attempt.client, "tests", tests, fresh)
        by_precondition: dict[str, set[str]] = {}
        for test in fresh.found.get("tests", {}).values():
            for pre in test.members:
                by_precondition.setdefault(pre, set()).add(test.id)
        return lambda _e, holder, _m: tuple(by_precondition.get(holder, ()))
    holders = {attempt.target_id(holder_entity, p.holder) for p in pairs} - {None}
    look_up(attempt.client, holder_entity, holders, fresh)

    def current(_entity, holder, member):
        found = fresh.issue(holder_entity, holder)
        if found is None:
            return None
        return found.executions if member == "test_executions" else found.members

    return current


def link(attempt: Attempt, holder_entity: str, member_entity: str) -> None:
    """Add the missing links of one relation (holders of `holder_entity`, members of `member_entity`)."""
    pairs = [p for p in relation_pairs(attempt.index, attempt.scope)
             if p.holder_entity == holder_entity and p.member_entity == member_entity]
    if not pairs:
        return
    attempt.checkpoint()
    missing = missing_links(pairs, attempt.target_id, _present(attempt, holder_entity, member_entity, pairs))
    if not missing:
        return
    calls = [{"issueId": holder, MEMBERS_ARGUMENT[member_entity]: members}
             for (_, holder, _), members in missing.items()]
    errors = attempt.writer.update(ADD_MUTATION[(holder_entity, member_entity)], calls)
    failed = {call["issueId"]: error for call, error in zip(calls, errors) if error}
    for pair in pairs:
        holder = attempt.target_id(holder_entity, pair.holder)
        if holder in failed:
            for entity, source_id in ((holder_entity, pair.holder), (member_entity, pair.member)):
                if attempt.item(entity, source_id) is not None:
                    attempt.link_errors.setdefault((entity, source_id), f"A link could not be added: {failed[holder]}")
    db.session.commit()


def settle_links(attempt: Attempt) -> None:
    """Every item planned for re-linking is linked now, or failed with the reason."""
    for (entity, source_id), row in attempt.items.items():
        error = attempt.link_errors.get((entity, source_id))
        if row.outcome == "created" and error:
            attempt.mark(row, "failed", reason=f"Created as {row.target_key or row.target_id}, but: {error}")
            continue
        if row.outcome is not None:
            continue
        if row.action == "link":
            attempt.mark(row, "failed" if error else "linked", reason=error)
        elif row.action == "existing" and entity != "test_runs":
            attempt.mark(row, "existing")
    db.session.commit()
