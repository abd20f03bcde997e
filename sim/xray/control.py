"""The ``/_sim/...`` control routes other processes use to drive the simulator (none of them is Xray's).

``answer(sim, method, path, payload)`` returns ``(status, body)``; the handler sends it. Routes:

- ``GET|POST /_sim/faults`` (POST replaces the faults; see ``sim.xray.server``), ``GET /_sim/stats``,
  ``POST /_sim/stats/reset``, ``POST /_sim/revoke-tokens``, ``POST /_sim/clients``
  ``{"client_id", "client_secret", "region"?}``;
- ``GET|POST /_sim/clock``: ``{"now", "skewSeconds"}``; POST ``{"skew_seconds"}`` sets the skew;
- ``POST /_sim/change`` ``{"op", "args"}``: one change through ``XraySimulator.change`` (ops: ``add``,
  ``edit``, ``edit_run``, ``edit_run_step``, ``add_evidence``, ``delete``, ``link``, ``unlink``);
  ``{"result"}``, or 400 ``{"error"}`` when Xray would refuse it (nothing changed);
- ``GET /_sim/snapshot``: the ground truth's records (relation keys included), attachments and folders;
- ``POST /_sim/query`` ``{"query", "variables"?}``: a document over the ground truth without Xray's
  limits (``Dataset.query``), not counted as a request;
- ``GET|POST /_sim/imports``: ``{"delay", "jobs": [{"id", "user", "status"}]}``; POST ``{"delay"}`` sets
  how long a bulk import job takes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from .errors import ChangeError

if TYPE_CHECKING:
    from .server import XraySimulator

SNAPSHOT_ATTRIBUTES = ("projects", "tests", "preconditions", "test_sets", "test_plans", "test_executions",
                       "test_runs", "folders", "project_settings", "attachments", "components", "versions",
                       "people")


def snapshot_body(sim: "XraySimulator") -> dict:
    """The ground truth as JSON: the dataset's stable attributes, relation keys included."""
    copy = sim.snapshot()
    return {name: getattr(copy, name) for name in SNAPSHOT_ATTRIBUTES}


def answer(sim: "XraySimulator", method: str, path: str, payload: dict) -> tuple[int, object]:
    """The status and JSON body of a control request."""
    route = (method, path)
    if path == "/_sim/faults" and method in ("GET", "POST"):
        if method == "POST":
            try:
                sim.set_faults(**payload)
            except (TypeError, ValueError) as exc:
                return 400, {"error": str(exc)}
        return 200, sim.faults
    if route == ("GET", "/_sim/stats"):
        return 200, sim.stats()
    if route == ("POST", "/_sim/stats/reset"):
        sim.reset_stats()
        return 200, sim.stats()
    if route == ("POST", "/_sim/revoke-tokens"):
        sim.revoke_tokens()
        return 204, b""
    if route == ("POST", "/_sim/clients"):
        try:
            sim.add_client(payload["client_id"], payload["client_secret"], payload.get("region", "global"))
        except (KeyError, TypeError):
            return 400, {"error": "client_id and client_secret are required"}
        return 204, b""
    if path == "/_sim/clock" and method in ("GET", "POST"):
        if method == "POST":
            try:
                sim.set_clock(skew_seconds=float(payload["skew_seconds"]))
            except (KeyError, TypeError, ValueError):
                return 400, {"error": "skew_seconds (a number) is required"}
        return 200, sim.clock()
    if route == ("POST", "/_sim/change"):
        try:
            return 200, {"result": sim.change(payload["op"], **(payload.get("args") or {}))}
        except ChangeError as exc:
            return 400, {"error": exc.message, "field": exc.field}
        except (KeyError, TypeError, ValueError) as exc:
            return 400, {"error": f"bad change request: {exc}"}
    if route == ("GET", "/_sim/snapshot"):
        return 200, snapshot_body(sim)
    if route == ("POST", "/_sim/query"):
        if not isinstance(payload.get("query"), str):
            return 400, {"error": "query is required"}
        return 200, sim.dataset.query(payload["query"], payload.get("variables"), base_url=sim.url)
    if path == "/_sim/imports" and method in ("GET", "POST"):
        if method == "POST":
            try:
                sim.imports.delay = float(payload["delay"])
            except (KeyError, TypeError, ValueError):
                return 400, {"error": "delay (seconds) is required"}
        return 200, sim.imports.summary()
    return 404, {"error": "Not found"}
