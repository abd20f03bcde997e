"""The operations tables: a heartbeat row per live process, and the metric counters every process adds to."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Float, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models import UTCDateTime


class ProcessHeartbeat(db.Model):
    """One running process (a web worker, a scheduler/worker process, a `backup run`) and its last beat.

    `key_ids` are the ENCRYPTION_KEYS ids the process holds (comma-separated): `keys rotate` reads them.
    A row is live while `beat_at` is younger than 3 × `interval_seconds`; old rows are deleted by the beats.
    """

    __tablename__ = "process_heartbeats"

    id: Mapped[str] = mapped_column(String(160), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    host: Mapped[str] = mapped_column(String(128))
    pid: Mapped[int] = mapped_column(Integer)
    key_ids: Mapped[str] = mapped_column(String(512), default="")
    workers: Mapped[int] = mapped_column(Integer, default=0)
    schedules: Mapped[bool] = mapped_column(default=False)
    interval_seconds: Mapped[float] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class MetricCounter(db.Model):
    """A monotonic counter shared by every process on every host: `value` only ever grows (value = value + n).

    `labels` is the canonical `name="value",…` text of the series (never anything that identifies a tenant).
    """

    __tablename__ = "metric_counters"

    name: Mapped[str] = mapped_column(String(96), primary_key=True)
    labels: Mapped[str] = mapped_column(String(160), primary_key=True, default="")
    value: Mapped[float] = mapped_column(Float, default=0.0)
