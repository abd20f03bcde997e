"""``POST /api/v2/import/test/bulk`` and its job status: tests imported by an asynchronous job.

Matched to Xray Cloud's documentation ("Importing Tests - REST"): the body is a JSON array of at most
1000 tests; each has ``testtype`` (or ``xray_testtype``, required), Jira ``fields`` (they may also sit
beside the Xray keys), ``steps`` / ``xray_steps`` (``action``, ``data``, ``result``, ``attachments``
``[{"data" base64, "filename", "mimeType"}]``), ``gherkin_def`` / ``xray_gherkin_def``,
``unstructured_def`` / ``xray_unstructured_def``, ``xray_test_repository_folder``, ``xray_test_sets``
(keys); ``?project=KEY`` is the project of tests that name none. The answer is ``{"jobId"}``; each user
runs one job at a time (another submit answers 400), as does a body over 1000 tests. ``GET
.../{jobId}/status`` answers ``{"status": "pending"|"working"|"successful"|"partially_successful"|
"unsuccessful"|"failed", ...}``: while running with ``progress`` (messages), and at the end with
``result`` ``{"issues": [{"elementNumber", "id", "key", "self"}], "errors": [{"elementNumber",
"errors": {field: text}}], "warnings": []}``; an unknown job (or another user's) is 404
``{"error": "job not found."}``.

Assumed: ``xray_preconditions`` (precondition keys or ids) links preconditions; ``update_key`` updates
that existing test instead of creating one (given fields, type and definition replaced, steps replaced,
preconditions and sets added); folders named by ``xray_test_repository_folder`` are created when missing;
``progressValue`` is a percentage string; each element is all or nothing; a job whose ``fail_import_jobs``
fault is on ends ``failed`` with nothing imported; only tests are imported (``xray_issue_type`` other
than test is an element error). The job completes ``delay`` seconds after it was submitted.
"""
from __future__ import annotations

import threading
import time
import uuid
from typing import Callable

from . import changes, edits
from .errors import ChangeError
from .records import check_fields, check_step, require, require_all, test_type

MAX_TESTS = 1000
_XRAY_KEYS = {"testtype", "xray_testtype", "steps", "xray_steps", "gherkin_def", "xray_gherkin_def",
              "unstructured_def", "xray_unstructured_def", "xray_test_repository_folder", "xray_test_sets",
              "xray_preconditions", "update_key", "xray_issue_type", "xray_id", "fields", "update"}

_BULK_FIELDS = {"testType": "testtype", "preconditionIssueIds": "xray_preconditions",
                "folderPath": "xray_test_repository_folder", "gherkin": "gherkin_def",
                "unstructured": "unstructured_def"}


class ImportRefused(Exception):
    """A submit or status request Xray answers with an error status."""

    def __init__(self, status: int, text: str):
        super().__init__(text)
        self.status, self.text = status, text


def import_test(ds, element, default_project, stamp: str) -> dict:
    """Create (or with ``update_key`` update) one test from a bulk element; the caller holds ``ds.lock``."""
    if not isinstance(element, dict):
        raise ChangeError("element", "Each element must be an object.")
    if str(element.get("xray_issue_type") or "test").lower() != "test":
        raise ChangeError("xray_issue_type", "The simulator imports tests only.")
    fields = dict(element.get("fields") or {})
    fields.update({k: v for k, v in element.items() if k not in _XRAY_KEYS and k not in fields})
    if "project" not in fields and default_project:
        fields["project"] = {"key": default_project}
    type_name = element.get("testtype") or element.get("xray_testtype")
    if not type_name:
        raise ChangeError("testtype", "The test type is required.")
    steps = [{"action": s.get("action"), "data": s.get("data"), "result": s.get("result"),
              "attachments": s.get("attachments") or []} if isinstance(s, dict) else s
             for s in element.get("steps") or element.get("xray_steps") or []]
    gherkin = element.get("gherkin_def") or element.get("xray_gherkin_def")
    unstructured = element.get("unstructured_def") or element.get("xray_unstructured_def")
    folder = element.get("xray_test_repository_folder")
    sets = require_all(ds, "test_set", element.get("xray_test_sets"), "xray_test_sets")
    pres = element.get("xray_preconditions")
    try:
        if element.get("update_key"):
            test = _update(ds, require(ds, "test", element["update_key"], "update_key"), fields, type_name, steps,
                           gherkin, unstructured, folder, pres, stamp)
        else:
            test = changes.create_test(ds, fields, stamp, type_ref={"name": type_name}, steps=steps,
                                       gherkin=gherkin, unstructured=unstructured, folder_path=folder,
                                       precondition_ids=pres, create_folders=True)
    except ChangeError as exc:  # named as the bulk format names the input, not as the mutations do
        raise ChangeError(_BULK_FIELDS.get(exc.field, exc.field), exc.message) from None
    for test_set in sets:
        changes.link(ds, "set_tests", test_set["issueId"], [test["issueId"]], stamp)
    return test


def _update(ds, test, fields, type_name, steps, gherkin, unstructured, folder, pre_ids, stamp) -> dict:
    fields = {k: v for k, v in fields.items() if k != "project"}
    kind = test_type(ds, test["projectId"], {"name": type_name})
    changes.check_definition(kind["kind"], steps, gherkin, unstructured)
    pres = require_all(ds, "precondition", pre_ids, "xray_preconditions")
    for step in steps:  # checked again when written; this pass refuses before anything changes
        check_step(ds, test, step, "steps")
    check_fields(ds, test["projectId"], fields, creating=False)
    changes.check_folder(ds, test, folder, True)
    edits.edit_fields(ds, test, fields, stamp)
    if kind != test["testType"]:
        edits.set_test_type(ds, test, {"name": type_name}, stamp)
    if kind["kind"] == "Steps":
        edits.replace_steps(ds, test, steps, stamp)
    elif gherkin is not None or unstructured is not None:
        edits.set_definition(ds, test, stamp, gherkin=gherkin, unstructured=unstructured)
    if folder is not None:
        edits.move_to_folder(ds, test, folder, stamp, create_missing=True)
    for pre in pres:
        changes.link(ds, "precondition_tests", pre["issueId"], [test["issueId"]], stamp)
    return test


class BulkImports:
    """The bulk import jobs of one simulator: at most one unfinished job per user."""

    def __init__(self, ds, *, delay: float = 0.2, jira_url: str, monotonic: Callable[[], float] = time.monotonic):
        self.ds, self.delay, self.jira_url, self._monotonic = ds, delay, jira_url, monotonic
        self._jobs: dict[str, dict] = {}
        self._lock = threading.Lock()
        self._timers: list[threading.Timer] = []

    def submit(self, user: str, body, default_project: str | None, *, fail: bool = False) -> str:
        """Queue a job for the user's tests; its id."""
        if not isinstance(body, list) or not body:
            raise ImportRefused(400, "Wrong request syntax: the body must be a non-empty JSON array of tests.")
        if len(body) > MAX_TESTS:
            raise ImportRefused(400, f"At most {MAX_TESTS} tests can be imported at once; {len(body)} were sent.")
        with self._lock:
            if any(j["user"] == user and j["result"] is None for j in self._jobs.values()):
                raise ImportRefused(400, "An import job is already in progress for this user. "
                                         "Wait until it finishes before starting another one.")
            job_id = uuid.uuid4().hex
            self._jobs[job_id] = {"id": job_id, "user": user, "elements": body, "project": default_project,
                                  "submitted": self._monotonic(), "fail": fail, "status": None, "result": None}
            timer = threading.Timer(self.delay, self._complete, args=(job_id,))
            timer.daemon = True
            self._timers.append(timer)
        timer.start()
        return job_id

    def status(self, user: str, job_id: str) -> dict:
        """What ``GET /api/v2/import/test/bulk/{jobId}/status`` answers."""
        with self._lock:
            job = self._jobs.get(job_id)
            if job is None or job["user"] != user:
                raise ImportRefused(404, "job not found.")
            due = self._monotonic() - job["submitted"] >= self.delay
        if due:
            self._complete(job_id)
        with self._lock:
            if job["result"] is not None:
                return {"jobId": job_id, "status": job["status"], "result": job["result"]}
            elapsed = self._monotonic() - job["submitted"]
            state = "pending" if elapsed < self.delay / 2 else "working"
            progress = [f"Preprocessing the information of the {len(job['elements'])} tests to import."]
            if state == "working":
                progress.append(f"Creating {len(job['elements'])} issue(s) in Jira.")
            return {"jobId": job_id, "status": state, "progress": progress,
                    "progressValue": f"{min(99, int(100 * elapsed / self.delay)) if self.delay else 99}%"}

    def stop(self) -> None:
        """Cancel the timers of unfinished jobs."""
        with self._lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()

    def _complete(self, job_id: str) -> None:
        with self._lock:
            job = self._jobs[job_id]
            if job["status"] is not None:
                return
            job["status"] = "working"  # claimed: a concurrent poll and the timer run it once
        status, result = self._run(job)
        with self._lock:
            job["status"], job["result"] = status, result

    def _run(self, job: dict) -> tuple[str, dict]:
        if job["fail"]:
            return "failed", {"issues": [], "errors": [], "warnings": [],
                              "message": "An internal error occurred while importing the tests."}
        issues, errors = [], []
        with self.ds.lock:
            for number, element in enumerate(job["elements"]):
                try:
                    test = import_test(self.ds, element, job["project"], self.ds.clock.stamp())
                except ChangeError as exc:
                    errors.append({"elementNumber": number, "errors": {exc.field: exc.message}})
                    continue
                issues.append({"elementNumber": number, "id": test["issueId"], "key": test["jira"]["key"],
                               "self": f"{self.jira_url.rstrip('/')}/rest/api/2/issue/{test['issueId']}"})
        status = "successful" if not errors else ("partially_successful" if issues else "unsuccessful")
        return status, {"issues": issues, "errors": errors, "warnings": []}

    def summary(self) -> dict:
        """The delay and every job's id, user and status (for the control route)."""
        with self._lock:
            return {"delay": self.delay, "jobs": [{"id": j["id"], "user": j["user"], "status": j["status"] or "pending"}
                                                  for j in self._jobs.values()]}
