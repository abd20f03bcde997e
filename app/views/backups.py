"""The runs API: start a backup, list runs, one run's details, and its snapshot as a zip stream."""
from __future__ import annotations

import logging
from itertools import chain

from flask import Blueprint, Response, current_app, g, jsonify, request
from sqlalchemy import and_, func, or_, select

from .. import app_config
from ..errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from ..extensions import db
from ..models import BackupRun, utcnow
from .backups_page import run_json

logger = logging.getLogger(__name__)

bp = Blueprint("backups", __name__)

DEFAULT_LIMIT = 20
MAX_LIMIT = 100


@bp.post("/api/backups")
def start_backup():
    """Queue a backup now: 202 with the run, or 409 when one is already queued or running."""
    from ..backups.queue import enqueue_manual

    run = enqueue_manual(g.tenant, utcnow())
    pool = current_app.extensions.get("backup_worker_pool")
    if pool is not None and hasattr(pool, "wake"):
        pool.wake()
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
    """The tenant's runs, newest first; paged by `limit` with `offset` or `before` (a run id)."""
    limit = _int_arg("limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int_arg("offset", 0, 0, None)
    tenant = g.tenant
    query = select(BackupRun).where(BackupRun.tenant_id == tenant.id)
    before = request.args.get("before")
    if before:
        anchor = _tenant_run(before)
        query = query.where(or_(BackupRun.queued_at < anchor.queued_at,
                                and_(BackupRun.queued_at == anchor.queued_at, BackupRun.id < anchor.id)))
    rows = db.session.scalars(query.order_by(BackupRun.queued_at.desc(), BackupRun.id.desc())
                              .limit(limit + 1).offset(offset)).all()
    total = db.session.scalar(select(func.count()).select_from(BackupRun).where(BackupRun.tenant_id == tenant.id))
    runs = [_summary(run) for run in rows[:limit]]
    return jsonify(runs=runs, total=total, next=runs[-1]["id"] if len(rows) > limit else None)


@bp.get("/api/backups/<run_id>")
def get_backup(run_id: str):
    """One run with per-entity counts, warnings, error text and live progress."""
    return jsonify(_details(_tenant_run(run_id)))


@bp.get("/api/backups/<run_id>/snapshot")
def download_backup(run_id: str):
    """The run's snapshot as a zip, decrypted on the fly; only for a succeeded run."""
    run = _tenant_run(run_id)
    if run.status != "succeeded" or not run.snapshot_key:
        raise Conflict(f"This backup is {run.status}: only a succeeded backup has a snapshot to download.")
    if run.deleted_at is not None:
        raise NotFound("This snapshot was deleted by the retention policy.")
    from ..backups.datakeys import data_key_for
    from ..backups.storage import StorageError, open_store
    from ..backups.zipstream import zip_stream

    name = f"xray-backup-{run.id}"
    try:
        chunks = iter(zip_stream(open_store(app_config()), run.snapshot_key, data_key_for(g.tenant, utcnow()), name))
        first = next(chunks, b"")
    except StorageError as exc:
        logger.error("snapshot of run %s could not be read: %s", run.id, type(exc).__name__)
        raise ServiceUnavailable("The snapshot storage is unavailable or the snapshot could not be read.") from None
    response = Response(chain([first], chunks), mimetype="application/zip", direct_passthrough=True)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.zip"'
    response.headers["Cache-Control"] = "no-store"
    return response


def _tenant_run(run_id: str) -> BackupRun:
    run = db.session.get(BackupRun, run_id) if isinstance(run_id, str) and 0 < len(run_id) <= 32 else None
    if run is None or run.tenant_id != g.tenant.id:
        raise NotFound("No backup run with this id.")
    return run


def _summary(run: BackupRun) -> dict:
    data = run_json(run)
    data["requests"] = run.requests
    return data


def _details(run: BackupRun) -> dict:
    data = _summary(run)
    data["error"] = run.message if run.status == "failed" else None
    data["attempts"] = run.attempts
    return data
