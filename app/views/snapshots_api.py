"""Snapshots as the restore flow sees them: upload one, browse one (projects, items, one item), list the site's
projects a restore can go into."""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from flask import Blueprint, g, jsonify, request

from ..backups.runs.history import run_details, tenant_run
from ..backups.store.backend import StorageError
from ..connect.jira import JiraClient, JiraError
from ..errors import Conflict, PayloadTooLarge, ServiceUnavailable, ValidationFailed, answers_json
from ..models import utcnow
from ..restore import explorer
from ..restore.service import snapshot_of
from ..backups.snapshot.source import SnapshotUnreadable
from ..restore.upload import import_snapshot, receive
from ..services import current_services
from ..tenants import shared_secret

logger = logging.getLogger(__name__)

bp = answers_json(Blueprint("snapshots_api", __name__))

ZIP_TYPES = {"application/zip", "application/x-zip-compressed", "application/octet-stream"}


@bp.post("/api/snapshots")
def upload():
    """Import an `xray-backup/1` zip: 201 with the new (imported) run, 422 naming the first bad file, 413 if too big."""
    services = current_services()
    limit = services.config.max_upload_mb * 1024 * 1024
    # This route alone takes large bodies; the app's 64 KB limit stays for every other one.
    request.max_content_length = limit
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"The snapshot is larger than the {services.config.max_upload_mb} MiB this app accepts "
                              "(MAX_UPLOAD_MB).")
    if request.mimetype not in ZIP_TYPES:
        raise ValidationFailed("Upload the snapshot as a zip (Content-Type: application/zip).",
                               fields={"Content-Type": "Expected application/zip."})
    root = Path(services.config.instance_path) / "tmp" / "uploads"
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=root, suffix=".zip", delete=False) as handle:
        path = Path(handle.name)
    try:
        size = receive(request.stream, path, limit)
        run = import_snapshot(g.tenant, path, size, services, utcnow())
    finally:
        path.unlink(missing_ok=True)
    logger.info("snapshot uploaded by %s as run %s", getattr(g, "account_id", None), run.id)
    return jsonify(run_details(run)), 201


def _source(run_id: str):
    run = tenant_run(g.tenant, run_id)
    if run.status != "succeeded" or not run.snapshot_key or run.deleted_at is not None:
        raise Conflict(f"This backup is {run.status}: only a stored, succeeded snapshot can be explored.")
    return snapshot_of(g.tenant, run, current_services(), utcnow())


def _reading(call):
    try:
        return call()
    except (StorageError, LookupError, SnapshotUnreadable) as exc:
        logger.error("snapshot could not be read for the explorer: %s", type(exc).__name__)
        raise ServiceUnavailable("The snapshot could not be read right now; try again shortly.") from None


def _int(name: str, default: int, high: int) -> int:
    raw = request.args.get(name) or ""
    if not raw:
        return default
    if not raw.isdigit() or int(raw) > high:
        raise ValidationFailed(f"{name} must be a whole number from 0 to {high}.", fields={name: "Expected a number."})
    return int(raw)


@bp.get("/api/snapshots/<run_id>")
def contents(run_id: str):
    """What a snapshot holds, project by project."""
    source = _source(run_id)
    return jsonify(runId=run_id, **_reading(lambda: explorer.contents(source)))


@bp.get("/api/snapshots/<run_id>/items")
def items(run_id: str):
    """A page of the snapshot's items: `project` (key), `entity`, `q` (in the key or summary), `offset`, `limit`."""
    source = _source(run_id)
    offset, limit = _int("offset", 0, 10_000_000), _int("limit", 50, explorer.MAX_LIMIT)
    return jsonify(_reading(lambda: explorer.search(
        source, project=request.args.get("project") or None, entity=request.args.get("entity") or None,
        query=request.args.get("q"), offset=offset, limit=limit)))


@bp.get("/api/snapshots/<run_id>/items/<entity>/<issue_id>")
def item(run_id: str, entity: str, issue_id: str):
    """One item as the snapshot holds it: steps and files, definition, links, runs with their results."""
    source = _source(run_id)
    return jsonify(_reading(lambda: explorer.detail(source, entity, issue_id)))


@bp.get("/api/jira-projects")
def jira_projects():
    """The site's projects (where a restore can go)."""
    services = current_services()
    jira = JiraClient(g.tenant, shared_secret=shared_secret(g.tenant, services.sealer), app_key=services.config.app_key)
    try:
        return jsonify(projects=list(jira.iter_projects()))
    except JiraError:
        raise ServiceUnavailable("Jira could not list its projects right now; try again shortly.") from None
