"""Short-lived, single-use snapshot download links: the URL carries a random token, never a JWT."""
from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import delete, update

from ...errors import AppError, Conflict, NotFound
from ...extensions import db
from ...models import BackupRun, DownloadLink, Tenant

LINK_TTL = timedelta(seconds=60)
TOKEN_BYTES = 32  # 256 bits; the database only ever sees the token's sha256
# Expired and used rows are kept this long (for the "already used" page), then removed on the next link.
KEEP_SPENT_LINKS = timedelta(days=1)
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{20,100}$")
_SITE_SUFFIXES = (".atlassian.net", ".jira.com", ".jira-dev.com")
_GET_A_NEW_ONE = "go back to the Backups page and click Download again."


class LinkGone(AppError):
    status, code, default_message = 410, "gone", "This download link has expired or was already used."


@dataclass(frozen=True)
class IssuedLink:
    token: str
    expires_at: datetime


@dataclass(frozen=True)
class Download:
    run: BackupRun
    tenant: Tenant
    filename: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def issue_link(tenant: Tenant, run_id: str, *, now: datetime, rng=secrets.token_urlsafe) -> IssuedLink:
    """Create a download link for one of the tenant's succeeded runs."""
    run = db.session.get(BackupRun, run_id) if isinstance(run_id, str) and len(run_id) <= 32 else None
    if run is None or run.tenant_id != tenant.id:
        raise NotFound("No backup run with this id.")
    if run.status != "succeeded" or not run.snapshot_key or run.deleted_at is not None:
        raise Conflict(_not_downloadable(run))
    db.session.execute(
        delete(DownloadLink).where(
            DownloadLink.tenant_id == tenant.id, DownloadLink.expires_at < now - KEEP_SPENT_LINKS
        )
    )
    token = rng(TOKEN_BYTES)
    expires_at = now + LINK_TTL
    db.session.add(
        DownloadLink(token_hash=hash_token(token), run_id=run.id, tenant_id=tenant.id, expires_at=expires_at)
    )
    db.session.commit()
    return IssuedLink(token=token, expires_at=expires_at)


def consume_link(token: str, *, now: datetime) -> Download:
    """Use a link exactly once: the conditional UPDATE lets only one of concurrent requests through."""
    if not isinstance(token, str) or not _TOKEN_SHAPE.match(token):
        raise NotFound("This download link does not exist.")
    token_hash = hash_token(token)
    claimed = db.session.execute(
        update(DownloadLink)
        .where(
            DownloadLink.token_hash == token_hash,
            DownloadLink.used_at.is_(None),
            DownloadLink.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    link = db.session.get(DownloadLink, token_hash)
    if link is None:
        raise NotFound("This download link does not exist.")
    if claimed.rowcount != 1:
        if link.used_at is not None:
            raise LinkGone(f"This download link was already used. Each link works once: {_GET_A_NEW_ONE}")
        raise LinkGone(f"This download link has expired. Links work for 60 seconds: {_GET_A_NEW_ONE}")
    run = db.session.get(BackupRun, link.run_id)
    tenant = db.session.get(Tenant, link.tenant_id)
    if (
        run is None
        or tenant is None
        or not tenant.installed
        or run.status != "succeeded"
        or not run.snapshot_key
        or run.deleted_at is not None
    ):
        raise LinkGone("This snapshot is no longer available (retention may have removed it).")
    return Download(run=run, tenant=tenant, filename=snapshot_filename(tenant, run))


def check_link(token: str, *, now: datetime) -> None:
    """Raise as `consume_link` would, without using the link up (for HEAD requests and link previews)."""
    well_formed = isinstance(token, str) and _TOKEN_SHAPE.match(token)
    link = db.session.get(DownloadLink, hash_token(token)) if well_formed else None
    if link is None:
        raise NotFound("This download link does not exist.")
    if link.used_at is not None or link.expires_at <= now:
        raise LinkGone("This download link has expired or was already used.")


def release_link(token: str, *, used_at: datetime) -> None:
    """Give an unused download back (nothing was sent yet, e.g. storage was unreachable)."""
    db.session.execute(
        update(DownloadLink)
        .where(DownloadLink.token_hash == hash_token(token), DownloadLink.used_at == used_at)
        .values(used_at=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def snapshot_filename(tenant: Tenant, run: BackupRun) -> str:
    """`xray-backup-<site>-<date>.zip`, safe in a Content-Disposition header."""
    host = (urlsplit(tenant.base_url or "").hostname or "jira").lower()
    for suffix in _SITE_SUFFIXES:
        if host.endswith(suffix) and host != suffix[1:]:
            host = host[: -len(suffix)]
            break
    site = re.sub(r"[^a-z0-9]+", "-", host).strip("-")[:60] or "jira"
    when = run.started_at or run.finished_at or run.queued_at
    return f"xray-backup-{site}-{when.strftime('%Y-%m-%d-%H%M')}.zip"


def _not_downloadable(run: BackupRun) -> str:
    if run.status == "succeeded":
        return "This snapshot is no longer stored (retention removed it)."
    if run.status in ("queued", "running"):
        return "This backup has not finished yet; it can be downloaded once it has succeeded."
    return f"Only succeeded backups can be downloaded; this one ended {run.status}."
