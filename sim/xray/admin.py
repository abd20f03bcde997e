"""What tests use to change the simulated Xray from outside, as a user in Xray's UI would.

``XraySimulator`` inherits these methods; ``POST /_sim/change {"op", "args"}`` calls ``change(op, **args)``
for other processes. Every change goes through the functions the mutations use (``sim.xray.changes``,
``edits``, ``run_changes``), so ``lastModified`` follows the same rules; each returns what it made or
touched and raises ``ChangeError`` where Xray would refuse. Files are ``{"filename", "data"}`` with
``data`` as bytes or base64 text.

- ``add(kind, project=, summary=, fields=None, **details)``: kind ``test`` (details ``test_type`` name,
  ``steps``, ``gherkin``, ``unstructured``, ``folder``, ``preconditions``), ``precondition``
  (``definition``, ``folder``, ``tests``), ``test_set`` / ``test_plan`` (``tests``), ``test_execution``
  (``tests``, ``environments``); returns ``{"issueId", "key"}``.
- ``edit(issue_id, **changes)``: Jira fields (``summary``, ``description``, ``labels``, ``priority``,
  ``assignee``, ``reporter``, ``components``, ``fixVersions``), a test's ``steps`` (replaced),
  ``gherkin``, ``unstructured``, ``test_type``, a test's or precondition's ``folder``, a precondition's
  ``definition``, an execution's ``environments`` (added); applied in that order, each one checked
  before it changes anything; returns ``{"issueId", "lastModified"}``.
- ``edit_run(run_id, status=, comment=, started_on=, finished_on=, assignee_id=, executed_by_id=,
  defects=)`` and ``edit_run_step(run_id, step_id, iteration_rank=None, status=, comment=,
  actual_result=, add_defects=, add_evidence=)``; ``add_evidence(run_id, files)``.
- ``delete(issue_id)``; ``link(holder_id, member_ids)`` / ``unlink(...)``: tests of a set, plan,
  execution or precondition, executions of a plan, preconditions of a test.
"""
from __future__ import annotations

import base64

from . import changes, edits, run_changes
from .clock import iso_ms
from .errors import ChangeError
from .records import kind_of, require

_MEMBER_RELATIONS = {("test_set", "test"): "set_tests", ("test_plan", "test"): "plan_tests",
                     ("test_execution", "test"): "execution_tests", ("precondition", "test"): "precondition_tests",
                     ("test_plan", "test_execution"): "plan_executions"}
_JIRA_EDITS = {"summary", "description", "labels", "priority", "assignee", "reporter", "components", "fixVersions"}


def _files(files) -> list[dict]:
    return [{**f, "data": base64.b64encode(f["data"]).decode("ascii") if isinstance(f.get("data"), bytes)
             else f.get("data")} for f in files or []]


def _steps(steps) -> list[dict]:
    return [{**s, "attachments": _files(s.get("attachments"))} for s in steps or []]


class AdminMixin:
    """Clock and change-driving methods of ``XraySimulator`` (needs ``self.dataset``)."""

    def set_clock(self, *, skew_seconds: float) -> None:
        """Run Xray's clock ``skew_seconds`` ahead of real UTC time (behind when negative)."""
        self.dataset.clock.set_skew(skew_seconds)

    def clock(self) -> dict:
        """``{"now", "skewSeconds"}``: the simulated Xray's time and its skew."""
        return {"now": iso_ms(self.dataset.clock.now()), "skewSeconds": self.dataset.clock.skew_seconds}

    def snapshot(self):
        """A deep copy of the current ground truth (a ``Dataset``; ``query`` works on it)."""
        return self.dataset.snapshot()

    def change(self, op: str, **args):
        """Apply one change by its method's name, with that method's keyword arguments."""
        if op not in ("add", "edit", "edit_run", "edit_run_step", "add_evidence", "delete", "link", "unlink"):
            raise ChangeError("op", f"unknown change {op!r}")
        return getattr(self, op)(**args)

    def add(self, kind: str, *, project: str, summary: str, fields: dict | None = None, **details) -> dict:
        """Create an issue of a kind (see the module docstring for the details each kind takes)."""
        jira = {"summary": summary, "project": {"key": project}, **(fields or {})}
        with self.dataset.lock:
            stamp = self.dataset.clock.stamp()
            if kind == "test":
                test_type = details.get("test_type")
                record = changes.create_test(
                    self.dataset, jira, stamp, type_ref={"name": test_type} if test_type else None,
                    steps=_steps(details.get("steps")), gherkin=details.get("gherkin"),
                    unstructured=details.get("unstructured"), folder_path=details.get("folder"),
                    precondition_ids=details.get("preconditions"))
            elif kind == "precondition":
                record = changes.create_precondition(self.dataset, jira, stamp, definition=details.get("definition"),
                                                     folder_path=details.get("folder"), test_ids=details.get("tests"))
            elif kind in ("test_set", "test_plan", "test_execution"):
                record = changes.create_holder(self.dataset, kind, jira, stamp, test_ids=details.get("tests"),
                                               environments=details.get("environments"))
            else:
                raise ChangeError("kind", f"unknown kind {kind!r}")
        return {"issueId": record["issueId"], "key": record["jira"]["key"]}

    def edit(self, issue_id: str, **changes_) -> dict:
        """Change an issue's fields, definition, folder or environments (see the module docstring)."""
        ds = self.dataset
        with ds.lock:
            kind = kind_of(ds, issue_id)
            if kind is None:
                raise ChangeError("issueId", f"Issue with id '{issue_id}' was not found.")
            record, stamp = require(ds, kind, issue_id), ds.clock.stamp()
            jira = {k: v for k, v in changes_.items() if k in _JIRA_EDITS}
            rest = {k: v for k, v in changes_.items() if k not in _JIRA_EDITS}
            if jira:
                edits.edit_fields(ds, record, jira, stamp)
            for name, value in rest.items():
                if name == "steps" and kind == "test":
                    edits.replace_steps(ds, record, _steps(value), stamp)
                elif name in ("gherkin", "unstructured") and kind == "test":
                    edits.set_definition(ds, record, stamp, **{name: value})
                elif name == "test_type" and kind == "test":
                    edits.set_test_type(ds, record, {"name": value}, stamp)
                elif name == "definition" and kind == "precondition":
                    edits.edit_precondition(ds, record, stamp, definition=value)
                elif name == "folder" and kind in ("test", "precondition"):
                    edits.move_to_folder(ds, record, value, stamp)
                elif name == "environments" and kind == "test_execution":
                    changes.add_environments(ds, issue_id, value, stamp)
                else:
                    raise ChangeError(name, f"{name} cannot be edited on a {kind}.")
            ds.reindex()
            return {"issueId": record["issueId"], "lastModified": record["lastModified"]}

    def edit_run(self, run_id: str, **fields) -> dict:
        """Change a run's status, comment, dates or people, or add defects; ``{"id", "lastModified"}``."""
        ds = self.dataset
        with ds.lock:
            run, stamp = run_changes.require_run(ds, run_id), ds.clock.stamp()
            defects = fields.pop("defects", None)
            run_changes.update_run(ds, run, stamp, **fields)
            if defects:
                run_changes.change_run_defects(ds, run, stamp, add=defects)
            return {"id": run["id"], "lastModified": run["lastModified"]}

    def edit_run_step(self, run_id: str, step_id: str, *, iteration_rank: str | None = None, **result) -> dict:
        """Record a step result (in an iteration when ``iteration_rank`` is given)."""
        ds = self.dataset
        with ds.lock:
            run = run_changes.require_run(ds, run_id)
            if "add_evidence" in result:
                result["add_evidence"] = _files(result["add_evidence"])
            return run_changes.update_step(ds, run, step_id, ds.clock.stamp(), iteration_rank=iteration_rank,
                                           **result)

    def add_evidence(self, run_id: str, files: list[dict]) -> list[str]:
        """Attach evidence files to a run; their attachment ids."""
        ds = self.dataset
        with ds.lock:
            return run_changes.add_run_evidence(ds, run_changes.require_run(ds, run_id), _files(files),
                                                ds.clock.stamp())

    def delete(self, issue_id: str) -> None:
        """Delete an issue as Xray does (out of every list, its runs gone)."""
        with self.dataset.lock:
            kind = kind_of(self.dataset, issue_id)
            if kind is None:
                raise ChangeError("issueId", f"Issue with id '{issue_id}' was not found.")
            changes.delete_issue(self.dataset, kind, issue_id, self.dataset.clock.stamp())

    def link(self, holder_id: str, member_ids: list[str]) -> list[str]:
        """Add members to a holder (the relation follows from the kinds); the ids added."""
        return self._relate(changes.link, holder_id, member_ids)

    def unlink(self, holder_id: str, member_ids: list[str]) -> list[str]:
        """The reverse of ``link``; the ids removed."""
        return self._relate(changes.unlink, holder_id, member_ids)

    def _relate(self, apply, holder_id, member_ids) -> list[str]:
        ds = self.dataset
        with ds.lock:
            holder = kind_of(ds, holder_id)
            member = kind_of(ds, member_ids[0]) if member_ids else None
            stamp = ds.clock.stamp()
            if (holder, member) == ("test", "precondition"):
                return [p for p in member_ids if apply(ds, "precondition_tests", p, [holder_id], stamp)]
            relation = _MEMBER_RELATIONS.get((holder, member))
            if relation is None:
                raise ChangeError("issueIds", f"A {holder} does not hold a {member}.")
            return apply(ds, relation, holder_id, member_ids, stamp)
