"""The alert tables: a tenant's alert settings and its incidents (one open at a time, kept by the database)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models import UTCDateTime

WEBHOOK_FIELD = "alert_webhook_url"


class AlertSettings(db.Model):
    """Where a tenant's alerts go: e-mail addresses and a webhook URL (sealed: for Slack the URL is the secret)."""

    __tablename__ = "alert_settings"

    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True)
    emails: Mapped[list] = mapped_column(JSON, default=list)
    webhook_url_enc: Mapped[str | None] = mapped_column(Text)
    notify_on: Mapped[list] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_by: Mapped[str | None] = mapped_column(String(128))


class AlertIncident(db.Model):
    """One stretch of "backups are not OK" for a tenant, from its first sign to its recovery.

    The partial unique index keeps one open incident per tenant, so of several processes that see the same
    problem only the one whose insert lands sends the alert; the recovery is sent by the one whose conditional
    update closes it.
    """

    __tablename__ = "alert_incidents"
    __table_args__ = (
        Index("uq_alert_incidents_one_open", "tenant_id", unique=True,
              sqlite_where=db.text("resolved_at IS NULL"), postgresql_where=db.text("resolved_at IS NULL")),
        Index("ix_alert_incidents_tenant_opened", "tenant_id", "opened_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # failed | skipped | stale
    run_id: Mapped[str | None] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the opening alert was sent (or claimed)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recovery_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# Sealed columns of this package, walked by `keys rotate` with app.models.SEALED_COLUMNS.
SEALED_COLUMNS = ((AlertSettings, "webhook_url_enc", WEBHOOK_FIELD),)
