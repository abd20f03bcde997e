"""The Prometheus metrics: counters shared through the database, gauges read from it at scrape time.

Web workers, `flask scheduler` processes and `backup run` may live in different processes and on different hosts,
so counters are not kept in one process's memory: each event adds to a `metric_counters` row (`value = value + n`,
atomic on both databases), and `/metrics` on any web worker reads them all. Queue depth, the oldest queued run and
heartbeat ages are plain database reads. prometheus-client renders the text format. No label names a tenant.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from sqlalchemy import func, select, update

from ..extensions import insert_ignoring_conflict
from ..logs import Damper
from ..models import BackupRun
from ..xray.tally import OUTCOMES, requests_by_outcome
from .models import MetricCounter, ProcessHeartbeat

logger = logging.getLogger(__name__)
_damper = Damper(logger)

RUNS = "xray_backup_runs_total"
RUN_DURATION = "xray_backup_run_duration_seconds"
XRAY_REQUESTS = "xray_backup_xray_requests_total"
TAKEOVERS = "xray_backup_lease_takeovers_total"
RESTORES = "xray_backup_restores_total"
RUN_STATUSES = ("succeeded", "failed", "skipped", "cancelled")
RUN_KINDS = ("full", "incremental")
RESTORE_STATUSES = ("succeeded", "failed", "cancelled")
DURATION_BUCKETS = (10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0, 14400.0)

Increments = dict[tuple[str, str], float]


def labels_text(**labels: str) -> str:
    """The canonical text of a series' labels (sorted), as stored in `metric_counters.labels`."""
    return ",".join(f'{key}="{labels[key]}"' for key in sorted(labels))


def run_increments(status: str, kind: str, duration: float | None) -> Increments:
    """What one finished run adds: its status and kind, and (when it ran) its duration in the histogram."""
    increments = {(RUNS, labels_text(status=status, kind=kind)): 1.0}
    if duration is not None:
        duration = max(0.0, duration)
        for bound in DURATION_BUCKETS:
            if duration <= bound:
                increments[(RUN_DURATION + "_bucket", labels_text(le=str(bound)))] = 1.0
        increments[(RUN_DURATION + "_bucket", labels_text(le="+Inf"))] = 1.0
        increments[(RUN_DURATION + "_sum", "")] = duration
        increments[(RUN_DURATION + "_count", "")] = 1.0
    return increments


def add(conn, increments: Increments) -> None:
    """Add to shared counters on a connection (the caller commits); rows are created at zero on first use."""
    dialect = conn.dialect.name
    for (name, labels), amount in increments.items():
        if not amount:
            continue
        conn.execute(insert_ignoring_conflict(MetricCounter, {"name": name, "labels": labels, "value": 0.0},
                                              dialect=dialect))
        conn.execute(update(MetricCounter).where(MetricCounter.name == name, MetricCounter.labels == labels)
                     .values(value=MetricCounter.value + amount))


def record(engine, increments: Increments) -> bool:
    """Add to shared counters in their own transaction, with this process's Xray request counts; never raises."""
    taken = requests_by_outcome.take()
    increments = dict(increments)
    for outcome, n in taken.items():
        key = (XRAY_REQUESTS, labels_text(outcome=outcome))
        increments[key] = increments.get(key, 0.0) + n
    if not increments:
        return True
    try:
        with engine.begin() as conn:
            add(conn, increments)
    except Exception as exc:  # metrics must never fail a backup; the Xray counts wait for the next try
        requests_by_outcome.put_back(taken)
        _damper.failure("metrics", logging.WARNING,
                        "metrics: could not record counters (%s)", type(exc).__name__)
        return False
    _damper.ok("metrics")
    return True


# ---------------------------------------------------------------- scrape


@dataclass
class Scrape:
    """Everything /metrics shows, read at one moment."""

    counters: dict[tuple[str, str], float] = field(default_factory=dict)
    queue: dict[str, int] = field(default_factory=dict)
    stuck: int = 0
    oldest_queued_seconds: float = 0.0
    worker_heartbeat_age: float = math.inf
    processes: dict[str, int] = field(default_factory=dict)


def read_scrape(session, now: datetime) -> Scrape:
    """Read the counters and the gauges from the database."""
    scrape = Scrape()
    for row in session.execute(select(MetricCounter.name, MetricCounter.labels, MetricCounter.value)):
        scrape.counters[(row.name, row.labels)] = row.value
    for status, count in session.execute(select(BackupRun.status, func.count()).where(
            BackupRun.status.in_(("queued", "running"))).group_by(BackupRun.status)):
        scrape.queue[status] = count
    scrape.stuck = session.scalar(select(func.count()).select_from(BackupRun).where(
        BackupRun.status == "running", BackupRun.lease_expires_at < now)) or 0
    oldest = session.scalar(select(func.min(BackupRun.queued_at)).where(BackupRun.status == "queued"))
    if oldest is not None:
        scrape.oldest_queued_seconds = max(0.0, (now - _aware(oldest)).total_seconds())
    for beat in session.scalars(select(ProcessHeartbeat)):
        age = max(0.0, (now - _aware(beat.beat_at)).total_seconds())
        if age <= 3 * beat.interval_seconds:
            scrape.processes[beat.kind] = scrape.processes.get(beat.kind, 0) + 1
        if beat.workers > 0:
            scrape.worker_heartbeat_age = min(scrape.worker_heartbeat_age, age)
    return scrape


def _aware(moment: datetime) -> datetime:
    # Stored times are UTC; a driver that hands one back naive still means UTC.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=timezone.utc)


def families(scrape: Scrape) -> list:
    """The metric families of a scrape; every named series is present (zero when nothing happened yet)."""
    value = scrape.counters.get
    runs = CounterMetricFamily(RUNS, "Backup runs that ended, by final status and kind.", labels=["status", "kind"])
    for status in RUN_STATUSES:
        for kind in RUN_KINDS:
            runs.add_metric([status, kind], value((RUNS, labels_text(status=status, kind=kind)), 0.0))
    buckets = [(str(b), value((RUN_DURATION + "_bucket", labels_text(le=str(b))), 0.0)) for b in DURATION_BUCKETS]
    buckets.append(("+Inf", value((RUN_DURATION + "_bucket", labels_text(le="+Inf")), 0.0)))
    duration = HistogramMetricFamily(RUN_DURATION, "Duration of a backup run's final attempt, in seconds.",
                                     buckets=buckets, sum_value=value((RUN_DURATION + "_sum", ""), 0.0))
    requests = CounterMetricFamily(XRAY_REQUESTS, "HTTP requests sent to Xray, by outcome.", labels=["outcome"])
    for outcome in OUTCOMES:
        requests.add_metric([outcome], value((XRAY_REQUESTS, labels_text(outcome=outcome)), 0.0))
    takeovers = CounterMetricFamily(TAKEOVERS, "Runs taken from a worker whose lease expired.",
                                    value=value((TAKEOVERS, ""), 0.0))
    restores = CounterMetricFamily(RESTORES, "Restores that ended, by final status.", labels=["status"])
    for status in RESTORE_STATUSES:
        restores.add_metric([status], value((RESTORES, labels_text(status=status)), 0.0))
    depth = GaugeMetricFamily("xray_backup_queue_depth", "Backup runs waiting or running.", labels=["status"])
    for status in ("queued", "running"):
        depth.add_metric([status], scrape.queue.get(status, 0))
    oldest = GaugeMetricFamily("xray_backup_oldest_queued_seconds", "Age of the oldest queued backup run (0: none).",
                               value=scrape.oldest_queued_seconds)
    stuck = GaugeMetricFamily("xray_backup_stuck_runs", "Running backups whose lease expired (worker gone).",
                              value=scrape.stuck)
    age = GaugeMetricFamily("xray_backup_worker_heartbeat_age_seconds",
                            "Seconds since the newest heartbeat of a process running backup workers (+Inf: none).",
                            value=scrape.worker_heartbeat_age)
    processes = GaugeMetricFamily("xray_backup_processes", "Live processes by kind (heartbeat fresh).",
                                  labels=["kind"])
    for kind in ("web", "scheduler", "cli"):
        processes.add_metric([kind], scrape.processes.get(kind, 0))
    return [runs, duration, requests, takeovers, restores, depth, oldest, stuck, age, processes]


class _Fixed:
    def __init__(self, metric_families):
        self.metric_families = metric_families

    def collect(self):
        return self.metric_families


def render(scrape: Scrape) -> bytes:
    """The Prometheus text exposition of a scrape."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Fixed(families(scrape)))
    return generate_latest(registry)
