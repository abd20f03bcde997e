"""`/healthz` (the database answers) and `/readyz` (database, storage, a live scheduler): public, no data.

Both answer within 5 s whatever the database or the storage does (app/ops/probes.py bounds every check).
"""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..connect.auth import public
from ..errors import answers_json
from ..services import current_services

bp = answers_json(Blueprint("health", __name__))


@bp.get("/healthz")
@public
def healthz():
    """200 when the database answers a trivial query in time, 503 otherwise."""
    if current_services().probes.healthy():
        return jsonify({"status": "ok"})
    return jsonify({"status": "unavailable"}), 503


@bp.get("/readyz")
@public
def readyz():
    """200 when the database and the storage answer and a scheduler/worker process is alive; 503 naming what is not."""
    readiness = current_services().probes.readiness()
    return jsonify(readiness.as_dict()), 200 if readiness.ready else 503
