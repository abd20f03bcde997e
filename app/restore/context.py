"""What one attempt at a restore works with, shared by its stages: the snapshot, the target, the items, the writer.

`target(entity, source id)` answers where a snapshot item is in the target now: what this restore made of it,
what the plan found, or — for items outside the scope — the item itself or what an earlier restore made of it.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from ..extensions import db
from . import idmap
from .models import RestoreItem
from .payloads import BuildContext
from .planner import MapEntry
from .scope import Scope, SourceIndex
from ..backups.snapshot.source import SnapshotSource
from .target import TargetProject, TargetView
from .writer import Writer

logger = logging.getLogger(__name__)

DONE = ("created", "existing", "linked")


@dataclass
class Attempt:
    restore_id: str
    tenant_id: int
    client: object
    source: SnapshotSource
    index: SourceIndex
    scope: Scope
    view: TargetView
    mapped: dict[tuple[str, str], list[MapEntry]]
    items: dict[tuple[str, str], RestoreItem]
    writer: Writer
    now: Callable
    checkpoint: Callable[[], None]
    report: Callable[[str, int, int], None] = lambda stage, done, total: None
    sleep: Callable[[float], None] = field(default=lambda _s: None)
    link_errors: dict[tuple[str, str], str] = field(default_factory=dict)  # (entity, source id) -> why
    problems: list[str] = field(default_factory=list)                      # what went wrong outside any item
    folders_present: int = 0                                               # planned folders in place
    settle_seconds: float = 60.0  # how long an unconfirmed import job is watched for what it makes

    # -- where things are ----------------------------------------------------------------------------------------

    def item(self, entity: str, source_id: str) -> RestoreItem | None:
        return self.items.get((entity, source_id))

    def project_of(self, entity: str, source_id: str) -> TargetProject | None:
        """The target project a snapshot item restores into."""
        item = self.index.items.get(entity, {}).get(source_id)
        return self.view.projects.get(item.project_id) if item is not None else None

    def target(self, entity: str, source_id: str) -> tuple[str, str | None] | None:
        """(target id, key) of a snapshot item in Xray now, or None."""
        row = self.item(entity, source_id)
        if row is not None:
            if row.target_id and (row.outcome in DONE or row.action in ("existing", "link")):
                return row.target_id, row.target_key
            return None
        found = self.view.issue(entity, source_id)
        if found is not None:
            return found.id, found.key
        for entry in self.mapped.get((entity, source_id), []):
            found = self.view.issue(entity, entry.target_id) if entry.state == "created" else None
            if found is not None:
                return found.id, found.key
        return None

    def target_id(self, entity: str, source_id: str) -> str | None:
        found = self.target(entity, source_id)
        return found[0] if found else None

    def to_create(self, entity: str) -> list[RestoreItem]:
        """This restore's items of an entity still to be created (what an earlier attempt made is adopted first)."""
        out = []
        for (kind, source_id), row in self.items.items():
            if kind != entity or row.action != "create" or row.outcome is not None:
                continue
            made = idmap.created_by(self.tenant_id, entity, source_id, self._project_id(entity, source_id))
            if made is not None:
                target_id, key, by = made
                self.mark(row, "created" if by == self.restore_id else "existing", target_id, key)
                continue
            out.append(row)
        db.session.commit()
        return out

    def _project_id(self, entity: str, source_id: str) -> str:
        project = self.project_of(entity, source_id)
        return project.id if project else ""

    def step_count(self, test_source_id: str) -> int:
        """How many steps the test has in the target (what a run's step results are matched against)."""
        target = self.target_id("tests", test_source_id)
        found = self.view.issue("tests", target)
        if found is not None:
            return found.steps
        item = self.index.items["tests"].get(test_source_id)
        return item.steps if item is not None else 0

    def existing_ids(self, entity: str) -> set[str]:
        """Target ids standing for snapshot items found existing (recovery never adopts them)."""
        return set(self.view.found.get(entity, {}))

    # -- recording outcomes --------------------------------------------------------------------------------------

    def mark(self, row: RestoreItem, outcome: str, target_id: str | None = None, target_key: str | None = None,
             reason: str | None = None) -> None:
        row.outcome = outcome
        if target_id is not None:
            row.target_id, row.target_key = target_id, target_key
        if reason is not None:
            row.reason = reason

    def build_context(self, project: TargetProject) -> BuildContext:
        source_project = next((pid for pid, p in self.view.projects.items() if p is project), "")
        return BuildContext(project=project, accounts=self.view.accounts, stored=self.index.stored_files,
                            attachment=self.source.attachment, resolve=self.target_id,
                            folder=lambda path: self.index.folder_for(source_project, path))
