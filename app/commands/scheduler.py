"""`flask scheduler`: a dedicated scheduler and backup-worker process, in the foreground until SIGTERM/SIGINT."""
from __future__ import annotations

import signal
import threading

import click
from flask import current_app
from flask.cli import with_appcontext

from ..backups.runs.status import RetryPolicy
from ..config import MAX_BACKUP_WORKERS
from ..scheduler import start_background
from ..services import current_services


@click.command("scheduler")
@click.option("--workers", type=click.IntRange(0, MAX_BACKUP_WORKERS), default=None,
              help="Backup worker threads in this process (0: schedule only)  [default: BACKUP_WORKERS]")
@click.option("--no-schedule", is_flag=True, help="Only run workers; leave scheduling to other processes.")
@click.option("--poll", type=click.FloatRange(0.05, 60), default=2.0, show_default=True,
              help="Seconds an idle worker waits before looking for queued backups again.")
@click.option("--enqueue-every", type=click.FloatRange(0.1, 3600), default=30.0, show_default=True,
              help="Seconds between looks for tenants whose backup is due.")
@click.option("--retry-delay", type=click.FloatRange(0, 3600), default=30.0, show_default=True,
              help="Seconds before a backup that failed on an outage is tried again.")
@click.option("--grace", type=click.FloatRange(0, 3600), default=30.0, show_default=True,
              help="On SIGTERM, seconds running backups may take to finish before they are handed back.")
@with_appcontext
def scheduler_command(workers, no_schedule, poll, enqueue_every, retry_delay, grace):
    """Run the backup scheduler and workers until stopped (SIGTERM or Ctrl-C)."""
    services = current_services()
    if workers is None:
        workers = services.config.backup_workers
    services.retry = RetryPolicy(delay=retry_delay, max_attempts=services.retry.max_attempts)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    background = start_background(current_app._get_current_object(), services, workers=workers,
                                  schedule=not no_schedule, enqueue_seconds=enqueue_every, poll_interval=poll)
    click.echo(f"scheduler running: {workers} worker(s), scheduling {'off' if no_schedule else 'on'}", err=True)
    while not stop.wait(1.0):
        pass
    click.echo("stopping: no new backups; waiting for running ones", err=True)
    background.stop(timeout=grace)
    click.echo("stopped", err=True)


commands = [scheduler_command]
