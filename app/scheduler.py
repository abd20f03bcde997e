"""The only place that knows APScheduler: it decides *when*; the database decides *who runs what*.

Every job is a thin entrypoint: an app context, `now`, one service function with what it needs. Several processes
may run these jobs at once (embedded in web workers, or `flask scheduler` processes): the queue makes that safe.
Background work starts only where it is asked for — `wsgi.py` when serving, `flask scheduler`, the dev host —
never in `create_app`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from flask import Flask

from .backups.lifecycle.purge import purge_due
from .backups.lifecycle.retention import apply_retention, sweep_unreferenced
from .backups.runs.claims import take_over_expired
from .backups.runs.enqueue import enqueue_due
from .backups.runs.worker import WorkerPool
from .extensions import db
from .logs import Damper
from .models import utcnow
from .ops.heartbeats import HEARTBEAT_SECONDS, ProcessBeat
from .restore.jobs import take_over_expired_restores
from .restore.queue import RestoreQueue
from .services import Services
from .xray.shared_pacer import prune_all

logger = logging.getLogger(__name__)

ENQUEUE_SECONDS = 30
TAKEOVER_SECONDS = 30
RETENTION_SECONDS = 3600
PURGE_SECONDS = 3600
CLEANUP_SECONDS = 3600
ALERTS_SECONDS = 300
INCOMPLETE_AFTER = timedelta(hours=6)


def enqueue_job(app: Flask, services: Services) -> int:
    with app.app_context():
        queued = enqueue_due(utcnow())
    if queued:
        logger.info("queued %d scheduled backups", queued)
        services.wake_workers()
    return queued


def takeover_job(app: Flask, services: Services) -> int:
    with app.app_context():
        return take_over_expired(utcnow(), retry=services.retry) + take_over_expired_restores(utcnow(),
                                                                                              retry=services.retry)


def retention_job(app: Flask, services: Services) -> int:
    with app.app_context():
        return apply_retention(utcnow(), services.store, services.sealer)


def alerts_job(app: Flask, services: Services) -> int:
    """Stale backups and missing credentials raise no event of their own: look at every tenant now and then."""
    with app.app_context():
        return services.alerts.evaluate_all(utcnow())


def purge_job(app: Flask, services: Services) -> int:
    with app.app_context():
        return purge_due(utcnow(), services.store)


def cleanup_job(app: Flask, services: Services) -> int:
    with app.app_context():
        # Pacer rows of tenants that went quiet are pruned here; active pacers prune their own.
        prune_all(db.engine, older_than=3600)
        now = utcnow()
        cleaned = services.store.cleanup_incomplete(now - INCOMPLETE_AFTER)
        # Objects of every tenant (uninstalled ones in their grace period too) that no stored snapshot needs.
        swept, _ = sweep_unreferenced(now, services.store, services.sealer, older_than=now - INCOMPLETE_AFTER)
        return cleaned + swept


# Every job by its scheduler id, with what its count means: `flask jobs run` runs them now, by name.
JOBS = {
    "enqueue-due": (enqueue_job, "scheduled backups queued"),
    "take-over-expired": (takeover_job, "runs taken from workers that stopped or cancelled"),
    "retention": (retention_job, "snapshots deleted by retention"),
    "uninstall-purge": (purge_job, "uninstalled sites purged after their grace period"),
    "storage-cleanup": (cleanup_job, "interrupted uploads or deletions cleaned up, unreferenced objects swept"),
    "backup-alerts": (alerts_job, "sites whose backup health was assessed for alerts"),
}
HOURLY_JOBS = ("retention", "uninstall-purge", "storage-cleanup")


@dataclass
class Background:
    """A running scheduler and worker pool, and the process heartbeat that says so; `stop()` ends them."""

    scheduler: BackgroundScheduler
    pool: WorkerPool | None
    beat: ProcessBeat | None = None

    def stop(self, timeout: float = 30.0) -> None:
        self.scheduler.shutdown(wait=False)
        if self.pool is not None:
            self.pool.stop(timeout=timeout)
        if self.beat is not None:
            self.beat.stop()


def start_background(app: Flask, services: Services, *, workers: int, schedule: bool = True,
                     enqueue_seconds: float = ENQUEUE_SECONDS, heartbeat_seconds: float = HEARTBEAT_SECONDS,
                     **pool_options) -> Background:
    """Start the APScheduler jobs (when `schedule`) and a pool of `workers` (none when 0); record it on services.

    The process records itself as a scheduler (its workers, whether it schedules, the keys it holds) and beats.
    """
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job run is noise at this rate
    restores = RestoreQueue(app, services, retry=services.retry)
    pool = WorkerPool(app, services, workers=workers, retry=services.retry, restores=restores,
                      **pool_options).start() if workers else None
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1,
                                                                  "misfire_grace_time": 60})
    damper = Damper(logger)  # this scheduler's: a failure repeated at every tick is logged once a minute
    if schedule:
        jobs = [
            (enqueue_job, enqueue_seconds, "enqueue-due"),
            (takeover_job, min(TAKEOVER_SECONDS, enqueue_seconds), "take-over-expired"),
            (retention_job, RETENTION_SECONDS, "retention"),
            (purge_job, PURGE_SECONDS, "uninstall-purge"),
            (cleanup_job, CLEANUP_SECONDS, "storage-cleanup"),
            (alerts_job, ALERTS_SECONDS, "backup-alerts"),
        ]
        for func, seconds, job_id in jobs:
            scheduler.add_job(_logged(func, damper), "interval", seconds=seconds, args=(app, services), id=job_id,
                              name=job_id, next_run_time=utcnow() + timedelta(seconds=1))
    scheduler.start()
    with app.app_context():
        engine = db.engine
    beat = ProcessBeat(engine, kind="scheduler", key_ids=services.config.keyring.kids, workers=workers,
                       schedules=schedule, interval=heartbeat_seconds).start()
    logger.info("backup scheduler started (jobs: %s, workers: %d)", "on" if schedule else "off", workers)
    services.background = Background(scheduler, pool, beat)
    return services.background


def _logged(func, damper: Damper):
    def job(*args):
        try:
            result = func(*args)
        except Exception as exc:
            # Once a minute while it keeps failing the same way (a database that is down), not at every tick.
            damper.failure(f"scheduler job {func.__name__}", logging.ERROR,
                            "scheduler job %s failed (%s); it runs again at its next interval", func.__name__,
                            type(exc).__name__, exc_info=True)
            return None
        damper.ok(f"scheduler job {func.__name__}")
        return result

    job.__name__ = job.__qualname__ = func.__name__
    return job
