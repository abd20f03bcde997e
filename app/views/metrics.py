"""`/metrics`: the Prometheus text format. With METRICS_TOKEN set it needs `Authorization: Bearer <token>`;
without it, it is open in development and absent (404) in production."""
from __future__ import annotations

import hmac

from flask import Blueprint, Response, request
from prometheus_client import CONTENT_TYPE_LATEST

from ..connect.auth import public
from ..errors import NotFound, Unauthorized, answers_json
from ..extensions import db
from ..models import utcnow
from ..ops import metrics
from ..services import current_services

bp = answers_json(Blueprint("metrics", __name__))


class MetricsTokenRequired(Unauthorized):
    default_message = "/metrics needs 'Authorization: Bearer <METRICS_TOKEN>'."


def _authorized(expected: str) -> bool:
    scheme, _, token = request.headers.get("Authorization", "").strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode(), expected.encode())


@bp.get("/metrics")
@public
def metrics_view():
    """Counters shared by every process and gauges read from the database now."""
    config = current_services().config
    if config.metrics_token is None:
        if config.is_production:
            raise NotFound()
    elif not _authorized(config.metrics_token):
        raise MetricsTokenRequired()
    metrics.record(db.engine, {})  # this process's own Xray request counts, so the scrape is current
    body = metrics.render(metrics.read_scrape(db.session, utcnow()))
    db.session.rollback()
    return Response(body, mimetype=None, content_type=CONTENT_TYPE_LATEST)
