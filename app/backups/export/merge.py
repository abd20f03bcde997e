"""The pure core of an incremental backup: when to list ids, how parent and changed records merge, run checks.

No I/O: records in, records and counts out. Order of a merged file: the parent's order, each modified record in
its parent's place, added records appended in the order Xray listed them (a full read orders by Xray's lists; a
snapshot's readers look records up by id, never by position).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable, Hashable, Iterable, Iterator

# Clocks differ (Xray's and ours) and an edit made while the parent ran may carry a time before its start:
# changes are read from a little before the parent started.
OVERLAP = timedelta(minutes=10)


def since_for(parent_started_at: str, overlap: timedelta = OVERLAP) -> str:
    """The `modifiedSince` of an incremental read: the parent's start minus the overlap, ISO 8601 UTC."""
    moment = datetime.fromisoformat(parent_started_at.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    moment = (moment - overlap).astimezone(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def removals_possible(parent_count: int, added: int, total_now: int) -> bool:
    """Whether items may have been removed from a list: what the parent had plus what was added differs from
    what Xray counts now. Equal counts prove nothing was removed without a single listing request."""
    return parent_count + added != total_now


@dataclass
class ChangeCounts:
    added: int = 0
    modified: int = 0
    removed: int = 0

    def as_json(self) -> dict:
        return {"added": self.added, "modified": self.modified, "removed": self.removed}


@dataclass
class Merged:
    """One record of the merged file and how it came to be there."""

    record: dict
    change: str  # "kept" (copied from the parent), "modified", "unchanged" (re-read, same line), "added"


def merge(parent: Iterable[dict], changed: dict[Hashable, dict], key: Callable[[dict], Hashable],
          removed: Callable[[dict], bool], counts: ChangeCounts) -> Iterator[Merged]:
    """Merge the parent's records with the changed ones (consumed from `changed`), dropping `removed` ones.

    `changed` maps key → the record as Xray returns it now; a changed record whose key the parent did not hold
    is added. A re-read record equal to its parent's line is not counted as modified (the overlap re-reads some).
    """
    for old in parent:
        k = key(old)
        new = changed.pop(k, None)
        if new is None and removed(old):
            counts.removed += 1
            continue
        if new is None:
            yield Merged(old, "kept")
        elif new == old:
            yield Merged(new, "unchanged")
        else:
            counts.modified += 1
            yield Merged(new, "modified")
    for new in list(changed.values()):
        counts.added += 1
        yield Merged(new, "added")
    changed.clear()


def check_runs(executions: dict[str, list[str]], parent_runs: dict[str, set[str]],
               changed_runs: Iterable[tuple[str, str]]) -> set[str]:
    """Executions whose runs cannot be trusted from parent + changes: read them whole.

    `executions`: execution → its tests now; `parent_runs`: execution → tests the parent had runs of;
    `changed_runs`: (test, execution) of runs read as changed. A run is the pair (test, execution): a test of an
    execution with neither a parent run nor a changed one, or a changed run of a test the execution no longer
    lists, is an inconsistency (a change Xray did not report, or one made between two reads).
    """
    changed_by_exec: dict[str, set[str]] = {}
    reread: set[str] = set()
    for test, execution in changed_runs:
        changed_by_exec.setdefault(execution, set()).add(test)
    for execution, tests in executions.items():
        have = parent_runs.get(execution, set()) | changed_by_exec.get(execution, set())
        if set(tests) - have or changed_by_exec.get(execution, set()) - set(tests):
            reread.add(execution)
    return reread
