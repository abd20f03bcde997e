"""The only place that knows APScheduler: it decides *when*; the database decides *who runs what*.

Every job is a thin entrypoint: an app context, `now`, one service function. Several processes may run
these jobs at once (embedded in web workers, or `flask scheduler` processes): the queue makes that safe.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from flask import Flask

logger = logging.getLogger(__name__)

ENQUEUE_SECONDS = 30
TAKEOVER_SECONDS = 30
RETENTION_SECONDS = 3600
PURGE_SECONDS = 3600
CLEANUP_SECONDS = 3600
INCOMPLETE_AFTER = timedelta(hours=6)
DEFAULT_WORKERS = 2
EXTENSION = "xray_backup_scheduler"


def enqueue_job(app: Flask, pool=None) -> int:
    from .backups.queue import enqueue_due
    from .models import utcnow

    with app.app_context():
        queued = enqueue_due(utcnow())
    if queued:
        logger.info("queued %d scheduled backups", queued)
        if pool is not None:
            pool.wake()
    return queued


def takeover_job(app: Flask) -> int:
    from .backups.queue import take_over_expired
    from .models import utcnow

    with app.app_context():
        return take_over_expired(utcnow())


def retention_job(app: Flask) -> int:
    from .backups.retention import apply_retention
    from .models import utcnow

    with app.app_context():
        return apply_retention(utcnow())


def purge_job(app: Flask) -> int:
    from .backups.purge import purge_due
    from .models import utcnow

    with app.app_context():
        return purge_due(utcnow())


def cleanup_job(app: Flask) -> int:
    from . import app_config
    from .backups.storage import open_store
    from .models import utcnow

    from .extensions import db
    from .xray.shared_pacer import prune_all

    with app.app_context():
        # Pacer rows of tenants that went quiet are pruned here; active pacers prune their own.
        prune_all(db.engine, older_than=3600)
        return open_store(app_config()).cleanup_incomplete(utcnow() - INCOMPLETE_AFTER)


@dataclass
class BackupService:
    """A running scheduler and worker pool; `stop()` ends both."""

    scheduler: object
    pool: object | None

    def stop(self, timeout: float = 30.0) -> None:
        self.scheduler.shutdown(wait=False)
        if self.pool is not None:
            self.pool.stop(timeout=timeout)


def start_service(app: Flask, *, workers: int = DEFAULT_WORKERS, schedule: bool = True,
                  enqueue_seconds: float = ENQUEUE_SECONDS, **pool_options) -> BackupService:
    """Start the APScheduler jobs (when `schedule`) and a pool of `workers` (none when 0)."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from .backups.worker import WorkerPool

    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job run is noise at this rate
    pool = WorkerPool(app, workers=workers, **pool_options).start() if workers else None
    scheduler = BackgroundScheduler(timezone="UTC", job_defaults={"coalesce": True, "max_instances": 1,
                                                                  "misfire_grace_time": 60})
    if schedule:
        jobs = [
            (enqueue_job, enqueue_seconds, (app, pool), "enqueue-due"),
            (takeover_job, min(TAKEOVER_SECONDS, enqueue_seconds), (app,), "take-over-expired"),
            (retention_job, RETENTION_SECONDS, (app,), "retention"),
            (purge_job, PURGE_SECONDS, (app,), "uninstall-purge"),
            (cleanup_job, CLEANUP_SECONDS, (app,), "storage-cleanup"),
        ]
        for func, seconds, args, job_id in jobs:
            scheduler.add_job(_logged(func), "interval", seconds=seconds, args=args, id=job_id,
                              name=job_id, next_run_time=_soon())
    scheduler.start()
    logger.info("backup scheduler started (jobs: %s, workers: %d)", "on" if schedule else "off", workers)
    return BackupService(scheduler, pool)


def init_scheduler(app: Flask) -> BackupService | None:
    """Start the embedded scheduler and workers in a web process when SCHEDULER_ENABLED, exactly once."""
    from . import app_config

    if app.testing or not app_config(app).scheduler_enabled or EXTENSION in app.extensions:
        return None
    if not _serving_process():
        return None
    service = start_service(app, workers=app_config(app).backup_workers)
    app.extensions[EXTENSION] = service
    app.extensions["backup_worker_pool"] = service.pool  # "Back up now" wakes it (app/views/backups.py)
    return service


def _serving_process() -> bool:
    """True in a process that serves requests: not a CLI command, not the debug reloader's watcher."""
    import click
    from werkzeug.serving import is_running_from_reloader

    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return True  # imported by a WSGI server (gunicorn wsgi:app)
    if ctx.command.name != "run":
        return False  # `flask db upgrade`, `flask backup run`, `flask scheduler` (which starts its own)…
    from flask.helpers import get_debug_flag

    reload = ctx.params.get("reload")
    if reload is None:
        reload = get_debug_flag()
    # With the reloader, the first process only watches files; the one it spawns serves.
    return not reload or is_running_from_reloader()


def _logged(func):
    def job(*args):
        try:
            return func(*args)
        except Exception:
            logger.exception("scheduler job %s failed; it runs again at its next interval", func.__name__)
            return None

    job.__name__ = job.__qualname__ = func.__name__
    return job


def _soon():
    from datetime import datetime, timezone

    return datetime.now(timezone.utc) + timedelta(seconds=1)
