"""What changed between two of the tenant's snapshots ("What changed" on the Backups page)."""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from ..backups.changes.service import changes_between, parse_limit
from ..errors import answers_json
from ..models import utcnow
from ..services import current_services

bp = answers_json(Blueprint("changes_api", __name__))


@bp.get("/api/backups/<run_id>/changes")
def changes(run_id: str):
    """Added, modified and removed items per entity from the snapshot of run `since` to this run's; `limit` caps
    each list (default 500, at most 5000), `counts` and `truncated` say what a capped list leaves out."""
    services = current_services()
    limit = parse_limit(request.args.get("limit"))
    return jsonify(changes_between(g.tenant, run_id, request.args.get("since"), store=services.store,
                                   sealer=services.sealer, now=utcnow(), limit=limit))
