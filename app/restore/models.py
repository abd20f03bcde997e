"""The restore tables: the restore jobs (a queue with leases, like backup runs), their items, the tenant's id map."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models import BackupRun, Tenant, UTCDateTime, new_id


class Restore(db.Model):
    """One restore (or dry run) of a snapshot into the tenant's Xray; also the queue row workers claim."""

    __tablename__ = "restores"
    __table_args__ = (
        # At most one queued or running restore (dry runs included) per tenant.
        Index(
            "uq_restores_one_active",
            "tenant_id",
            unique=True,
            sqlite_where=db.text("status IN ('queued', 'running')"),
            postgresql_where=db.text("status IN ('queued', 'running')"),
        ),
        Index("ix_restores_status_queued", "status", "queued_at"),
        Index("ix_restores_tenant_queued", "tenant_id", "queued_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    run_id: Mapped[str] = mapped_column(ForeignKey("backup_runs.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    # {"SRC": {"id", "key", "name"}}: each snapshot project in scope and the Jira project it restores into.
    targets: Mapped[dict] = mapped_column(JSON)
    issue_keys: Mapped[list | None] = mapped_column(JSON)
    requested_by: Mapped[str | None] = mapped_column(String(128))
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    plan: Mapped[dict | None] = mapped_column(JSON)
    counts: Mapped[dict | None] = mapped_column(JSON)
    progress: Mapped[dict | None] = mapped_column(JSON)
    requests: Mapped[int | None] = mapped_column(Integer)
    message: Mapped[str | None] = mapped_column(Text)

    tenant: Mapped[Tenant] = relationship()
    run: Mapped[BackupRun] = relationship()


class RestoreItem(db.Model):
    """One item of a restore's scope: what the plan decided, and what became of it."""

    __tablename__ = "restore_items"
    __table_args__ = (Index("ix_restore_items_order", "restore_id", "seq"),)

    restore_id: Mapped[str] = mapped_column(ForeignKey("restores.id", ondelete="CASCADE"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(32), primary_key=True)
    source_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer)
    source_key: Mapped[str | None] = mapped_column(String(255))
    source_project: Mapped[str | None] = mapped_column(String(255))  # the snapshot project's key
    action: Mapped[str] = mapped_column(String(16))  # create | existing | link | skip
    outcome: Mapped[str | None] = mapped_column(String(16))  # created | existing | linked | skipped | failed
    target_id: Mapped[str | None] = mapped_column(String(64))
    target_key: Mapped[str | None] = mapped_column(String(255))
    reason: Mapped[str | None] = mapped_column(Text)


class RestoreIdMap(db.Model):
    """The tenant's old → new ids: what restores created (and, while in flight, what they were creating).

    A row in state ``creating`` is written before the request that creates the item (its ``fingerprint`` says what
    the item will look like in Xray); ``created`` with the new id once Xray answered. A restore finding a
    ``creating`` row looks for the item in Xray before creating it again.
    """

    __tablename__ = "restore_id_map"
    __table_args__ = (
        UniqueConstraint("tenant_id", "entity", "source_id", "target_project_id", name="uq_restore_id_map_item"),
        Index("ix_restore_id_map_state", "tenant_id", "entity", "target_project_id", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    entity: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[str] = mapped_column(String(64))
    target_project_id: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16))  # creating | created
    target_id: Mapped[str | None] = mapped_column(String(64))
    target_key: Mapped[str | None] = mapped_column(String(255))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    job_ref: Mapped[str | None] = mapped_column(String(128))  # the bulk import job an intent went out in
    intent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    restore_id: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

