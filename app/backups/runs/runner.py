"""One claimed backup run end to end: credentials → projects → export → verify → publish → outcome.

Everything is written to a temporary folder under the instance folder, verified by re-reading it, and only then
published through the snapshot store. Any failure leaves nothing published and removes the temporary data. The
runner does not end the run: it returns a `RunOutcome` (with a message an admin can act on, retryable for an
outage) that its caller records with `status.settle`.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Callable

from sqlalchemy import update

from ...connect.jira import JiraClient, JiraError
from ...extensions import db
from ...logs import Damper
from ...models import BackupRun, utcnow
from ...presentation import iso
from ...tenants import shared_secret
from ...urls import Purpose, policy_for
from ...xray.client import XrayClient
from ...xray.errors import XrayAuthError, XrayError, XrayQueryError, XrayUnavailable
from ..export.exporter import ExportError, Exporter
from ..export.incremental import IncrementalExporter, NeedsFullRead
from ..export.merge import since_for
from ..export.parent import ParentSnapshot, ParentUnusable, load_parent
from ..lifecycle.datakeys import data_key_for
from ..snapshot.verifier import verify_snapshot
from ..snapshot.writer import SnapshotWriter
from ..store.backend import StorageError
from . import reasons
from .parents import FULL, INCREMENTAL, plan_backup
from .status import RunOutcome, RunStatus

logger = logging.getLogger(__name__)
_damper = Damper(logger)

NO_CREDENTIALS = ("No Xray credentials are saved: Xray data was not backed up. An administrator can save them on "
                  "the Xray Credentials page (Jira settings → Apps → Xray Credentials).")
PROGRESS_EVERY_SECONDS = 2.0
STALE_TEMP_SECONDS = 24 * 3600


class RunStopped(Exception):
    """This worker no longer owns the run: stop, publish nothing, record nothing."""


class RunFailed(Exception):
    """The run failed for good; the message is the admin-facing text, `detail` the technical one."""

    def __init__(self, message: str, reason: str = reasons.UNEXPECTED, detail: str | None = None):
        super().__init__(message)
        self.reason, self.detail = reason, detail

    @property
    def fields(self) -> dict:
        return {"reason": self.reason, "detail": self.detail}


class TransientFailure(RunFailed):
    """Xray, Jira or the storage was unavailable past its retry budget; the run may be retried later."""


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


def execute_run(run_id: str, services, *, now: Callable[[], datetime] = utcnow,
                still_owner: Callable[[], bool] = lambda: True, progress: Callable[[dict], None] | None = None,
                client_factory: Callable | None = None) -> RunOutcome | None:
    """Execute one claimed (`running`) run; return its outcome, or None when there is nothing to record.

    None: the run is unknown, not running, or this worker lost it (`still_owner()` turned False) — nothing was
    published. `client_factory(tenant, access)` builds the Xray client (tests pass their own).
    """
    run = db.session.get(BackupRun, run_id, populate_existing=True)
    if run is None:
        logger.warning("run %s does not exist", run_id)
        return None
    if run.status != RunStatus.RUNNING:
        logger.info("run %s is %s, not running: nothing to do", run_id, run.status)
        return None
    tenant = run.tenant
    access = services.credentials.access(tenant)
    if access is None:
        logger.info("run %s skipped: no Xray credentials", run_id)
        return RunOutcome(RunStatus.SKIPPED, NO_CREDENTIALS,
                          dict(counts={}, warnings=[], requests=0, bytes=0, progress=None,
                               reason=reasons.CREDENTIALS_MISSING))

    root = services.config.temp_path
    root.mkdir(parents=True, exist_ok=True)
    remove_stale_temp(root)
    work = Path(tempfile.mkdtemp(prefix=f"{run_id}-", dir=root))
    client = None
    try:
        client = (client_factory or paced_client(services))(tenant, access)
        fields = _run(run, tenant, access, client, work, services, now=now, still_owner=still_owner,
                      progress=progress)
        if not still_owner():
            raise RunStopped()
        message = fields.pop("message")
        return RunOutcome(RunStatus.SUCCEEDED, message, fields)
    except RunStopped:
        logger.warning("run %s: this worker lost the run; stopped without publishing", run_id)
        return None
    except TransientFailure as exc:
        return RunOutcome.failed(str(exc), retryable=True, **exc.fields, **_partial(client))
    except RunFailed as exc:
        return RunOutcome.failed(str(exc), **exc.fields, **_partial(client))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _partial(client) -> dict:
    stats = getattr(client, "stats", None)
    return {"requests": getattr(stats, "requests", None)} if stats is not None else {}


def paced_client(services, *, sleep: Callable[[float], None] | None = None,
                 on_event: Callable[[str, dict], None] | None = None) -> Callable:
    """Build a tenant's Xray client on its shared pacer; `sleep` and `on_event` let a terminal show the waits."""

    def make(tenant, access):
        # One pacer per tenant, shared through the database by every thread and process (web, schedulers, runners).
        pacer = services.pacers.for_tenant(tenant.client_key, sleep=sleep)
        waits = {"sleep": sleep} if sleep is not None else {}
        return XrayClient(access.base_url, access.client_id, access.client_secret, pacer=pacer, on_event=on_event,
                          download_policy=policy_for(Purpose.XRAY_DOWNLOAD, production=services.config.is_production),
                          **waits)

    return make


def _list_projects(tenant, services) -> list[dict]:
    try:
        jira = JiraClient(tenant, shared_secret=shared_secret(tenant, services.sealer), app_key=services.config.app_key,
                          session=services.outbound(Purpose.TENANT_SITE))
        return list(jira.iter_projects())
    except JiraError as exc:
        status = getattr(exc, "status", None)
        if status in (401, 403):
            raise RunFailed("Jira refused to list the projects to the app. Check that the app is installed "
                            "and enabled on the site.", reasons.JIRA_REFUSED, str(exc)) from None
        raise TransientFailure("Jira could not be reached to list the projects; the backup will be retried.",
                               reasons.JIRA_UNAVAILABLE, str(exc)) from None


def _run(run: BackupRun, tenant, access, client, work: Path, services, *, now, still_owner, progress) -> dict:
    """Export (incrementally when a parent allows), verify and publish; return the fields to record on success."""
    started = run.started_at or now()
    projects = _list_projects(tenant, services)
    reporter = _ProgressReporter(run.id, progress)

    def checkpoint() -> None:
        if not still_owner():
            raise RunStopped()

    def writer_in(name: str) -> SnapshotWriter:
        return SnapshotWriter(work / name, run_id=run.id, started_at=iso(started), xray_api_url=access.base_url)

    plan = plan_backup(run, now())
    reason, parent = plan.reason, None
    if plan.kind == INCREMENTAL:
        parent, reason = _load_parent(plan.parent, tenant, services, work, now)
    writer, exporter = writer_in("snapshot"), None
    if parent is not None:
        exporter = IncrementalExporter(client, writer, parent, since=since_for(parent.started_at), progress=reporter,
                                       checkpoint=checkpoint)
        try:
            _export(exporter, projects)
        except (NeedsFullRead, IncompleteList) as exc:
            logger.info("run %s: incremental read abandoned (%s); reading everything", run.id, exc)
            writer.abort()
            reason, parent = f"{_sentence(str(exc))}, so everything was read", None
            writer, exporter = writer_in("snapshot-full"), None
    if exporter is None:
        exporter = Exporter(client, writer, progress=reporter, checkpoint=checkpoint)
        _export(exporter, projects)
    stats = client.stats
    manifest = writer.finish(finished_at=iso(now()), requests=stats.requests)
    checkpoint()
    snapshot_dir = writer.root
    result = verify_snapshot(snapshot_dir)
    if not result.ok:
        logger.error("run %s: snapshot failed verification: %s", run.id, "; ".join(result.problems[:5]))
        raise RunFailed("The snapshot failed verification after it was written. Nothing was published; run the "
                        "backup again.", reasons.VERIFICATION_FAILED, result.problems[0])
    size = sum(p.stat().st_size for p in snapshot_dir.rglob("*") if p.is_file())
    counts = writer.counts()
    checkpoint()  # the last moment to learn the run is no longer ours: nothing is published yet
    reuse_key = plan.reuse.snapshot_key if plan.reuse is not None else None
    snapshot_key, stored = _publish(tenant, run.id, snapshot_dir, services, now, parent_key=reuse_key)
    incremental = parent is not None
    changed = exporter.changed_json() if incremental else None
    message = _summary(counts, manifest["warnings"])
    message = (f"Incremental backup: {_changes_text(changed)} {message}" if incremental
               else f"Full backup ({reason}). {message}" if reason else message)
    return {"counts": counts, "bytes": size, "requests": stats.requests, "warnings": manifest["warnings"],
            "snapshot_key": snapshot_key, "message": message, "progress": reporter.last,
            "projects": list(writer.projects), "reason": None, "detail": None,
            "kind": INCREMENTAL if incremental else FULL, "parent_id": plan.parent.id if incremental else None,
            "changed": changed, "stored_bytes": stored}


class IncompleteList(Exception):
    """A list could not be read whole during an incremental read: a full read is tried instead."""


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:].rstrip(".")


def _load_parent(parent_run: BackupRun, tenant, services, work: Path, now) -> tuple[ParentSnapshot | None, str | None]:
    """The parent's snapshot fetched and checked, or None and why everything is read instead."""
    try:
        data_key = data_key_for(tenant, now(), services.sealer)
    except LookupError:
        return None, "the snapshot key of this site is gone, so the previous snapshot cannot be read"
    key = parent_run.snapshot_key
    try:
        return load_parent(lambda path: services.store.read_file(key, data_key, path), work / "parent"), None
    except ParentUnusable as exc:
        logger.warning("run parent %s unusable: %s", parent_run.id, exc)
        return None, f"{exc}, so everything was read"


def _export(exporter: Exporter, projects: list[dict]) -> None:
    """Run the exporter, turning Xray's failures into the run's admin-facing failures."""
    try:
        exporter.export(projects)
    except XrayAuthError as exc:
        raise RunFailed("Xray rejected the saved API key (Client ID and Client Secret). Check or renew it on the "
                        "Xray Credentials page, then run the backup again.", reasons.CREDENTIALS_REJECTED,
                        str(exc)) from None
    except XrayUnavailable as exc:
        raise TransientFailure(f"Xray did not respond while reading {exporter.stage} of project "
                               f"{(exporter.project or {}).get('key')}, so nothing was saved. Xray may be down or "
                               "overloaded; try again later.", reasons.XRAY_UNAVAILABLE, str(exc)) from None
    except XrayQueryError as exc:
        raise RunFailed(f"Xray refused to return {exporter.stage} of project {(exporter.project or {}).get('key')}. "
                        "Check that the Xray API key's user can browse this project.", reasons.XRAY_REFUSED,
                        str(exc)) from None
    except XrayError as exc:
        raise RunFailed(f"Xray failed while reading {exporter.stage}; nothing was saved. Run the backup again.",
                        reasons.XRAY_UNAVAILABLE, str(exc)) from None
    except ExportError as exc:
        if isinstance(exporter, IncrementalExporter):
            raise IncompleteList(str(exc)) from None
        raise RunFailed(str(exc), reasons.INCOMPLETE_EXPORT) from None


def _publish(tenant, run_id: str, snapshot_dir: Path, services, now, *, parent_key: str | None) -> tuple[str, int]:
    try:
        data_key = data_key_for(tenant, now(), services.sealer)
        return publish_snapshot(services.store, tenant.client_key, run_id, snapshot_dir, data_key,
                                parent_key=parent_key)
    except StorageError as exc:
        raise TransientFailure("The snapshot could not be stored: the backup storage was unavailable.",
                               reasons.STORAGE_UNAVAILABLE, str(exc)) from None


def publish_snapshot(store, tenant_key: str, run_id: str, snapshot_dir: Path, data_key: bytes, *,
                     parent_key: str | None) -> tuple[str, int]:
    """Store a snapshot folder, reusing what `parent_key` already stored; its key and the bytes it added."""
    key = store.publish(tenant_key, run_id, snapshot_dir, data_key, parent_key=parent_key)
    return key, store.added_bytes(key)


def _changes_text(changed: dict) -> str:
    items = sum(c["added"] + c["modified"] + c["removed"] for e, c in changed.items() if e != "attachments")
    files = changed["attachments"]["added"]
    return f"{items} changed item(s), {files} new attachment(s) read from Xray."


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
                _damper.failure(f"progress of run {self.run_id}", logging.WARNING,
                                "run %s: could not record progress (%s)", self.run_id, type(exc).__name__)
