"""The runs API: start a backup, list runs, one run's details, its snapshot as a zip, a download link."""
from __future__ import annotations

import logging

from flask import Blueprint, Response, g, jsonify, request

from ..backups.lifecycle.datakeys import data_key_for
from ..backups.lifecycle.download_links import issue_link
from ..backups.runs.enqueue import enqueue_manual
from ..backups.runs.history import list_runs, parse_statuses, run_details, tenant_run
from ..backups.store.backend import StorageError
from ..backups.store.zipstream import snapshot_zip
from ..crypto import DecryptionError
from ..errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed, answers_json
from ..jsonbody import request_json
from ..models import utcnow
from ..presentation import iso
from ..services import current_services

logger = logging.getLogger(__name__)

bp = answers_json(Blueprint("backups_api", __name__))

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
# The link must not leak onwards, and nothing on the way may keep a copy.
PRIVATE_HEADERS = {"Cache-Control": "no-cache, no-store, must-revalidate", "Referrer-Policy": "no-referrer"}


def _full_requested(body) -> bool:
    """`{"full": true}` asks for a full backup; no body (or no `full`) lets the schedule's rules decide."""
    if body is None:
        return False
    if not isinstance(body, dict):
        raise ValidationFailed("The request body must be a JSON object.", fields={"full": "Expected true or false."})
    full = body.get("full", False)
    if not isinstance(full, bool):
        raise ValidationFailed("full must be true or false.", fields={"full": "Expected true or false."})
    return full


@bp.post("/api/backups")
def start_backup():
    """Queue a backup now (`{"full": true}`: a full one): 202 with the run, or 409 when one is queued or running."""
    run = enqueue_manual(g.tenant, utcnow(), full=_full_requested(request_json(required=False)))
    current_services().wake_workers()
    logger.info("manual backup %s queued by %s", run.id, getattr(g, "account_id", None))
    return jsonify(id=run.id, status=run.status), 202


def _int_arg(name: str, default: int, low: int, high: int | None) -> int:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f"at least {low}"
        raise ValidationFailed(f"{name} must be a whole number {bound}.", fields={name: f"Expected a number {bound}."})
    return value


@bp.get("/api/backups")
def list_backups():
    """The tenant's runs, newest first; paged by `limit` with `offset` or `before` (a run id); `status` filters
    (comma-separated statuses, an additive extension)."""
    page = list_runs(g.tenant, limit=_int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT),
                     offset=_int_arg("offset", 0, 0, None), before=request.args.get("before") or None,
                     statuses=parse_statuses(request.args.get("status")))
    return jsonify(runs=page.runs, total=page.total, next=page.next)


@bp.get("/api/backups/<run_id>")
def get_backup(run_id: str):
    """One run with per-entity counts, warnings, error text and live progress."""
    return jsonify(run_details(tenant_run(g.tenant, run_id)))


@bp.get("/api/backups/<run_id>/snapshot")
def download_backup(run_id: str):
    """The run's snapshot as a zip, decrypted on the fly; only for a succeeded run."""
    run = tenant_run(g.tenant, run_id)
    if run.status != "succeeded" or not run.snapshot_key:
        raise Conflict(f"This backup is {run.status}: only a succeeded backup has a snapshot to download.")
    if run.deleted_at is not None:
        raise NotFound("This snapshot was deleted by the retention policy.")
    services = current_services()
    name = f"xray-backup-{run.id}"
    try:
        chunks = snapshot_zip(services.store, run.snapshot_key, data_key_for(g.tenant, utcnow(), services.sealer), name)
    except (StorageError, LookupError, DecryptionError) as exc:
        logger.error("snapshot of run %s could not be read: %s", run.id, type(exc).__name__)
        raise ServiceUnavailable("The snapshot storage is unavailable or the snapshot could not be read.") from None
    response = Response(chunks, mimetype="application/zip", direct_passthrough=True)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.zip"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/api/backups/<run_id>/download-link")
def create_download_link(run_id: str):
    """Issue a 60-second single-use link to a succeeded run's snapshot (the browser follows it, no JWT in it)."""
    link = issue_link(g.tenant, run_id, now=utcnow())
    url = f"{current_services().config.app_base_url}/downloads/{link.token}"
    logger.info("download link issued for run %s by %s", run_id, getattr(g, "account_id", None))
    response = jsonify(url=url, expiresAt=iso(link.expires_at))
    response.headers.update(PRIVATE_HEADERS)
    return response, 201
