"""Sending a restore's writes: creates under intents (never twice), links and updates in batches.

Creates go out `documents.MAX_BATCH` to a request (fewer when their bodies are large). Before each request the
items' intents are committed; after it, their new ids. When Xray does not confirm a create (no answer, a 5xx, or
a batch answered with errors, where some mutations may have run), the project is searched for what was made
(`recovery`), the rest is sent again one at a time, and an item Xray refuses on its own is reported failed with
Xray's words. Links and updates change nothing when repeated, so they are simply sent again one at a time.
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Callable

from ..extensions import db
from ..xray.errors import XrayQueryError, XrayUncertain
from . import idmap
from .documents import ALL, CREATES, MAX_BATCH, batch_name, batch_variables
from .recovery import recover

logger = logging.getLogger(__name__)

BATCH_BYTES = 4 * 1024 * 1024   # a request body stays well under what gateways take
UNCERTAIN_TRIES = 5             # unconfirmed attempts at one create before the attempt gives up (retried later)


class WriteGaveUp(Exception):
    """Xray kept not confirming a create: the restore attempt stops and is retried later."""


@dataclass
class Create:
    """One item to create: where its outcome goes, its mutation arguments and intended fingerprint."""

    source_id: str
    arguments: dict
    fingerprint: str
    size: int = 0
    tries: int = 0  # unconfirmed attempts so far
    refusals: int = 0  # answers with errors so far (one may be a passing internal error: it is tried once more)


@dataclass
class Created:
    target_id: str | None = None
    target_key: str | None = None
    error: str | None = None


def result_root(name: str) -> str:
    """The field of a create's answer holding the new issue (`CreateTestSet` → `testSet`)."""
    return {"CreatePrecondition": "precondition", "CreateTest": "test", "CreateTestSet": "testSet",
            "CreateTestPlan": "testPlan", "CreateTestExecution": "testExecution"}[name]


def body_size(value) -> int:
    return len(json.dumps(value, ensure_ascii=False))


def chunks(calls: list, max_batch: int, size_of: Callable = body_size) -> list[list]:
    """Split calls into requests of at most `max_batch` calls and about `BATCH_BYTES`."""
    out, current, current_bytes = [], [], 0
    for call in calls:
        size = size_of(call)
        if current and (len(current) >= max_batch or current_bytes + size > BATCH_BYTES):
            out.append(current)
            current, current_bytes = [], 0
        current.append(call)
        current_bytes += size
    if current:
        out.append(current)
    return out


@dataclass
class Writer:
    client: object
    tenant_id: int
    restore_id: str
    now: Callable
    checkpoint: Callable[[], None] = lambda: None
    sleep: Callable[[float], None] = time.sleep
    max_batch: int = MAX_BATCH
    sent: int = field(default=0)

    # -- one request -------------------------------------------------------------------------------------------

    def _request(self, name: str, calls: list[dict]) -> list:
        self.checkpoint()
        document = batch_name(name, len(calls))
        self.sent += 1
        data = self.client.graphql(document, ALL[document], batch_variables(name, calls), write=name in CREATES)
        return [data.get(f"m{i}") for i in range(len(calls))]

    def _narrow(self, exc: XrayQueryError, size: int) -> None:
        """A batch refused as a document (HTTP 400) ran nothing: maybe this Xray takes one mutation a request."""
        if exc.status == 400 and size > 1 and self.max_batch > 1:
            logger.warning("restore %s: Xray refused a batch of %d mutations; sending one per request from now",
                           self.restore_id, size)
            self.max_batch = 1

    # -- links and updates ---------------------------------------------------------------------------------------

    def update(self, name: str, calls: list[dict]) -> list[str | None]:
        """Send idempotent mutations (links, run fields); return each call's error text (None: done)."""
        errors: list[str | None] = [None] * len(calls)
        numbered = list(enumerate(calls))
        for chunk in chunks(numbered, self.max_batch, lambda c: body_size(c[1])):
            try:
                self._request(name, [call for _, call in chunk])
            except XrayQueryError as exc:
                if len(chunk) == 1:
                    errors[chunk[0][0]] = str(exc)
                    continue
                self._narrow(exc, len(chunk))
                for index, call in chunk:  # repeating a link changes nothing: find the one Xray refuses
                    try:
                        self._request(name, [call])
                    except XrayQueryError as single:
                        errors[index] = str(single)
        return errors

    # -- creates -----------------------------------------------------------------------------------------------

    def create(self, name: str, entity: str, project_id: str, items: list[Create],
               exclude: set[str] = frozenset()) -> dict[str, Created]:
        """Create the items (under intents), finding after any unconfirmed request what it made; by source id."""
        out: dict[str, Created] = {}
        queue = chunks(items, self.max_batch, lambda c: c.size or body_size(c.arguments))
        while queue:
            chunk = queue.pop(0)
            for item in chunk:
                idmap.write_intent(self.tenant_id, self.restore_id, entity, item.source_id, project_id,
                                   item.fingerprint, self.now())
            db.session.commit()
            try:
                results = self._request(name, [item.arguments for item in chunk])
            except XrayQueryError as exc:
                if exc.status == 400:  # the document was refused before anything ran
                    if len(chunk) == 1:
                        self._refused(entity, project_id, chunk[0], str(exc), out)
                    else:
                        self._narrow(exc, len(chunk))
                        queue[:0] = [[item] for item in chunk]
                    continue
                # Errors in an answer: the mutations that did not fail may have run.
                queue[:0] = [[item] for item in self._unconfirmed(entity, project_id, chunk, out, exclude,
                                                                  str(exc) if len(chunk) == 1 else None)]
                continue
            except XrayUncertain:
                queue[:0] = [[item] for item in self._unconfirmed(entity, project_id, chunk, out, exclude, None)]
                continue
            root = result_root(name)
            for item, result in zip(chunk, results):
                issue = (result or {}).get(root) or {}
                if issue.get("issueId"):
                    self._created(entity, project_id, item, str(issue["issueId"]), (issue.get("jira") or {}).get("key"),
                                  out)
                else:
                    self._refused(entity, project_id, item, "Xray answered without the new issue.", out)
            db.session.commit()
        return out

    def _created(self, entity, project_id, item: Create, target_id: str, key: str | None, out: dict) -> None:
        idmap.record_created(self.tenant_id, self.restore_id, entity, item.source_id, project_id, target_id, key,
                             self.now())
        out[item.source_id] = Created(target_id, key)

    def _refused(self, entity, project_id, item: Create, reason: str, out: dict) -> None:
        idmap.drop_intent(self.tenant_id, entity, item.source_id, project_id)
        db.session.commit()
        out[item.source_id] = Created(error=reason)

    def _unconfirmed(self, entity: str, project_id: str, chunk: list[Create], out: dict, exclude: set[str],
                     refusal: str | None) -> list[Create]:
        """After a request whose outcome is unknown: adopt what it made; return what is still to create."""
        adopted = recover(self.client, self.tenant_id, self.restore_id, entity, project_id, now=self.now(),
                          exclude=exclude)
        db.session.commit()
        left = []
        for item in chunk:
            if item.source_id in adopted:
                out[item.source_id] = Created(*adopted[item.source_id])
                continue
            if refusal is not None:
                item.refusals += 1
                if item.refusals > 1:  # Xray ran this one alone and refused it twice: nothing was made
                    self._refused(entity, project_id, item, refusal, out)
                    continue
                left.append(item)
                continue
            item.tries += 1
            if item.tries >= UNCERTAIN_TRIES:
                raise WriteGaveUp(f"Xray did not confirm creating {entity.replace('_', ' ')} after {item.tries} tries.")
            self.sleep(min(8.0, 0.5 * 2 ** (item.tries - 1)))
            left.append(item)
        return left
