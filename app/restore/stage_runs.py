"""Test runs: tests put back into their executions, with their results, evidence and run fields.

Xray makes a run when a test joins an execution; its results come back through the execution results import
(Xray JSON: status, comment, dates, people, defects, evidence and every step's result in one request per
execution). A run this restore made is filled only while it still shows a fresh run's defaults: the import is
all or nothing, so a run that moved on was already recorded (by an interrupted attempt, say) and is never
imported twice. Runs that were already there are left as they are.
"""
from __future__ import annotations

import logging

from ..extensions import db
from ..xray.errors import XrayQueryError, XrayUncertain
from . import idmap
from .context import Attempt
from .documents import ALL
from .payloads import entry_size, run_fields, run_result
from .scope import DEFAULT_RUN_STATUS
from .writer import BATCH_BYTES, WriteGaveUp

logger = logging.getLogger(__name__)

EXECUTIONS_PER_READ = 50
IMPORT_TRIES = 5


def at_defaults(run: dict) -> bool:
    """Whether a run shows nothing beyond what Xray gives a new run."""
    if (run.get("status") or {}).get("name", DEFAULT_RUN_STATUS) != DEFAULT_RUN_STATUS:
        return False
    if any(run.get(k) is not None for k in ("comment", "startedOn", "finishedOn", "executedById")):
        return False
    if run.get("evidence") or run.get("defects"):
        return False
    for step in run.get("steps") or []:
        if (step.get("status") or {}).get("name", DEFAULT_RUN_STATUS) != DEFAULT_RUN_STATUS:
            return False
        if step.get("comment") is not None or step.get("actualResult") is not None:
            return False
        if step.get("evidence") or step.get("defects"):
            return False
    return True


def read_runs(attempt: Attempt, executions: list[str]) -> dict[tuple[str, str], dict]:
    """The target's runs of these executions, by (execution id, test id)."""
    out: dict[tuple[str, str], dict] = {}
    for first in range(0, len(executions), EXECUTIONS_PER_READ):
        batch, start = executions[first:first + EXECUTIONS_PER_READ], 0
        while True:
            attempt.checkpoint()
            page = attempt.client.graphql("RestoreTestRuns", ALL["RestoreTestRuns"],
                                          {"testExecIssueIds": batch, "start": start})["getTestRuns"] or {}
            results = page.get("results") or []
            for run in results:
                out[(str((run.get("testExecution") or {}).get("issueId")),
                     str((run.get("test") or {}).get("issueId")))] = run
            start += len(results)
            if not results or start >= (page.get("total") or 0):
                break
    return out


class _Runs:
    def __init__(self, attempt: Attempt):
        self.attempt = attempt
        self.rows = {sid: row for (entity, sid), row in attempt.items.items()
                     if entity == "test_runs" and row.outcome is None and row.action in ("create", "existing")}
        self.pairs: dict[str, tuple[str, str]] = {}  # run source id -> (execution target id, test target id)
        self.total = sum(1 for (entity, _), row in attempt.items.items()
                         if entity == "test_runs" and row.action in ("create", "existing"))

    def project(self, source_id: str):
        """The target project of a run: its execution's (its test's when the execution's project is not mapped)."""
        run = self.attempt.index.runs[source_id]
        return (self.attempt.project_of("test_executions", run.execution) or self.attempt.project_of("tests", run.test)
                or next(iter(self.attempt.view.projects.values())))

    def resolve(self) -> None:
        """Each run's execution and test in the target; a run whose either side is not there is skipped."""
        for source_id, row in self.rows.items():
            run = self.attempt.index.runs[source_id]
            execution = self.attempt.target_id("test_executions", run.execution)
            test = self.attempt.target_id("tests", run.test)
            if execution is None or test is None:
                which = "test execution" if execution is None else "test"
                self.attempt.mark(row, "skipped", reason=f"Not restored: its {which} could not be restored.")
            else:
                self.pairs[source_id] = (execution, test)
        db.session.commit()

    def add_plain(self, present: dict) -> None:
        """Put back tests whose runs have no results to record (one link per execution)."""
        adds: dict[str, list[str]] = {}  # execution -> run source ids
        for source_id, (execution, test) in self.pairs.items():
            run = self.attempt.index.runs[source_id]
            if self.rows[source_id].action == "create" and not run.has_results and (execution, test) not in present:
                adds.setdefault(execution, []).append(source_id)
        if not adds:
            return
        calls = [{"issueId": e, "testIssueIds": [self.pairs[s][1] for s in runs]} for e, runs in adds.items()]
        for runs, error in zip(adds.values(), self.attempt.writer.update("AddTestsToTestExecution", calls)):
            for source_id in runs if error else ():
                self.attempt.mark(self.rows[source_id], "failed",
                                  reason=f"Its test could not be put back into the execution: {error}")
        db.session.commit()

    def import_results(self, present: dict) -> None:
        """Stream the runs from the snapshot; import the results of the runs still to fill, execution by execution."""
        due = {sid for sid, pair in self.pairs.items() if self.rows[sid].action == "create"
               and self.attempt.index.runs[sid].has_results and self.rows[sid].outcome is None
               and (pair not in present or at_defaults(present[pair]))}
        if not due:
            return
        group: list[tuple[str, dict]] = []
        current = None
        for record in self.attempt.source.records("test_runs"):
            source_id = str(record["id"])
            if source_id not in due:
                continue
            execution = self.pairs[source_id][0]
            if current is not None and execution != current:
                self._import(current, group)
                group = []
            current = execution
            ctx = self.attempt.build_context(self.project(source_id))
            run = self.attempt.index.runs[source_id]
            test_key = self.attempt.target("tests", run.test)[1]
            group.append((source_id, run_result(record, test_key, ctx, self.attempt.step_count(run.test))))
        if group:
            self._import(current, group)

    def _import(self, execution: str, group: list[tuple[str, dict]]) -> None:
        key = next((self.attempt.target("test_executions", self.attempt.index.runs[s].execution) or (None, None))[1]
                   for s, _ in group)
        chunk, size = [], 0
        for source_id, entry in group:
            if chunk and size + entry_size(entry) > BATCH_BYTES:
                self._send(execution, key, chunk)
                chunk, size = [], 0
            chunk.append((source_id, entry))
            size += entry_size(entry)
        if chunk:
            self._send(execution, key, chunk)

    def _send(self, execution: str, key: str, chunk: list[tuple[str, dict]]) -> None:
        attempt, now = self.attempt, self.attempt.now
        project = self.project(chunk[0][0])
        for tries in range(1, IMPORT_TRIES + 1):
            for source_id, _ in chunk:
                idmap.write_intent(attempt.tenant_id, attempt.restore_id, "test_runs", source_id, project.id, None, now())
            db.session.commit()
            attempt.checkpoint()
            attempt.writer.sent += 1
            try:
                attempt.client.send("ImportExecution", "POST", "/api/v2/import/execution", write=True,
                                    body={"testExecutionKey": key, "tests": [entry for _, entry in chunk]})
                return
            except XrayQueryError as exc:
                if len(chunk) > 1:  # all or nothing: find the runs Xray refuses, one at a time
                    for one in chunk:
                        self._send(execution, key, [one])
                    return
                idmap.drop_intent(attempt.tenant_id, "test_runs", chunk[0][0], project.id)
                attempt.mark(self.rows[chunk[0][0]], "failed", reason=f"Its results could not be imported: {exc}")
                db.session.commit()
                return
            except XrayUncertain:
                runs = read_runs(attempt, [execution])
                chunk = [(s, e) for s, e in chunk
                         if self.pairs[s] not in runs or at_defaults(runs[self.pairs[s]])]
                if not chunk:
                    return
                attempt.sleep(min(8.0, 0.5 * 2 ** (tries - 1)))
        raise WriteGaveUp("Xray did not confirm importing test run results after several tries.")

    def collect_fields(self) -> dict[str, list]:
        """The run custom field values of the runs this restore makes, read from the snapshot."""
        wanted = {sid for sid in self.pairs if self.rows[sid].action == "create"
                  and self.attempt.index.runs[sid].run_fields}
        if not wanted:
            return {}
        return {str(r["id"]): r.get("customFields") or [] for r in self.attempt.source.records("test_runs")
                if str(r["id"]) in wanted}

    def finish(self, fields: dict[str, list]) -> None:
        """Record every run's target id and outcome, and set the run fields of the runs this restore made."""
        attempt = self.attempt
        runs = read_runs(attempt, sorted({pair[0] for pair in self.pairs.values()}))
        calls, owners = [], []
        for source_id, pair in self.pairs.items():
            row, found = self.rows[source_id], runs.get(pair)
            if row.outcome is not None:
                continue
            if found is None:
                attempt.mark(row, "failed", reason="Its run is not in the test execution after the restore.")
                continue
            if row.action == "existing":
                attempt.mark(row, "existing", str(found["id"]))
                continue
            project = self.project(source_id)
            values = run_fields({"customFields": fields.get(source_id) or []}, project)
            if values:
                calls.append({"id": str(found["id"]), "customFields": values})
                owners.append(source_id)
            attempt.mark(row, "created", str(found["id"]))
            idmap.record_created(attempt.tenant_id, attempt.restore_id, "test_runs", source_id, project.id,
                                 str(found["id"]), None, attempt.now())
        db.session.commit()
        for source_id, error in zip(owners, attempt.writer.update("UpdateTestRun", calls) if calls else []):
            if error:
                attempt.mark(self.rows[source_id], "failed", reason=f"Its run fields could not be set: {error}")
        db.session.commit()


def restore_runs(attempt: Attempt) -> None:
    """Put back every run in scope that the target lacks, with its results."""
    work = _Runs(attempt)
    if not work.rows:
        return
    attempt.report("test runs", work.total - len(work.rows), work.total)
    work.resolve()
    present = read_runs(attempt, sorted({pair[0] for pair in work.pairs.values()}))
    work.add_plain(present)
    work.import_results(present)
    work.finish(work.collect_fields())
    attempt.report("test runs", work.total, work.total)
