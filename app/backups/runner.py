"""One claimed backup run end to end: credentials → projects → export → verify → publish → record.

Everything is written to a temporary folder under the instance folder, verified by re-reading it, and only then
published through the snapshot store. Any failure leaves nothing published, removes the temporary data and ends
the run `failed` with a message an admin can act on (or queues it again, for a transient outage).
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable

from sqlalchemy import update

from .. import app_config
from ..extensions import db
from ..models import BackupRun, utcnow
from .exporter import ExportError, Exporter
from .snapshot import SnapshotWriter, verify_snapshot

logger = logging.getLogger(__name__)

NO_CREDENTIALS = ("No Xray credentials are saved: Xray data was not backed up. An administrator can save them on "
                  "the Xray Credentials page (Jira settings → Apps → Xray Credentials).")
PROGRESS_EVERY_SECONDS = 2.0
STALE_TEMP_SECONDS = 24 * 3600


class RunStopped(Exception):
    """This worker no longer owns the run: stop, publish nothing, record nothing."""


class RunFailed(Exception):
    """The run failed for good; the message is the admin-facing text."""


class TransientFailure(Exception):
    """Xray or Jira was unreachable past the client's retry budget; the run may be retried later."""


def _iso(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def temp_root() -> Path:
    return Path(app_config().instance_path) / "tmp" / "backups"


def remove_stale_temp(root: Path, older_than_seconds: float = STALE_TEMP_SECONDS) -> int:
    """Remove temporary run folders left by crashed processes; return how many."""
    removed = 0
    if not root.is_dir():
        return 0
    limit = time.time() - older_than_seconds
    for child in root.iterdir():
        try:
            if child.stat().st_mtime < limit:
                shutil.rmtree(child, ignore_errors=True)
                removed += 1
        except OSError:
            continue
    return removed


def execute_run(run_id: str, *, now: Callable[[], datetime] = utcnow, still_owner: Callable[[], bool] = lambda: True,
                progress: Callable[[dict], None] | None = None, retry_transient: bool = True,
                client_factory: Callable | None = None) -> BackupRun | None:
    """Execute one claimed (`running`) run; return the run as recorded (None if it is unknown)."""
    run = db.session.get(BackupRun, run_id, populate_existing=True)
    if run is None:
        logger.warning("run %s does not exist", run_id)
        return None
    if run.status != "running":
        logger.info("run %s is %s, not running: nothing to do", run_id, run.status)
        return run
    tenant = run.tenant
    worker_id = run.worker_id
    from .queue import fail_or_retry, finish

    from ..credentials import xray_access

    access = xray_access(tenant)
    if access is None:
        finish(run_id, worker_id, now(), "skipped", message=NO_CREDENTIALS,
               counts={}, warnings=[], requests=0, bytes=0, progress=None)
        logger.info("run %s skipped: no Xray credentials", run_id)
        return _reload(run_id)

    root = temp_root()
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_temp(root)
    work = Path(tempfile.mkdtemp(prefix=f"{run_id}-", dir=root))
    client = None
    try:
        client = (client_factory or _make_client)(tenant, access)
        outcome = _run(run, tenant, access, client, work, now=now, still_owner=still_owner, progress=progress)
        if not still_owner():
            raise RunStopped()
        if not finish(run_id, worker_id, now(), "succeeded", **outcome):
            logger.warning("run %s: published, but the run was no longer this worker's to record", run_id)
    except RunStopped:
        logger.warning("run %s: this worker lost the run; stopped without publishing", run_id)
    except RunFailed as exc:
        finish(run_id, worker_id, now(), "failed", message=str(exc), **_partial(client))
    except TransientFailure as exc:
        if retry_transient and worker_id:
            fail_or_retry(run_id, worker_id, now(), str(exc))
        else:
            finish(run_id, worker_id, now(), "failed", message=str(exc), **_partial(client))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return _reload(run_id)


def _reload(run_id: str) -> BackupRun | None:
    return db.session.get(BackupRun, run_id, populate_existing=True)


def _partial(client) -> dict:
    stats = getattr(client, "stats", None)
    return {"requests": getattr(stats, "requests", None)} if stats is not None else {}


def _make_client(tenant, access):
    from ..xray.client import XrayClient
    from ..xray.shared_pacer import shared_pacer_for

    # One pacer per tenant, shared through the database by every thread and process (web, schedulers, runners).
    pacer = shared_pacer_for(tenant.client_key, app_config().xray_rate_limit)
    return XrayClient(access.base_url, access.client_id, access.client_secret, pacer=pacer)


def _list_projects(tenant) -> list[dict]:
    from ..connect.jira import JiraClient, JiraError

    try:
        return list(JiraClient(tenant).iter_projects())
    except JiraError as exc:
        status = getattr(exc, "status", None)
        if status in (401, 403):
            raise RunFailed("Jira refused to list the projects to the app (HTTP %s). Check that the app is installed "
                            "and enabled on the site." % status) from None
        raise TransientFailure("Jira could not be reached to list the projects; the backup will be retried.") from None


def _run(run: BackupRun, tenant, access, client, work: Path, *, now, still_owner, progress) -> dict:
    """Export, verify and publish; return the fields to record on a succeeded run."""
    from ..xray.errors import XrayAuthError, XrayError, XrayQueryError, XrayUnavailable

    started = run.started_at or now()
    projects = _list_projects(tenant)
    snapshot_dir = work / "snapshot"
    writer = SnapshotWriter(snapshot_dir, run_id=run.id, started_at=_iso(started), xray_api_url=access.base_url)
    reporter = _ProgressReporter(run.id, progress)

    def checkpoint() -> None:
        if not still_owner():
            raise RunStopped()

    exporter = Exporter(client, writer, progress=reporter, checkpoint=checkpoint)
    try:
        exporter.export(projects)
    except XrayAuthError:
        raise RunFailed("Xray rejected the saved API key (Client ID and Client Secret). Check or renew it on the "
                        "Xray Credentials page, then run the backup again.") from None
    except XrayUnavailable as exc:
        raise TransientFailure(f"Xray was unavailable while reading {exporter.stage} of project "
                               f"{(exporter.project or {}).get('key')}: {exc} Xray may be down or overloaded; "
                               "nothing was published, and the backup can be run again later.") from None
    except XrayQueryError as exc:
        raise RunFailed(f"Xray refused a query while reading {exporter.stage} of project "
                        f"{(exporter.project or {}).get('key')}: {exc}") from None
    except XrayError as exc:
        raise RunFailed(f"Xray failed while reading {exporter.stage}: {exc}") from None
    except ExportError as exc:
        raise RunFailed(str(exc)) from None
    stats = client.stats
    manifest = writer.finish(finished_at=_iso(now()), requests=stats.requests)
    checkpoint()
    result = verify_snapshot(snapshot_dir)
    if not result.ok:
        logger.error("run %s: snapshot failed verification: %s", run.id, "; ".join(result.problems[:5]))
        raise RunFailed("The snapshot failed verification after it was written (" + result.problems[0] +
                        "). Nothing was published; run the backup again.")
    size = sum(p.stat().st_size for p in snapshot_dir.rglob("*") if p.is_file())
    counts = writer.counts()
    checkpoint()  # the last moment to learn the run is no longer ours: nothing is published yet
    snapshot_key = _publish(tenant, run.id, snapshot_dir, now)
    return {"counts": counts, "bytes": size, "requests": stats.requests, "warnings": manifest["warnings"],
            "snapshot_key": snapshot_key, "message": _summary(counts, manifest["warnings"]),
            "progress": reporter.last}


def _publish(tenant, run_id: str, snapshot_dir: Path, now) -> str:
    from .datakeys import data_key_for
    from .storage import StorageError, open_store

    try:
        store = open_store(app_config())
        data_key = data_key_for(tenant, now())
        return store.publish(tenant.client_key, run_id, snapshot_dir, data_key)
    except StorageError as exc:
        raise TransientFailure(f"The snapshot could not be stored: {exc}") from None


def _summary(counts: dict, warnings: list) -> str:
    text = (f"Backed up {counts.get('tests', 0)} tests, {counts.get('test_runs', 0)} test runs and "
            f"{counts.get('attachments', 0)} attachments.")
    if warnings:
        text += f" {len(warnings)} warning(s): see the run details."
    return text


class _ProgressReporter:
    """Record progress on the run every few seconds and pass every update to the caller's callback."""

    def __init__(self, run_id: str, callback):
        self.run_id = run_id
        self.callback = callback
        self.last: dict | None = None
        self._saved_at = 0.0

    def __call__(self, info: dict) -> None:
        self.last = info
        if self.callback is not None:
            self.callback(info)
        moment = time.monotonic()
        if moment - self._saved_at >= PROGRESS_EVERY_SECONDS:
            self._saved_at = moment
            try:
                db.session.execute(update(BackupRun).where(BackupRun.id == self.run_id, BackupRun.status == "running")
                                   .values(progress=info).execution_options(synchronize_session=False))
                db.session.commit()
            except Exception as exc:  # progress is advisory: a busy database must not fail the backup
                db.session.rollback()
                logger.warning("run %s: could not record progress (%s)", self.run_id, type(exc).__name__)
