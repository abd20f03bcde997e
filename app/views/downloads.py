"""Snapshot downloads: the page asks for a single-use link, the browser follows it (no JWT in the URL)."""
from __future__ import annotations

import logging
from itertools import chain

from flask import Blueprint, Response, g, jsonify, render_template, request

from .. import app_config
from ..backups.downloads import LinkGone, check_link, consume_link, issue_link, release_link
from ..connect.auth import public
from ..errors import NotFound, ServiceUnavailable
from ..models import utcnow

logger = logging.getLogger(__name__)

bp = Blueprint("downloads", __name__)

# The link page must not leak its token onwards, and nothing on the way may keep a copy.
_PRIVATE_HEADERS = {"Cache-Control": "no-cache, no-store, must-revalidate", "Referrer-Policy": "no-referrer"}


@bp.post("/api/backups/<run_id>/download-link")
def create_download_link(run_id: str):
    """Issue a 60-second single-use link to a succeeded run's snapshot."""
    link = issue_link(g.tenant, run_id, now=utcnow())
    url = f"{app_config().app_base_url}/downloads/{link.token}"
    logger.info("download link issued for run %s by %s", run_id, getattr(g, "account_id", None))
    response = jsonify(url=url, expiresAt=_iso(link.expires_at))
    response.headers.update(_PRIVATE_HEADERS)
    return response, 201


@bp.get("/downloads/<token>")
@public
def download_snapshot(token: str):
    """Stream the decrypted snapshot zip once; a used, expired or unknown link gets a page saying so."""
    now = utcnow()
    if request.method == "HEAD":  # a preview or a probe must not use the link up
        try:
            check_link(token, now=now)
        except (NotFound, LinkGone) as exc:
            return _error_page(exc.status, exc.message)
        return Response(status=200, mimetype="application/zip", headers=_PRIVATE_HEADERS)
    try:
        download = consume_link(token, now=now)
    except (NotFound, LinkGone) as exc:
        return _error_page(exc.status, exc.message)
    try:
        chunks = _zip_chunks(download, now)
        first = next(chunks, b"")
    except Exception as exc:  # storage or key trouble before any byte left: the link stays usable
        logger.error("snapshot download of run %s failed to start: %s", download.run.id, type(exc).__name__)
        release_link(token, used_at=now)
        error = ServiceUnavailable("The snapshot storage is unavailable right now. Try the same link again shortly.")
        return _error_page(error.status, error.message)
    logger.info("snapshot of run %s downloaded (tenant %s)", download.run.id, download.tenant.id)
    response = Response(chain([first], chunks), mimetype="application/zip", direct_passthrough=True)
    response.headers["Content-Disposition"] = f'attachment; filename="{download.filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    # The page follows the link inside Jira's iframe: the tenant's Jira may frame the (attachment) response.
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; frame-ancestors 'self' {download.tenant.base_url.rstrip('/')}"
    )
    response.headers.update(_PRIVATE_HEADERS)
    return response


def _zip_chunks(download, now):
    from ..backups.datakeys import data_key_for
    from ..backups.storage import open_store
    from ..backups.zipstream import zip_stream

    store = open_store(app_config())
    data_key = data_key_for(download.tenant, now)
    root_name = download.filename.removesuffix(".zip")
    return iter(zip_stream(store, download.run.snapshot_key, data_key, root_name))


def _error_page(status: int, message: str):
    wants_json = request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"
    if wants_json:
        response = jsonify(error="gone" if status == 410 else "not_found" if status == 404 else "unavailable",
                           message=message)
    else:
        response = Response(render_template("backups/download_error.html", status=status, message=message),
                            mimetype="text/html")
    response.status_code = status
    response.headers.update(_PRIVATE_HEADERS)
    return response


def _iso(value) -> str:
    return value.isoformat().replace("+00:00", "Z")
