"""Single-use download links: the browser follows one (no JWT in the URL) and gets the snapshot zip once."""
from __future__ import annotations

import logging

from flask import Blueprint, Response, jsonify, render_template, request

from ..backups.lifecycle.datakeys import data_key_for
from ..backups.lifecycle.download_links import LinkGone, check_link, consume_link, release_link
from ..backups.store.backend import StorageError
from ..backups.store.zipstream import snapshot_zip
from ..connect.auth import public
from ..crypto import DecryptionError
from ..errors import NotFound, ServiceUnavailable
from ..models import utcnow
from ..services import current_services
from .backups_api import PRIVATE_HEADERS

logger = logging.getLogger(__name__)

bp = Blueprint("downloads", __name__)


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
        return Response(status=200, mimetype="application/zip", headers=PRIVATE_HEADERS)
    try:
        download = consume_link(token, now=now)
    except (NotFound, LinkGone) as exc:
        return _error_page(exc.status, exc.message)
    services = current_services()
    try:
        data_key = data_key_for(download.tenant, now, services.sealer)
        chunks = snapshot_zip(services.store, download.run.snapshot_key, data_key,
                              download.filename.removesuffix(".zip"))
    except (StorageError, LookupError, DecryptionError) as exc:  # nothing left yet: the link stays usable
        logger.error("snapshot download of run %s failed to start: %s", download.run.id, type(exc).__name__)
        release_link(token, used_at=now)
        error = ServiceUnavailable("The snapshot storage is unavailable right now. Try the same link again shortly.")
        return _error_page(error.status, error.message)
    logger.info("snapshot of run %s downloaded (tenant %s)", download.run.id, download.tenant.id)
    response = Response(chunks, mimetype="application/zip", direct_passthrough=True)
    response.headers["Content-Disposition"] = f'attachment; filename="{download.filename}"'
    response.headers["X-Content-Type-Options"] = "nosniff"
    # The page follows the link inside Jira's iframe: the tenant's Jira may frame the (attachment) response.
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; frame-ancestors 'self' {download.tenant.base_url.rstrip('/')}"
    )
    response.headers.update(PRIVATE_HEADERS)
    return response


def _error_page(status: int, message: str):
    """This route's own error answer: a page for the browser that followed the link, JSON when asked for."""
    wants_json = request.accept_mimetypes.best_match(["text/html", "application/json"]) == "application/json"
    if wants_json:
        response = jsonify(error="gone" if status == 410 else "not_found" if status == 404 else "unavailable",
                           message=message)
    else:
        response = Response(render_template("backups/download_error.html", status=status, message=message),
                            mimetype="text/html")
    response.status_code = status
    response.headers.update(PRIVATE_HEADERS)
    return response
