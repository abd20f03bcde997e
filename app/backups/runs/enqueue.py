"""Putting runs in the queue: the database decides, so several schedulers and web processes race safely.

One run per tenant and slot (`uq_backup_runs_tenant_slot`) and at most one queued or running run per tenant
(`uq_backup_runs_one_active`): inserts use ON CONFLICT DO NOTHING, so nobody reads-then-writes.
Every function commits its own short transaction and takes `now` from the caller.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select, update

from ...errors import Conflict
from ...extensions import db, insert_ignoring_conflict, is_postgresql
from ...models import BackupRun, BackupSettings, Tenant, XrayCredential, new_id
from ..schedule import rules
from ..schedule.settings import create_missing_settings

logger = logging.getLogger(__name__)

ENQUEUE_BATCH = 200


class RunAlreadyActive(Conflict):
    default_message = "A backup is already queued or running for this site."


def enqueue_manual(tenant: Tenant, now: datetime, *, full: bool = False) -> BackupRun:
    """Queue a backup now (a full one when `full`); raise RunAlreadyActive (409) when one is queued or running."""
    run_id = new_id()
    inserted = _insert_run(run_id, tenant.id, "manual", None, now, full=full)
    if not inserted:
        db.session.rollback()
        raise RunAlreadyActive()
    db.session.commit()
    return db.session.get(BackupRun, run_id)


def enqueue_due(now: datetime) -> int:
    """Queue one scheduled run per active tenant whose slot is due, advance its next slot; return runs queued."""
    create_missing_settings(now)
    queued = 0
    while True:
        query = (
            select(BackupSettings)
            .join(Tenant, Tenant.id == BackupSettings.tenant_id)
            .where(
                BackupSettings.enabled.is_(True),
                BackupSettings.next_run_at <= now,
                Tenant.installed.is_(True),
                Tenant.enabled.is_(True),
            )
            .order_by(BackupSettings.next_run_at)
            .limit(ENQUEUE_BATCH)
        )
        if is_postgresql():
            query = query.with_for_update(skip_locked=True, of=BackupSettings)
        due = db.session.scalars(query).all()
        # Without credentials a run could only be skipped: the slot passes without a run (the page and the
        # alerts say "waiting for credentials" instead of a skipped row per slot).
        ready = set(db.session.scalars(select(XrayCredential.tenant_id).where(
            XrayCredential.tenant_id.in_([s.tenant_id for s in due])))) if due else set()
        for settings in due:
            slot = rules.due_slot(settings, now)
            if slot is None:
                continue
            if settings.tenant_id in ready:
                # A slot falling while a run is already active is covered by that run (one active per tenant).
                queued += _insert_run(new_id(), settings.tenant_id, "scheduled", slot, now)
            db.session.execute(
                update(BackupSettings)
                .where(
                    BackupSettings.tenant_id == settings.tenant_id,
                    BackupSettings.next_run_at == settings.next_run_at,
                )
                .values(next_run_at=rules.next_slot(settings, now))
                .execution_options(synchronize_session=False)
            )
        db.session.commit()
        if len(due) < ENQUEUE_BATCH:
            return queued


def _insert_run(run_id: str, tenant_id: int, trigger: str, slot_at: datetime | None, now: datetime, *,
                full: bool = False) -> int:
    statement = insert_ignoring_conflict(BackupRun, dict(
        id=run_id, tenant_id=tenant_id, status="queued", trigger=trigger, slot_at=slot_at, queued_at=now, attempts=0,
        full_requested=full,
    )).returning(BackupRun.id)
    # RETURNING, not rowcount: the driver reports -1 for skipped conflicts through the ORM path.
    return len(db.session.execute(statement).all())
