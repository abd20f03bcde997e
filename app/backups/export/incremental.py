"""An incremental export: a complete snapshot from the parent snapshot plus what Xray reports changed since it.

Per project, settings and folders are read as in a full export (`ProjectMeta`, which also counts every list).
Per entity, the items modified since the parent started (minus an overlap) are read with the full export's page
documents plus `modifiedSince`; removals are inferred from counts (parent + added = total now: nothing removed,
no request) and only otherwise found by listing ids. Test runs are re-read by execution with `modifiedSince`;
a run is (test, execution), so an execution's test list says which runs exist, and any inconsistency reads that
execution's runs whole. Unchanged records are copied from the parent, attachments the parent stored are copied
from it (never downloaded again). Anything that cannot be trusted raises `NeedsFullRead`: the caller reads
everything instead and says why.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable

from ...catalogue import label_for_root
from ..snapshot.writer import SnapshotWriter
from ..store.backend import StorageError
from . import queries as q
from .exporter import Exporter
from .merge import ChangeCounts, check_runs, merge, removals_possible
from .parent import ParentSnapshot

logger = logging.getLogger(__name__)

# (entity, stage label, ProjectMeta total, page document, root list)
ISSUE_LISTS = (
    ("tests", "tests", "tests", "TestsPage", "getTests"),
    ("preconditions", "preconditions", "preconditions", "PreconditionsPage", "getPreconditions"),
    ("test_sets", "test sets", "testSets", "TestSetsPage", "getTestSets"),
    ("test_plans", "test plans", "testPlans", "TestPlansPage", "getTestPlans"),
    ("test_executions", "test executions", "testExecutions", "TestExecutionsPage", "getTestExecutions"),
)
CHANGED_ENTITIES = tuple(entity for entity, *_ in ISSUE_LISTS) + ("test_runs",)


class NeedsFullRead(Exception):
    """The incremental read cannot be trusted; the message says why (it ends up in the run's message)."""


def _run_key(run: dict) -> tuple[str, str]:
    return (str((run.get("test") or {}).get("issueId")), str((run.get("testExecution") or {}).get("issueId")))


class IncrementalExporter(Exporter):
    """Write a complete snapshot into `writer` from `parent` and Xray's changes since `since`."""

    def __init__(self, client, writer: SnapshotWriter, parent: ParentSnapshot, *, since: str,
                 progress: Callable[[dict], None] | None = None, checkpoint: Callable[[], None] | None = None):
        super().__init__(client, writer, progress=progress, checkpoint=checkpoint)
        self.parent = parent
        self.since = since
        self.changed: dict[str, ChangeCounts] = {entity: ChangeCounts() for entity in CHANGED_ENTITIES}
        self.copied_attachments = 0
        self.downloaded_attachments = 0
        self._executions: dict[str, list[str]] = {}  # execution → its tests, as the new snapshot holds them
        self._project_ids: set[str] = set()

    # -- driving ---------------------------------------------------------------------------------
    def export(self, projects: Iterable[dict]) -> None:
        projects = list(projects)
        totals: dict[str, dict] = {}
        for project in projects:
            self.project = project
            self.writer.projects.append({"id": project["id"], "key": project.get("key"), "name": project.get("name")})
            self.stage = "project settings"
            self._checkpoint()
            totals[str(project["id"])] = self._project_meta(project["id"])
        self._project_ids = set(totals)
        for entity, stage, total_key, page, root in ISSUE_LISTS:
            self.stage = stage
            self._checkpoint()
            self._issues(entity, page, root, projects, {pid: t.get(total_key) or 0 for pid, t in totals.items()})
        self.stage = "test runs"
        self._checkpoint()
        self._test_runs_since()
        self.project = None
        self._report()

    def changed_json(self) -> dict:
        """The run's `changed` field: per entity added/modified/removed, attachments added/removed."""
        out = {entity: counts.as_json() for entity, counts in self.changed.items()}
        kept = sum(1 for attachment_id in self.parent.attachments if self.writer.has_attachment(attachment_id))
        out["attachments"] = {"added": self.writer.counts()["attachments"] - kept,
                              "removed": len(self.parent.attachments) - kept}
        return out

    # -- issues ----------------------------------------------------------------------------------
    def _issues(self, entity: str, page_name: str, root: str, projects: list[dict], totals: dict[str, int]) -> None:
        parent_ids: dict[str, set[str]] = {}
        for record in self.parent.records(entity):
            parent_ids.setdefault(str(record.get("projectId")), set()).add(str(record["issueId"]))
        changed: dict[str, dict] = {}
        removed: set[str] = set()
        for project in projects:
            self.project = project
            pid = str(project["id"])
            known = parent_ids.get(pid, set())
            if totals[pid] == 0:
                removed |= known
                continue
            if pid in self.parent.project_ids:
                name, variables = f"{page_name}Since", {"projectId": project["id"], "since": self.since}
            else:  # a project the parent did not cover: everything in it is new to the snapshot
                name, variables = page_name, {"projectId": project["id"]}
            here: set[str] = set()
            for page in self._pages(name, root, variables):
                for item in page:
                    issue_id = str(item["issueId"])
                    changed[issue_id] = self.complete(entity, item)
                    here.add(issue_id)
                self._report()
            if name == page_name:
                removed |= known - here
            elif removals_possible(len(known), len(here - known), totals[pid]):
                listed = self._list_ids(q.IDS_PAGE_OF[page_name], root, project["id"])
                removed |= known - listed
                unknown = listed - known - here
                if unknown:
                    raise NeedsFullRead(
                        f"{len(unknown)} {label_for_root(root)} of project {self._key()} were neither in the previous "
                        "snapshot nor reported as changed since it")
        self.project = None
        removed -= set(changed)  # an item moved between projects is modified, not removed
        kept_projects = self._project_ids

        def gone(record: dict) -> bool:
            return str(record["issueId"]) in removed or str(record.get("projectId")) not in kept_projects

        self._write_merged(entity, merge(self.parent.records(entity), changed, lambda r: str(r["issueId"]), gone,
                                         self.changed[entity]))

    def _write_merged(self, entity: str, merged) -> None:
        batch: list[dict] = []
        for item in merged:
            record = item.record
            self._remember_key(record)
            self.writer.write(entity, record)
            if entity == "test_executions":
                self._executions[str(record["issueId"])] = [
                    str(t["issueId"]) for t in (record.get("tests") or {}).get("results") or []]
            batch.append(record)
            if len(batch) >= q.PAGE:
                self._attachments_of(entity, batch)
                batch = []
        self._attachments_of(entity, batch)

    def _attachments_of(self, entity: str, records: list[dict]) -> None:
        if entity == "test_runs":
            self.run_attachments(records)
        else:
            for record in records:
                self.item_attachments(entity, record)
        if records:
            self._checkpoint()
            self._report()

    def _list_ids(self, name: str, root: str, project_id: str) -> set[str]:
        ids: set[str] = set()
        for page in self._pages(name, root, {"projectId": project_id}):
            ids.update(str(item["issueId"]) for item in page)
        return ids

    # -- test runs -------------------------------------------------------------------------------
    def _test_runs_since(self) -> None:
        parent_runs: dict[str, set[str]] = {}
        parent_execs: set[str] = set()
        for record in self.parent.records("test_executions"):
            parent_execs.add(str(record["issueId"]))
        for run in self.parent.records("test_runs"):
            test, execution = _run_key(run)
            parent_runs.setdefault(execution, set()).add(test)
        with_tests = [e for e, tests in self._executions.items() if tests]
        changed: dict[tuple[str, str], dict] = {}
        # Executions the parent did not hold have no runs to copy: their runs are read whole.
        self._read_runs_into(changed, [e for e in with_tests if e in parent_execs], since=self.since)
        new = [e for e in with_tests if e not in parent_execs]
        self._read_runs_into(changed, new)
        reread = check_runs({e: self._executions[e] for e in with_tests if e in parent_execs}, parent_runs,
                            list(changed))
        if reread:
            logger.info("incremental backup: reading the runs of %d execution(s) whole", len(reread))
            for key in [k for k in changed if k[1] in reread]:
                del changed[key]
            self._read_runs_into(changed, sorted(reread))
        whole = reread | set(new)

        def gone(run: dict) -> bool:
            test, execution = _run_key(run)
            return execution in whole or test not in self._executions.get(execution, ())

        self._write_merged("test_runs", merge(self.parent.records("test_runs"), changed, _run_key, gone,
                                              self.changed["test_runs"]))

    def _read_runs_into(self, changed: dict, executions: list[str], since: str | None = None) -> None:
        for start in range(0, len(executions), q.TEST_RUN_ID_BATCH):
            for page in self.read_runs(executions[start:start + q.TEST_RUN_ID_BATCH], since=since):
                for run in page:
                    changed[_run_key(run)] = run
                self._report()

    # -- attachments: the parent's copy when it has one ---------------------------------------------
    def _attachment(self, attachment: dict, owner: dict) -> None:
        attachment_id = str(attachment.get("id") or "")
        if (not attachment_id or attachment.get("storedInJira") or self.writer.has_attachment(attachment_id)
                or attachment_id not in self.parent.attachments):
            before = self.writer.counts()["attachments"]
            super()._attachment(attachment, owner)
            self.downloaded_attachments += self.writer.counts()["attachments"] - before
            return
        try:
            with self.writer.attachment(attachment_id, filename=attachment.get("filename"), owner=owner) as fh:
                for chunk in self.parent.read_attachment(attachment_id):
                    fh.write(chunk)
        except StorageError as exc:
            # The parent's copy is gone or damaged: Xray still has the file, so read it from there.
            logger.warning("attachment %s could not be copied from the previous snapshot (%s); downloading it",
                           attachment_id, type(exc).__name__)
            before = self.writer.counts()["attachments"]
            super()._attachment(attachment, owner)
            self.downloaded_attachments += self.writer.counts()["attachments"] - before
            return
        self.copied_attachments += 1
