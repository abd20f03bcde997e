"""What changed between two snapshots, entity by entity: added, modified and removed items. Pure.

Both snapshots are read as streams (`records(entity)` and `attachment_index()` yield one dict at a time; a stored
`SnapshotSource` or a list in a test). What is held is bounded by the older snapshot's ids: per issue a 16-byte
digest of the record as stored, its key and summary; per test run that digest; per attachment its file name and
size. The newer snapshot is compared record by record as it streams past: an equal digest is an unchanged item (the
common case, and cheap); the few that differ are compared by content (`fingerprint.py`) in one more read of the
older file, which also describes removed runs. Reported items are capped per list (`limit`): the first `limit`
in order (issues by key, runs and attachments by id) are kept while every item is counted, so the counts are exact
and `truncated` says when a list is shorter than its count.
"""
from __future__ import annotations

import re
from typing import Callable, Iterable, Protocol

from .fingerprint import changed_parts, digest, parts_vector, quick_digest

ISSUE_ENTITIES = ("tests", "preconditions", "test_sets", "test_plans", "test_executions")
RUNS = "test_runs"
ATTACHMENTS = "attachments"
ENTITIES = (*ISSUE_ENTITIES, RUNS, ATTACHMENTS)
DEFAULT_LIMIT = 500
MAX_LIMIT = 5000


class Snapshot(Protocol):
    def records(self, entity: str) -> Iterable[dict]: ...

    def attachment_index(self) -> Iterable[dict]: ...


_DIGITS = re.compile(r"(\d+)")


def natural(text) -> tuple:
    """Sort key putting ALPHA-2 before ALPHA-10 (and numeric ids in numeric order)."""
    return tuple((0, int(chunk), "") if chunk.isdigit() else (1, 0, chunk)
                 for chunk in _DIGITS.split(str(text or "")) if chunk)


class _Capped:
    """The first `limit` items by `order`, and how many were offered; memory stays O(limit)."""

    def __init__(self, limit: int, order: Callable[[dict], tuple]):
        self.limit, self.order, self.count = limit, order, 0
        self._items: list[dict] = []

    def add(self, item: dict) -> None:
        self.count += 1
        if self.limit <= 0:
            return
        self._items.append(item)
        if len(self._items) >= 2 * self.limit:
            self._trim()

    def _trim(self) -> None:
        self._items.sort(key=self.order)
        del self._items[self.limit:]

    def items(self) -> list[dict]:
        self._trim()
        return self._items


def _issue_order(item: dict) -> tuple:
    return natural(item.get("key")), natural(item.get("id"))


def _id_order(item: dict) -> tuple:
    return natural(item.get("id")), str(item.get("id"))


def _result(lists: dict[str, _Capped]) -> dict:
    out = {name: capped.items() for name, capped in lists.items()}
    out["counts"] = {name: capped.count for name, capped in lists.items()}
    out["truncated"] = any(capped.count > len(out[name]) for name, capped in lists.items())
    return out


def _issue(record: dict) -> tuple[str, str | None, str]:
    jira = record.get("jira") or {}
    return str(record.get("issueId")), jira.get("key"), jira.get("summary") or ""


def _diff_issues(entity: str, older: Snapshot, newer: Snapshot, limit: int,
                 old_keys: dict[str, str], new_keys: dict[str, str]) -> dict:
    held: dict[str, tuple[bytes, str | None, str]] = {}
    for record in older.records(entity):
        issue_id, key, summary = _issue(record)
        held[issue_id] = (quick_digest(record), key, summary)
        if key:
            old_keys[issue_id] = key
    lists = {name: _Capped(limit, _issue_order) for name in ("added", "modified", "removed")}
    candidates: dict[str, tuple[dict, bytes]] = {}  # stored differently: the newer item and its parts vector
    for record in newer.records(entity):
        issue_id, key, summary = _issue(record)
        if key:
            new_keys[issue_id] = key
        item = {"id": issue_id, "key": key, "summary": summary}
        before = held.pop(issue_id, None)
        if before is None:
            lists["added"].add(item)
        elif quick_digest(record) != before[0]:
            candidates[issue_id] = (item, parts_vector(record))
    for issue_id, (_quick, key, summary) in held.items():  # as they were in the older snapshot
        lists["removed"].add({"id": issue_id, "key": key, "summary": summary})
    if candidates:  # what differs in content, not only in what is ignored, and in which parts
        for record in older.records(entity):
            candidate = candidates.get(str(record.get("issueId")))
            if candidate is not None:
                before = parts_vector(record)
                if before != candidate[1]:
                    lists["modified"].add({**candidate[0], "parts": changed_parts(before, candidate[1])})
    return _result(lists)


def _ref(record: dict, side: str) -> str:
    return str((record.get(side) or {}).get("issueId"))


def _run_item(record: dict, keys: dict[str, str]) -> dict:
    return {"id": str(record.get("id")), "test": keys.get(_ref(record, "test")),
            "testExecution": keys.get(_ref(record, "testExecution"))}


def _diff_runs(older: Snapshot, newer: Snapshot, limit: int, old_keys: dict[str, str],
               new_keys: dict[str, str]) -> dict:
    held = {str(record.get("id")): quick_digest(record) for record in older.records(RUNS)}
    lists = {name: _Capped(limit, _id_order) for name in ("added", "modified", "removed")}
    candidates: dict[str, tuple[dict, bytes]] = {}
    for record in newer.records(RUNS):
        run_id = str(record.get("id"))
        before = held.pop(run_id, None)
        if before is None:
            lists["added"].add(_run_item(record, new_keys))
        elif quick_digest(record) != before:
            candidates[run_id] = (_run_item(record, new_keys), digest(record))
    # Only ids are held, so removed runs are described, and stored-differently ones compared by content, by reading
    # the older runs once more (only when there are any).
    for run_id in held:
        lists["removed"].add({"id": run_id})
    reported = {item["id"]: item for item in lists["removed"].items()}
    if reported or candidates:
        for record in older.records(RUNS):
            run_id = str(record.get("id"))
            if run_id in reported:
                reported[run_id].update(_run_item(record, old_keys))
            elif run_id in candidates and digest(record) != candidates[run_id][1]:
                lists["modified"].add(candidates[run_id][0])
    return _result(lists)


def _diff_attachments(older: Snapshot, newer: Snapshot, limit: int) -> dict:
    held = {str(a.get("id")): (a.get("filename"), a.get("size")) for a in older.attachment_index()}
    lists = {name: _Capped(limit, _id_order) for name in ("added", "removed")}
    for att in newer.attachment_index():
        att_id = str(att.get("id"))
        if held.pop(att_id, None) is None:
            lists["added"].add({"id": att_id, "filename": att.get("filename"), "size": att.get("size")})
    for att_id, (filename, size) in held.items():
        lists["removed"].add({"id": att_id, "filename": filename, "size": size})
    return _result(lists)


def diff_snapshots(older: Snapshot, newer: Snapshot, *, limit: int = DEFAULT_LIMIT) -> dict:
    """`{ENTITY: {"added", "modified", "removed", "counts", "truncated"}}` from `older` to `newer` (attachments:
    added and removed only). Issue items are `{"id", "key", "summary"}` (+ `"parts"` when modified), runs
    `{"id", "test", "testExecution"}` with issue keys, attachments `{"id", "filename", "size"}`."""
    old_keys: dict[str, str] = {}
    new_keys: dict[str, str] = {}
    out = {entity: _diff_issues(entity, older, newer, limit, old_keys, new_keys) for entity in ISSUE_ENTITIES}
    out[RUNS] = _diff_runs(older, newer, limit, old_keys, new_keys)
    out[ATTACHMENTS] = _diff_attachments(older, newer, limit)
    return out
