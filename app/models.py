"""Database tables. One place knows each table; behaviour lives in the service modules."""
from __future__ import annotations

import uuid
from datetime import datetime, timezone

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, BigInteger, String, Text, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from .extensions import db


class UTCDateTime(TypeDecorator):
    """Store aware UTC datetimes; SQLite drops tzinfo, so put it back on the way out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc) if value is not None else None

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value


def new_id() -> str:
    return uuid.uuid4().hex


class Tenant(db.Model):
    """A Jira site that installed the app, keyed by its clientKey (never by baseUrl, which changes)."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    client_key: Mapped[str] = mapped_column(String(255), unique=True)
    shared_secret_enc: Mapped[str] = mapped_column(Text)
    base_url: Mapped[str] = mapped_column(String(255))
    display_url: Mapped[str | None] = mapped_column(String(255))
    product_type: Mapped[str] = mapped_column(String(32), default="jira")
    description: Mapped[str | None] = mapped_column(String(255))
    server_version: Mapped[str | None] = mapped_column(String(64))
    plugins_version: Mapped[str | None] = mapped_column(String(64))
    oauth_client_id: Mapped[str | None] = mapped_column(String(255))
    installed: Mapped[bool] = mapped_column(Boolean, default=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    uninstalled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    purge_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The Forge installation ARI from the verified `installed` body: Forge Remote calls name the tenant by it.
    installation_id: Mapped[str | None] = mapped_column(String(255), unique=True, index=True)

    @property
    def active(self) -> bool:
        return self.installed and self.enabled


class XrayCredential(db.Model):
    """A tenant's Xray API key; the secret is stored only encrypted, bound to the tenant and field."""

    __tablename__ = "xray_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), unique=True)
    client_id: Mapped[str] = mapped_column(String(256))
    client_secret_enc: Mapped[str] = mapped_column(Text)
    region: Mapped[str] = mapped_column(String(16), default="global")
    status: Mapped[str] = mapped_column(String(16), default="unverified")
    status_message: Mapped[str | None] = mapped_column(String(500))
    tests_visible: Mapped[int | None] = mapped_column(Integer)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str | None] = mapped_column(String(128))


class CredentialAudit(db.Model):
    """Who saved, changed, removed or tested credentials, when, and the outcome (never the values)."""

    __tablename__ = "credential_audit"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[str | None] = mapped_column(String(128))
    action: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class BackupSettings(db.Model):
    """A tenant's schedule and retention."""

    __tablename__ = "backup_settings"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    frequency: Mapped[str] = mapped_column(String(16), default="daily")
    time_of_day: Mapped[str] = mapped_column(String(5))
    day_of_week: Mapped[int | None] = mapped_column(Integer)
    retention_days: Mapped[int | None] = mapped_column(Integer, default=30)
    retention_count: Mapped[int | None] = mapped_column(Integer)
    # Days between full backups (others are incremental); None: only the first and requested ones are full.
    full_every_days: Mapped[int | None] = mapped_column(Integer, default=7, server_default="7")
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


ACTIVE_STATUSES = ("queued", "running")
FINAL_STATUSES = ("succeeded", "failed", "skipped", "cancelled")


class BackupRun(db.Model):
    """One backup run; also the work queue row that workers claim with a lease."""

    __tablename__ = "backup_runs"
    __table_args__ = (
        # Several schedulers may enqueue the same slot: the database keeps one.
        UniqueConstraint("tenant_id", "slot_at", name="uq_backup_runs_tenant_slot"),
        # At most one queued or running run per tenant.
        Index(
            "uq_backup_runs_one_active",
            "tenant_id",
            unique=True,
            sqlite_where=db.text("status IN ('queued', 'running')"),
            postgresql_where=db.text("status IN ('queued', 'running')"),
        ),
        Index("ix_backup_runs_status_queued", "status", "queued_at"),
        Index("ix_backup_runs_tenant_queued", "tenant_id", "queued_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    trigger: Mapped[str] = mapped_column(String(16), default="manual")
    slot_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    worker_id: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict | None] = mapped_column(JSON)
    progress: Mapped[dict | None] = mapped_column(JSON)
    bytes: Mapped[int | None] = mapped_column(BigInteger)
    requests: Mapped[int | None] = mapped_column(Integer)
    warnings: Mapped[list | None] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(Text)
    snapshot_key: Mapped[str | None] = mapped_column(String(255))
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the first attempt started (started_at is the current attempt's): one duration across retries.
    first_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(String(32))  # why a run failed or was skipped (runs/reasons.py)
    detail: Mapped[str | None] = mapped_column(Text)  # the technical detail behind the admin-facing message
    projects: Mapped[list | None] = mapped_column(JSON)  # [{"id", "key", "name"}] a succeeded run covered
    # Incremental backups: what the run was, what it built on, what changed, what it added to storage.
    kind: Mapped[str | None] = mapped_column(String(16))  # "full" | "incremental" (None: before incrementals)
    parent_id: Mapped[str | None] = mapped_column(String(32))  # the run whose snapshot an incremental one built on
    changed: Mapped[dict | None] = mapped_column(JSON)
    stored_bytes: Mapped[int | None] = mapped_column(BigInteger)
    full_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())

    tenant: Mapped[Tenant] = relationship()


class TenantDataKey(db.Model):
    """A tenant's snapshot data key, wrapped by the key ring; deleting it crypto-shreds the snapshots."""

    __tablename__ = "tenant_data_keys"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    wrapped_key: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class DownloadLink(db.Model):
    """A short-lived single-use snapshot download link; only the token's hash is stored."""

    __tablename__ = "download_links"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("backup_runs.id", ondelete="CASCADE"))
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class XrayPacerSlot(db.Model):
    """One Xray request of a tenant in the shared pacing window (app/xray/shared_pacer.py).

    ``at`` is epoch seconds: when the request started, then when its answer came back. Tenants are keyed by a
    hash of the clientKey (no foreign key: the pacer knows only that hash).
    """

    __tablename__ = "xray_pacer_slots"
    __table_args__ = (Index("ix_xray_pacer_slots_tenant_at", "tenant_hash", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_hash: Mapped[str] = mapped_column(String(32))
    at: Mapped[float] = mapped_column(Float)


class XrayPacerHold(db.Model):
    """Until when no Xray request of a tenant may start (Xray answered 429 with a wait), in epoch seconds."""

    __tablename__ = "xray_pacer_holds"

    tenant_hash: Mapped[str] = mapped_column(String(32), primary_key=True)
    hold_until: Mapped[float] = mapped_column(Float)


# Encrypted columns and the field each is bound to (app/sealing.py); key rotation walks this list.
SHARED_SECRET_FIELD = "connect_shared_secret"
XRAY_SECRET_FIELD = "xray_client_secret"
DATA_KEY_FIELD = "snapshot_data_key"
SEALED_COLUMNS = (
    (Tenant, "shared_secret_enc", SHARED_SECRET_FIELD),
    (XrayCredential, "client_secret_enc", XRAY_SECRET_FIELD),
    (TenantDataKey, "wrapped_key", DATA_KEY_FIELD),
)


def utcnow() -> datetime:
    """The current time as an aware UTC datetime (entrypoints pass it down as `now`)."""
    return datetime.now(timezone.utc)
