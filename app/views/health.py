"""`/healthz`: public, no data; answers 200 when the database answers."""
from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from ..connect.auth import public
from ..errors import answers_json
from ..extensions import db

logger = logging.getLogger(__name__)
bp = answers_json(Blueprint("health", __name__))


@bp.get("/healthz")
@public
def healthz():
    """Check the database with a trivial query."""
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        logger.warning("health check: database unavailable (%s)", type(exc).__name__)
        db.session.rollback()
        return jsonify({"status": "unavailable"}), 503
    return jsonify({"status": "ok"})
