"""Tables of the Connect layer: lifecycle tokens already accepted (kept until they expire)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models import UTCDateTime


class AcceptedLifecycleToken(db.Model):
    """The sha256 of a lifecycle token that verified, with the body it came with, until the token expires.

    Only digests are kept: a row cannot be turned back into a usable token or its shared secret.
    """

    __tablename__ = "accepted_lifecycle_tokens"

    token_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    body_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    event: Mapped[str] = mapped_column(String(32), nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    applied: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)

    __table_args__ = (Index("ix_accepted_lifecycle_tokens_expires_at", "expires_at"),)
