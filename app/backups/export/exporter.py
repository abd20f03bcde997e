"""What to fetch from Xray and how to page it; every page is streamed to a `SnapshotWriter` as it arrives.

Memory stays flat: one page of records (≤ 100) is held at a time, plus the set of attachment ids already
written. Every child connection is stored complete as `{"total": n, "results": [...]}`; when a child's `total`
exceeds what came inline, the rest is read with the child's own page query.
"""
from __future__ import annotations

import logging
from typing import Callable, Iterable, Iterator

from ...catalogue import label_for_root
from ...xray.errors import XrayDownloadRefused
from ..snapshot.writer import SnapshotWriter
from . import queries as q

logger = logging.getLogger(__name__)


class ExportError(Exception):
    """The export cannot be completed; the message says what is missing, in words an admin can act on."""


class Exporter:
    """Export every project's Xray data through `client` into `writer`."""

    def __init__(self, client, writer: SnapshotWriter, *, progress: Callable[[dict], None] | None = None,
                 checkpoint: Callable[[], None] | None = None):
        self.client = client
        self.writer = writer
        self._progress = progress
        self._checkpoint = checkpoint or (lambda: None)
        self.project: dict | None = None
        self.stage = ""
        # issueId → issue key of the tests and executions read so far: warnings name keys an admin can open.
        self._keys: dict[str, str] = {}
        self._runs: dict[str, tuple] = {}  # the current page's test runs: (test issueId, execution issueId)

    # -- driving ---------------------------------------------------------------------------------
    def export(self, projects: Iterable[dict]) -> None:
        """Export each project in turn (`{"id", "key", "name"}`)."""
        for project in projects:
            self.project = project
            self.writer.projects.append({"id": project["id"], "key": project.get("key"), "name": project.get("name")})
            self.stage = "project settings"
            self._checkpoint()
            totals = self._project_meta(project["id"])
            for stage, key, step in (
                ("tests", "tests", self._tests),
                ("preconditions", "preconditions", self._preconditions),
                ("test sets", "testSets", self._test_sets),
                ("test plans", "testPlans", self._test_plans),
                ("test executions and runs", "testExecutions", self._test_executions),
            ):
                if totals.get(key) == 0:
                    continue
                self.stage = stage
                self._checkpoint()
                step(project["id"])
        self._report()

    def _report(self) -> None:
        if self._progress is not None:
            stats = getattr(self.client, "stats", None)
            self._progress({
                "project": (self.project or {}).get("key"),
                "stage": self.stage,
                "counts": self.writer.counts(),
                "bytes": self.writer.attachment_bytes,
                "requests": getattr(stats, "requests", 0),
                "rateLimitWaits": getattr(stats, "rate_limit_waits", 0),
                "retries": getattr(stats, "retries", 0),
            })

    def _call(self, name: str, variables: dict) -> dict:
        return self.client.graphql(name, q.ALL[name], variables)

    def _pages(self, name: str, root: str, variables: dict) -> Iterator[list[dict]]:
        """Yield the pages of a top-level list until its `total` is reached."""
        start = 0
        while True:
            page = self._call(name, {**variables, "start": start})[root] or {}
            results = page.get("results") or []
            total = page.get("total") or 0
            if results:
                yield results
            start += len(results)
            if start >= total:
                return
            if not results:
                raise ExportError(
                    f"Xray reported {total} {label_for_root(root)} in project {self._key()} but returned only {start}; "
                    "the list could not be read whole. Run the backup again.")
            self._checkpoint()

    def _key(self) -> str:
        return str((self.project or {}).get("key") or (self.project or {}).get("id"))

    def _complete(self, connection: dict | None, fetch: Callable[[int], dict], what: str) -> dict:
        """Return the connection as `{"total", "results"}` with every item, paging past the inline part."""
        connection = connection or {}
        results = list(connection.get("results") or [])
        total = connection.get("total") or 0
        while len(results) < total:
            page = fetch(len(results)) or {}
            more = page.get("results") or []
            if not more:
                raise ExportError(f"Xray reported {total} {what} but returned only {len(results)}; "
                                  "the list could not be read whole. Run the backup again.")
            results.extend(more)
            total = page.get("total", total) or total
        return {"total": total, "results": results}

    # -- project settings and folders -------------------------------------------------------------
    def _project_meta(self, project_id: str) -> dict[str, int | None]:
        """Write the project's settings and folder tree; return the size of each of its lists."""
        data = self._call("ProjectMeta", {"projectId": project_id})
        settings = dict(data.get("settings") or {})
        settings.setdefault("projectId", project_id)
        settings["statuses"] = data.get("statuses") or []
        settings["stepStatuses"] = data.get("stepStatuses") or []
        self.writer.write("project_settings", settings)
        folder = data.get("folder")
        if folder is not None:
            self.writer.write("folders", {"projectId": project_id, **folder})
        self._report()
        return {key: (data.get(key) or {}).get("total") for key in
                ("tests", "preconditions", "testSets", "testPlans", "testExecutions")}

    # -- issues: one page document per entity, children completed the same way for full and incremental reads --
    def complete(self, entity: str, item: dict) -> dict:
        """Read the rest of every child connection of one listed item (in place); return it."""
        i = item["issueId"]
        if entity == "tests":
            item["preconditions"] = self._complete(
                item.get("preconditions"),
                lambda start: self._call("TestPreconditionsPage", {"issueId": i, "start": start})["getTest"][
                    "preconditions"],
                f"preconditions of test {i}")
        elif entity == "preconditions":
            item["tests"] = self._complete(item.get("tests"),
                                           self._child("PreconditionTestsPage", "getPrecondition", "tests", i),
                                           f"tests of precondition {i}")
        elif entity == "test_sets":
            item["tests"] = self._complete(item.get("tests"), self._child("TestSetTestsPage", "getTestSet", "tests", i),
                                           f"tests of test set {i}")
        elif entity == "test_plans":
            item["tests"] = self._complete(item.get("tests"),
                                           self._child("TestPlanTestsPage", "getTestPlan", "tests", i),
                                           f"tests of test plan {i}")
            item["testExecutions"] = self._complete(
                item.get("testExecutions"),
                self._child("TestPlanExecutionsPage", "getTestPlan", "testExecutions", i),
                f"test executions of test plan {i}")
        elif entity == "test_executions":
            item["tests"] = self._complete(item.get("tests"),
                                           self._child("TestExecutionTestsPage", "getTestExecution", "tests", i),
                                           f"tests of test execution {i}")
        if entity in ("tests", "test_executions"):
            self._remember_key(item)
        return item

    def item_attachments(self, entity: str, item: dict) -> None:
        """Store the files a written record refers to (only tests' steps carry attachments among issues)."""
        if entity == "tests":
            for step in item.get("steps") or []:
                for attachment in step.get("attachments") or []:
                    self._attachment(attachment, {"type": "test_step", "issueId": item["issueId"],
                                                  "stepId": step.get("id")})

    def _child(self, name: str, root: str, field: str, issue_id: str) -> Callable[[int], dict]:
        return lambda start: self._call(name, {"issueId": issue_id, "start": start})[root][field]

    def _entity(self, entity: str, page_name: str, root: str, project_id: str) -> None:
        for page in self._pages(page_name, root, {"projectId": project_id}):
            for item in page:
                self.writer.write(entity, self.complete(entity, item))
            for item in page:
                self.item_attachments(entity, item)
            self._report()

    def _tests(self, project_id: str) -> None:
        self._entity("tests", "TestsPage", "getTests", project_id)

    def _preconditions(self, project_id: str) -> None:
        self._entity("preconditions", "PreconditionsPage", "getPreconditions", project_id)

    def _test_sets(self, project_id: str) -> None:
        self._entity("test_sets", "TestSetsPage", "getTestSets", project_id)

    def _test_plans(self, project_id: str) -> None:
        self._entity("test_plans", "TestPlansPage", "getTestPlans", project_id)

    def _test_executions(self, project_id: str) -> None:
        pending: list[str] = []
        for page in self._pages("TestExecutionsPage", "getTestExecutions", {"projectId": project_id}):
            for item in page:
                self.writer.write("test_executions", self.complete("test_executions", item))
                # Only executions that have tests have runs; reading runs for many executions at once
                # fills every page of runs.
                if item["tests"]["total"]:
                    pending.append(item["issueId"])
            self._report()
            while len(pending) >= q.TEST_RUN_ID_BATCH:
                self._test_runs(pending[: q.TEST_RUN_ID_BATCH])
                del pending[: q.TEST_RUN_ID_BATCH]
        if pending:
            self._test_runs(pending)

    # -- test runs --------------------------------------------------------------------------------
    def _test_runs(self, execution_ids: list[str]) -> None:
        for page in self.read_runs(execution_ids):
            for run in page:
                self.writer.write("test_runs", run)
            self.run_attachments(page)
            self._report()

    def read_runs(self, execution_ids: list[str], since: str | None = None) -> Iterator[list[dict]]:
        """Yield pages of the executions' runs, each run complete; only those modified after `since` if given."""
        name, variables = "TestRunsPage", {"testExecIssueIds": execution_ids}
        if since is not None:
            name, variables = "TestRunsPageSince", {**variables, "since": since}
        for page in self._pages(name, "getTestRuns", variables):
            for run in page:
                self._complete_run(run)
            yield page

    def run_attachments(self, runs: list[dict]) -> None:
        """Store the evidence and attachments of written runs."""
        for run in runs:
            self._runs[run["id"]] = ((run.get("test") or {}).get("issueId"),
                                     (run.get("testExecution") or {}).get("issueId"))
        for run in runs:
            self._run_attachments(run)
        self._runs.clear()  # only these runs are described: memory stays flat

    def _complete_run(self, run: dict) -> None:
        run_id = run["id"]
        run["preconditions"] = self._complete(
            run.get("preconditions"),
            lambda start: self._call("TestRunPreconditionsPage", {"id": run_id, "start": start})["getTestRunById"][
                "preconditions"],
            f"preconditions of test run {run_id}")
        iterations = run.get("iterations") or {}
        inline = iterations.get("results") or []
        if len(inline) < (iterations.get("total") or 0):
            # Reread from the first page: the inline iterations carry fewer step results per iteration.
            iterations = self._complete(
                {"total": iterations["total"], "results": []},
                lambda start: self._call("TestRunIterationsPage", {"id": run_id, "start": start})["getTestRunById"][
                    "iterations"],
                f"iterations of test run {run_id}")
        else:
            iterations = {"total": iterations.get("total") or 0, "results": list(inline)}
        for index, iteration in enumerate(iterations["results"]):
            iteration["stepResults"] = self._complete(
                iteration.get("stepResults"),
                lambda start, n=index: self._call("IterationStepResultsPage",
                                                  {"id": run_id, "iteration": n, "start": start})[
                    "getTestRunById"]["iterations"]["results"][0]["stepResults"],
                f"step results of iteration {index + 1} of test run {run_id}")
        run["iterations"] = iterations

    def _run_attachments(self, run: dict) -> None:
        run_id = run["id"]
        for evidence in run.get("evidence") or []:
            self._attachment(evidence, {"type": "test_run", "testRunId": run_id})
        for step in run.get("steps") or []:
            for evidence in step.get("evidence") or []:
                self._attachment(evidence, {"type": "test_run_step", "testRunId": run_id, "stepId": step.get("id")})
            for attachment in step.get("attachments") or []:
                self._attachment(attachment, {"type": "test_run_step", "testRunId": run_id, "stepId": step.get("id")})
        for iteration in (run.get("iterations") or {}).get("results") or []:
            for result in (iteration.get("stepResults") or {}).get("results") or []:
                for evidence in result.get("evidence") or []:
                    self._attachment(evidence, {"type": "test_run_iteration_step", "testRunId": run_id,
                                                "iteration": iteration.get("rank"), "stepId": result.get("id")})

    # -- attachments ------------------------------------------------------------------------------
    def _attachment(self, attachment: dict, owner: dict) -> None:
        attachment_id = attachment.get("id")
        if not attachment_id or self.writer.has_attachment(attachment_id):
            return
        if attachment.get("storedInJira"):
            text = (f"Attachment “{attachment.get('filename') or attachment_id}” of {self._describe(owner)} is stored "
                    "in Jira, not in Xray: its file is not in this snapshot (Jira's own backup has it)")
            if text not in self.writer.warnings:
                self.writer.add_warning(text)
            return
        link = attachment.get("downloadLink")
        if not link:
            raise ExportError(f"Xray gave no download link for attachment “{attachment.get('filename') or attachment_id}”"
                              f" of {self._describe(owner)}")
        try:
            with self.writer.attachment(attachment_id, filename=attachment.get("filename"), owner=owner) as fh:
                size, sha256 = self.client.download(link, fh)
        except XrayDownloadRefused as exc:
            # Only bytes Xray served are stored: a link or redirect the URL policy refuses leaves a warning instead.
            self.writer.add_warning(f"attachment “{attachment.get('filename') or attachment_id}” of "
                                    f"{self._describe(owner)} was not downloaded: {exc}")
            return
        if self.writer.counts()["attachments"] % 25 == 0:
            self._report()  # a page can hold many files: keep the progress display moving
        written = self.writer.last_attachment
        if written is not None and (written.size != size or written.sha256 != sha256):
            raise ExportError(f"attachment {attachment_id} changed while it was written; run the backup again")
        expected = attachment.get("size")
        if isinstance(expected, int) and expected != size:
            self.writer.add_warning(f"Attachment “{attachment.get('filename') or attachment_id}” of "
                                    f"{self._describe(owner)}: Xray lists {expected} bytes, the download had {size}")

    # -- wording ----------------------------------------------------------------------------------
    def _remember_key(self, item: dict) -> None:
        key = (item.get("jira") or {}).get("key")
        if key and item.get("issueId"):
            self._keys[str(item["issueId"])] = key

    def _key_of(self, issue_id) -> str:
        return self._keys.get(str(issue_id), f"issue {issue_id}")

    def _describe(self, owner: dict) -> str:
        """Where an attachment belongs, by issue keys (`a step of test CALC-12`, `the run of CALC-12 in CALC-40`)."""
        kind = owner.get("type")
        if kind == "test_step":
            return f"a step of test {self._key_of(owner.get('issueId'))}"
        run = self._runs.get(owner.get("testRunId"))
        where = (f"the run of test {self._key_of(run[0])} in {self._key_of(run[1])}" if run
                 else f"test run {owner.get('testRunId')}")
        return where if kind == "test_run" else f"a step of {where}"
