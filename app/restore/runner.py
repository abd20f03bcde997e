"""One claimed restore end to end: read the snapshot → read the target → plan (first attempt) → apply → outcome.

Like a backup run, the runner never ends the restore itself: it returns a `RunOutcome` that its caller (a worker
or `flask restore run`) records with `jobs.settle_restore`. A lost lease stops it at the next checkpoint, before
any further write; the next attempt resumes from the stored plan, the items and the id map.
"""
from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Callable

from sqlalchemy import update

from ..backups.lifecycle.datakeys import data_key_for
from ..backups.runs.status import RunOutcome, RunStatus
from ..backups.store.backend import SnapshotIntegrityError, StorageError
from ..connect.jira import JiraClient, JiraError
from ..extensions import db
from ..models import utcnow
from ..tenants import shared_secret
from ..xray.client import XrayClient
from ..xray.errors import XrayAuthError, XrayError, XrayQueryError, XrayUnavailable
from . import idmap
from .apply import apply_plan, summarize
from .bulk import SETTLE_SECONDS
from .context import Attempt
from .models import Restore
from .planning import build_index, load_items, plan_now, read_view, scope_of, settle_dry_run
from ..backups.snapshot.source import SnapshotSource, SnapshotUnreadable
from .writer import WriteGaveUp, Writer

logger = logging.getLogger(__name__)

NO_CREDENTIALS = ("No Xray credentials are saved, so nothing could be restored. Save them on the Xray Credentials "
                  "page, then start the restore again.")
REJECTED = ("Xray rejected the saved API key (Client ID and Client Secret) during the restore. {done} Fix the "
            "credentials on the Xray Credentials page, then start the restore again: what was restored is found "
            "and not created twice.")
PROGRESS_EVERY_SECONDS = 2.0


class RestoreStopped(Exception):
    """This worker no longer owns the restore: stop before the next write, record nothing."""


def paced_client(services) -> Callable:
    def make(tenant, access):
        # The tenant's one pacer, shared with its backups through the database.
        return XrayClient(access.base_url, access.client_id, access.client_secret,
                          pacer=services.pacers.for_tenant(tenant.client_key))

    return make


class _Progress:
    """Record progress on the restore every few seconds; pass every update to the caller's callback."""

    def __init__(self, restore_id: str, client, callback):
        self.restore_id, self.client, self.callback = restore_id, client, callback
        self._saved_at = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        stats = getattr(self.client, "stats", None)
        info = {"stage": stage, "done": done, "total": total, "requests": getattr(stats, "requests", 0),
                "rateLimitWaits": getattr(stats, "rate_limit_waits", 0)}
        if self.callback is not None:
            self.callback(info)
        if time.monotonic() - self._saved_at < PROGRESS_EVERY_SECONDS and done < total:
            return
        self._saved_at = time.monotonic()
        try:
            db.session.execute(update(Restore).where(Restore.id == self.restore_id, Restore.status == "running")
                               .values(progress=info).execution_options(synchronize_session=False))
            db.session.commit()
        except Exception as exc:  # progress is advisory: a busy database must not fail the restore
            db.session.rollback()
            logger.warning("restore %s: could not record progress (%s)", self.restore_id, type(exc).__name__)


def execute_restore(restore_id: str, services, *, now: Callable[[], datetime] = utcnow,
                    still_owner: Callable[[], bool] = lambda: True, progress: Callable[[dict], None] | None = None,
                    client_factory: Callable | None = None, sleep: Callable[[float], None] = time.sleep,
                    settle_seconds: float = SETTLE_SECONDS) -> RunOutcome | None:
    """Execute one claimed (`running`) restore; its outcome, or None when there is nothing to record."""
    restore = db.session.get(Restore, restore_id, populate_existing=True)
    if restore is None or restore.status != "running":
        return None
    tenant, run = restore.tenant, restore.run
    if run is None or run.status != "succeeded" or not run.snapshot_key or run.deleted_at is not None:
        return RunOutcome.failed("The snapshot of this backup is no longer stored (removed by retention?); "
                                 "nothing was restored.")
    access = services.credentials.access(tenant)
    if access is None:
        return RunOutcome.failed(NO_CREDENTIALS)
    client = (client_factory or paced_client(services))(tenant, access)
    requests_before = restore.requests or 0

    def checkpoint() -> None:
        if not still_owner():
            raise RestoreStopped()

    def fields(**more) -> dict:
        return {"requests": requests_before + client.stats.requests, **more}

    try:
        attempt = _attempt(restore, tenant, run, services, client, now, checkpoint, progress, sleep)
        attempt.settle_seconds = settle_seconds
        if restore.plan is None:
            attempt.report("plan", 0, 1)
            plan_now(attempt, restore)
            attempt.items.update(load_items(restore.id))
        if restore.dry_run:
            settle_dry_run(attempt.items)
            checkpoint()
            counts, message, failed = summarize(attempt, restore, dry_run=True)
            return RunOutcome(RunStatus.SUCCEEDED, message, fields(counts=counts, progress=None))
        apply_plan(attempt, restore.plan or {})
        checkpoint()
        counts, message, failed = summarize(attempt, restore)
        status = RunStatus.FAILED if failed else RunStatus.SUCCEEDED
        return RunOutcome(status, message, fields(counts=counts, progress=None))
    except RestoreStopped:
        logger.warning("restore %s: this worker lost the restore; stopped", restore_id)
        db.session.rollback()
        return None
    except XrayAuthError:
        db.session.rollback()
        return RunOutcome.failed(REJECTED.format(done=_done_so_far(restore_id)), **fields())
    except (XrayUnavailable, WriteGaveUp) as exc:
        db.session.rollback()
        return RunOutcome.failed(f"Xray was unavailable: {exc}", retryable=True, **fields())
    except XrayQueryError as exc:
        db.session.rollback()
        return RunOutcome.failed(f"Xray refused a request the restore needs: {exc}", **fields())
    except XrayError as exc:
        db.session.rollback()
        return RunOutcome.failed(f"Xray failed during the restore: {exc}", **fields())
    except JiraError as exc:
        db.session.rollback()
        status = getattr(exc, "status", None)
        if status in (401, 403):
            return RunOutcome.failed(f"Jira refused the app's request (HTTP {status}); check that the app is "
                                     "installed and enabled.", **fields())
        return RunOutcome.failed("Jira could not be reached; the restore will resume.", retryable=True, **fields())
    except (SnapshotIntegrityError, SnapshotUnreadable) as exc:
        db.session.rollback()
        return RunOutcome.failed(f"The snapshot could not be read: {exc}", **fields())
    except StorageError as exc:
        db.session.rollback()
        return RunOutcome.failed(f"The snapshot storage was unavailable: {exc}", retryable=True, **fields())


def _attempt(restore, tenant, run, services, client, now, checkpoint, progress, sleep) -> Attempt:
    source = SnapshotSource(services.store, run.snapshot_key, data_key_for(tenant, now(), services.sealer))
    jira = JiraClient(tenant, shared_secret=shared_secret(tenant, services.sealer), app_key=services.config.app_key)
    index = build_index(source)
    scope = scope_of(restore, index)
    mapped = idmap.load_map(tenant.id)
    view = read_view(client, jira, index, scope, restore, mapped)
    writer = Writer(client, tenant.id, restore.id, now, checkpoint, sleep)
    return Attempt(restore_id=restore.id, tenant_id=tenant.id, client=client, source=source, index=index,
                   scope=scope, view=view, mapped=mapped, items=load_items(restore.id), writer=writer, now=now,
                   checkpoint=checkpoint, report=_Progress(restore.id, client, progress), sleep=sleep)


def _done_so_far(restore_id: str) -> str:
    items = load_items(restore_id)
    created = sum(1 for row in items.values() if row.outcome == "created")
    linked = sum(1 for row in items.values() if row.outcome == "linked")
    return (f"Before it stopped, {created} item(s) were created and {linked} re-linked (see the items report)."
            if created or linked else "Nothing had been restored yet.")
