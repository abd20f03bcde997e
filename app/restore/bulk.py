"""Creating tests with Xray's bulk test import: up to 1000 tests for one submit and a few status polls.

Intents are committed before the submit, the job's id right after it, the new ids when the job reports them. A
resumed restore asks a recorded job what it made. A job is asynchronous, so a submit Xray did not confirm — or
one refused because a job of the API key's user is still running (perhaps one an interrupted attempt sent) — is
never sent again: the project is watched (`recovery`) until the tests it was to make are all there or nothing
new has appeared for a while, and whatever is still missing is then created one by one with `createTest`, which
answers synchronously. So a late job can never make a test a second time.
"""
from __future__ import annotations

import logging
import time

from ..extensions import db
from ..xray.errors import XrayNotFound, XrayQueryError, XrayUncertain
from . import idmap
from .recovery import recover
from .writer import Create, Created, WriteGaveUp, body_size, chunks

logger = logging.getLogger(__name__)

MAX_TESTS = 1000
BULK_BYTES = 8 * 1024 * 1024
FINAL = {"successful", "partially_successful", "unsuccessful", "failed"}
POLL_START, POLL_MAX = 0.5, 10.0
SETTLE_SECONDS = 60.0           # nothing new for this long: an unconfirmed job made all it will make
JOB_WAIT_LIMIT = 60 * 60.0      # seconds one job may take
JOB_TRIES = 3                   # submits of one chunk whose job failed as a whole


class BulkRefused(Exception):
    """Xray refused the import body itself: the caller creates these tests one by one instead."""


class BulkImporter:
    def __init__(self, attempt, project, *, settle_seconds: float = SETTLE_SECONDS, monotonic=time.monotonic):
        self.attempt, self.project = attempt, project
        self.client, self.tenant_id, self.restore_id = attempt.client, attempt.tenant_id, attempt.restore_id
        self.settle_seconds, self.monotonic = settle_seconds, monotonic

    # -- resuming ------------------------------------------------------------------------------------------------

    def resume_jobs(self) -> dict[str, Created]:
        """Ask the jobs earlier attempts submitted what they made (a job Xray no longer knows is left to recovery)."""
        out: dict[str, Created] = {}
        jobs: dict[str, dict[int, str]] = {}
        for intent in idmap.pending(self.tenant_id, "tests", self.project.id):
            if intent.job_ref and "#" in intent.job_ref:
                job_id, _, number = intent.job_ref.rpartition("#")
                jobs.setdefault(job_id, {})[int(number)] = intent.source_id
        for job_id, elements in jobs.items():
            try:
                result = self._wait(job_id)
            except XrayNotFound:
                continue
            self._apply(result, elements, out)
        return out

    # -- creating ------------------------------------------------------------------------------------------------

    def create(self, items: list[Create]) -> tuple[dict[str, Created], list[str]]:
        """Import the tests; (what was made or refused, by source id; source ids to create one by one instead)."""
        out: dict[str, Created] = {}
        leftovers: list[str] = []
        for chunk in chunks(items, MAX_TESTS, lambda c: c.size or body_size(c.arguments)):
            leftovers += self._create_chunk(chunk, out)
        return out, leftovers

    def _create_chunk(self, chunk: list[Create], out: dict[str, Created]) -> list[str]:
        now = self.attempt.now
        for tries in range(1, JOB_TRIES + 1):
            for item in chunk:
                idmap.write_intent(self.tenant_id, self.restore_id, "tests", item.source_id, self.project.id,
                                   item.fingerprint, now())
            db.session.commit()
            job_id = self._submit(chunk)
            if job_id is None:  # unconfirmed, or another job running: watch, never send again
                return self._settle(chunk, out)
            elements = {n: item.source_id for n, item in enumerate(chunk)}
            for n, item in enumerate(chunk):
                idmap.set_job(self.tenant_id, "tests", [item.source_id], self.project.id, f"{job_id}#{n}", now())
            db.session.commit()
            try:
                result = self._wait(job_id)
            except XrayNotFound:
                return self._settle(chunk, out)
            if result.get("status") != "failed":
                self._apply(result, elements, out)
                return []
            logger.warning("restore %s: a bulk import job failed as a whole (try %d)", self.restore_id, tries)
            adopted = self._recover(out)  # a job failed as a whole made nothing; look anyway
            chunk = [item for item in chunk if item.source_id not in adopted]
            if not chunk:
                return []
        for item in chunk:
            idmap.drop_intent(self.tenant_id, "tests", item.source_id, self.project.id)
            out[item.source_id] = Created(error="Xray's test import job failed each time it was submitted.")
        db.session.commit()
        return []

    def _submit(self, chunk: list[Create]) -> str | None:
        """Submit the chunk's import; the job's id, or None when Xray did not confirm or another job is running."""
        self.attempt.checkpoint()
        self.attempt.writer.sent += 1
        try:
            answer = self.client.send("ImportTests", "POST", "/api/v2/import/test/bulk", write=True,
                                      params={"project": self.project.key}, body=[item.arguments for item in chunk])
        except XrayUncertain:
            return None
        except XrayQueryError as exc:
            if exc.status == 400 and "progress" in str(exc).lower():
                return None
            if exc.status == 400:
                raise BulkRefused(str(exc)) from None
            raise
        return str(answer["jobId"])

    def _settle(self, chunk: list[Create], out: dict[str, Created]) -> list[str]:
        """Watch the project until what an unconfirmed job made is all there, or nothing new appears for a while;
        return the source ids still to create (one by one, synchronously)."""
        wanted = {item.source_id for item in chunk}
        found: set[str] = set()
        quiet_since = self.monotonic()
        pause, waited = POLL_START, 0.0
        while True:
            new = set(self._recover(out)) & wanted
            if new - found:
                found |= new
                quiet_since = self.monotonic()
            if found >= wanted:
                return []
            if self.monotonic() - quiet_since >= self.settle_seconds or waited >= JOB_WAIT_LIMIT:
                logger.info("restore %s: %d test(s) of an unconfirmed import did not appear; creating them one "
                            "by one", self.restore_id, len(wanted - found))
                return [item.source_id for item in chunk if item.source_id not in found]
            self.attempt.sleep(pause)
            waited += pause
            pause = min(POLL_MAX, pause * 2)

    def _recover(self, out: dict[str, Created]) -> dict[str, tuple[str, str | None]]:
        adopted = recover(self.client, self.tenant_id, self.restore_id, "tests", self.project.id,
                          now=self.attempt.now(), exclude=self.attempt.existing_ids("tests"))
        db.session.commit()
        for source_id, (target_id, key) in adopted.items():
            out[source_id] = Created(target_id, key)
        return adopted

    def _wait(self, job_id: str) -> dict:
        pause, waited = POLL_START, 0.0
        while True:
            self.attempt.checkpoint()
            self.attempt.writer.sent += 1
            status = self.client.send("ImportTestsStatus", "GET", f"/api/v2/import/test/bulk/{job_id}/status")
            if status.get("status") in FINAL:
                return status
            if waited >= JOB_WAIT_LIMIT:
                raise WriteGaveUp("Xray's test import job did not finish within an hour.")
            self.attempt.sleep(pause)
            waited += pause
            pause = min(POLL_MAX, pause * 2)

    def _apply(self, status: dict, elements: dict[int, str], out: dict[str, Created]) -> None:
        result = status.get("result") or {}
        now = self.attempt.now()
        for issue in result.get("issues") or []:
            source_id = elements.get(int(issue.get("elementNumber", -1)))
            if source_id is not None and issue.get("id"):
                idmap.record_created(self.tenant_id, self.restore_id, "tests", source_id, self.project.id,
                                     str(issue["id"]), issue.get("key"), now)
                out[source_id] = Created(str(issue["id"]), issue.get("key"))
        for error in result.get("errors") or []:
            source_id = elements.get(int(error.get("elementNumber", -1)))
            if source_id is not None and source_id not in out:
                idmap.drop_intent(self.tenant_id, "tests", source_id, self.project.id)
                detail = "; ".join(f"{k}: {v}" for k, v in (error.get("errors") or {}).items())
                out[source_id] = Created(error=f"Xray's test import refused it ({detail or 'no detail given'}).")
        db.session.commit()
