"""Browsing what a snapshot holds: its projects and items (searchable by key or summary), and one item in full.

The list comes from a compact index streamed from the snapshot once and kept for a few snapshots per process;
one item's details stream its entity file (and, for tests and executions, the runs) again.
"""
from __future__ import annotations

import threading
from collections import OrderedDict

from ..catalogue import ISSUE_ENTITIES
from ..errors import NotFound, ValidationFailed
from ..backups.snapshot.source import SnapshotSource

CACHED_SNAPSHOTS = 4
MAX_LIMIT = 200
LISTED = ("tests", "preconditions", "test_sets", "test_plans", "test_executions")  # the order items are listed in
ENTITIES = (*LISTED, "test_runs")


class _Index:
    def __init__(self, source: SnapshotSource):
        self.manifest = source.manifest()
        self.projects = {str(p.get("id")): p for p in source.projects()}
        self.rows: list[dict] = []
        self.keys: dict[str, str] = {}
        for entity in LISTED:
            for record in source.records(entity):
                jira = record.get("jira") or {}
                project = self.projects.get(str(record.get("projectId")), {})
                row = {"entity": entity, "id": str(record["issueId"]), "key": jira.get("key"),
                       "summary": jira.get("summary") or "", "project": project.get("key"),
                       "type": ((record.get("testType") or record.get("preconditionType") or {}).get("name")),
                       "members": ((record.get("tests") or {}).get("total") if entity != "tests"
                                   else len(record.get("steps") or []))}
                self.rows.append(row)
                self.keys[row["id"]] = row["key"]
        project_of = {row["id"]: row["project"] for row in self.rows}
        self.run_counts: dict[str, int] = {}  # project key -> runs of its executions
        for record in source.records("test_runs"):
            project = project_of.get(str((record.get("testExecution") or {}).get("issueId")))
            self.run_counts[project] = self.run_counts.get(project, 0) + 1


_CACHE: "OrderedDict[str, _Index]" = OrderedDict()
_LOCK = threading.Lock()


def _index(source: SnapshotSource) -> _Index:
    with _LOCK:
        if source.snapshot_key in _CACHE:
            _CACHE.move_to_end(source.snapshot_key)
            return _CACHE[source.snapshot_key]
    built = _Index(source)
    with _LOCK:
        _CACHE[source.snapshot_key] = built
        while len(_CACHE) > CACHED_SNAPSHOTS:
            _CACHE.popitem(last=False)
    return built


def contents(source: SnapshotSource) -> dict:
    """The snapshot's projects with what each holds."""
    index = _index(source)
    projects = []
    for project in index.projects.values():
        counts = {entity: 0 for entity in ENTITIES}
        for row in index.rows:
            if row["project"] == project.get("key"):
                counts[row["entity"]] += 1
        counts["test_runs"] = index.run_counts.get(project.get("key"), 0)
        projects.append({"id": str(project.get("id")), "key": project.get("key"), "name": project.get("name"),
                         "counts": counts})
    manifest = index.manifest
    return {"startedAt": manifest.get("startedAt"), "finishedAt": manifest.get("finishedAt"), "projects": projects,
            "warnings": manifest.get("warnings") or []}


def search(source: SnapshotSource, *, project: str | None, entity: str | None, query: str | None, offset: int,
           limit: int) -> dict:
    """Items of the snapshot, filtered by project key, entity and text in the key or summary."""
    if entity is not None and entity not in ISSUE_ENTITIES:
        raise ValidationFailed("Unknown entity.", fields={"entity": "One of: " + ", ".join(ISSUE_ENTITIES)})
    words = (query or "").strip().casefold()
    rows = [r for r in _index(source).rows
            if (project is None or r["project"] == project) and (entity is None or r["entity"] == entity)
            and (not words or words in (r["key"] or "").casefold() or words in r["summary"].casefold())]
    return {"total": len(rows), "offset": offset, "items": rows[offset:offset + min(limit, MAX_LIMIT)]}


def _file(att: dict) -> dict:
    return {"id": att.get("id"), "filename": att.get("filename"), "size": att.get("size"),
            "inSnapshot": not att.get("storedInJira")}


def _run(record: dict, keys: dict[str, str]) -> dict:
    return {"id": record.get("id"), "test": keys.get((record.get("test") or {}).get("issueId")),
            "execution": keys.get((record.get("testExecution") or {}).get("issueId")),
            "status": (record.get("status") or {}).get("name"), "comment": record.get("comment"),
            "startedOn": record.get("startedOn"), "finishedOn": record.get("finishedOn"),
            "executedBy": record.get("executedById"), "assignee": record.get("assigneeId"),
            "defects": record.get("defects") or [], "evidence": [_file(e) for e in record.get("evidence") or []],
            "steps": [{"status": (s.get("status") or {}).get("name"), "comment": s.get("comment"),
                       "actualResult": s.get("actualResult"), "evidence": [_file(e) for e in s.get("evidence") or []]}
                      for s in record.get("steps") or []]}


def detail(source: SnapshotSource, entity: str, issue_id: str) -> dict:
    """One item as the snapshot holds it, with the keys of what it links to (and, for tests and executions, runs)."""
    if entity not in ISSUE_ENTITIES:
        raise NotFound("No such item in this snapshot.")
    index = _index(source)
    record = next((r for r in source.records(entity) if str(r.get("issueId")) == issue_id), None)
    if record is None:
        raise NotFound("No such item in this snapshot.")
    keys = index.keys
    jira = record.get("jira") or {}
    out = {"entity": entity, "id": issue_id, "key": jira.get("key"), "summary": jira.get("summary"),
           "description": jira.get("description"), "status": (jira.get("status") or {}).get("name"),
           "labels": jira.get("labels") or [], "priority": (jira.get("priority") or {}).get("name"),
           "assignee": (jira.get("assignee") or {}).get("displayName"),
           "components": [c.get("name") for c in jira.get("components") or []],
           "fixVersions": [v.get("name") for v in jira.get("fixVersions") or []],
           "folder": (record.get("folder") or {}).get("path")}
    if entity == "tests":
        out.update(type=(record.get("testType") or {}).get("name"), gherkin=record.get("gherkin"),
                   unstructured=record.get("unstructured"),
                   preconditions=[keys.get(r["issueId"], r["issueId"]) for r in (record.get("preconditions") or {})
                                  .get("results") or []],
                   steps=[{"action": s.get("action"), "data": s.get("data"), "result": s.get("result"),
                           "attachments": [_file(a) for a in s.get("attachments") or []],
                           "customFields": [{"name": c.get("name"), "value": c.get("value")}
                                            for c in s.get("customFields") or []]} for s in record.get("steps") or []])
    elif entity == "preconditions":
        out.update(type=(record.get("preconditionType") or {}).get("name"), definition=record.get("definition"))
    if entity != "tests":
        out["tests"] = [keys.get(r["issueId"], r["issueId"]) for r in (record.get("tests") or {}).get("results") or []]
    if entity == "test_plans":
        out["testExecutions"] = [keys.get(r["issueId"], r["issueId"])
                                 for r in (record.get("testExecutions") or {}).get("results") or []]
    if entity == "test_executions":
        out["testEnvironments"] = record.get("testEnvironments") or []
    if entity in ("tests", "test_executions"):
        side = "test" if entity == "tests" else "testExecution"
        out["runs"] = [_run(r, keys) for r in source.records("test_runs")
                       if str((r.get(side) or {}).get("issueId")) == issue_id]
    return out
