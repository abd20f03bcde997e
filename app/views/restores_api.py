"""The restore API: start a restore (or a dry run), follow it, and read its items report."""
from __future__ import annotations

import logging

from flask import Blueprint, Response, g, jsonify, request, stream_with_context

from ..errors import answers_json
from ..models import utcnow
from ..restore.service import items_csv, items_jsonl, list_restores, restore_json, start_restore, tenant_restore
from ..services import current_services

logger = logging.getLogger(__name__)

bp = answers_json(Blueprint("restores_api", __name__))


@bp.post("/api/restores")
def start():
    """Queue a restore of a succeeded run's snapshot: 202, or 404/409/422 before anything is queued."""
    services = current_services()
    restore = start_restore(g.tenant, request.get_json(silent=True), services, now=utcnow(),
                            account_id=getattr(g, "account_id", None))
    services.wake_workers()
    logger.info("restore %s of run %s queued by %s (dry run: %s)", restore.id, restore.run_id,
                getattr(g, "account_id", None), restore.dry_run)
    return jsonify(id=restore.id, status=restore.status), 202


@bp.get("/api/restores")
def list_all():
    return jsonify(restores=list_restores(g.tenant))


@bp.get("/api/restores/<restore_id>")
def one(restore_id: str):
    return jsonify(restore_json(tenant_restore(g.tenant, restore_id), detail=True))


@bp.get("/api/restores/<restore_id>/items")
def items(restore_id: str):
    """Every item in scope as JSON lines: entity, ids and keys before and after, outcome, reason."""
    restore = tenant_restore(g.tenant, restore_id)
    return Response(stream_with_context(items_jsonl(restore, g.tenant.base_url)), mimetype="application/x-ndjson",
                    headers={"Content-Disposition": f'attachment; filename="restore-{restore.id}-items.jsonl"'})


@bp.get("/api/restores/<restore_id>/report")
def report(restore_id: str):
    """The items report as CSV (for a spreadsheet)."""
    restore = tenant_restore(g.tenant, restore_id)
    return Response(stream_with_context(items_csv(restore, g.tenant.base_url)), mimetype="text/csv",
                    headers={"Content-Disposition": f'attachment; filename="restore-{restore.id}-report.csv"'})
