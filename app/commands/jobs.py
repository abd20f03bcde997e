"""`flask jobs run [NAME]…`: run scheduler jobs now (by default the hourly ones) instead of waiting for their hour."""
from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup

from ..backups.store.backend import StorageError
from ..scheduler import HOURLY_JOBS, JOBS
from ..services import current_services

group = AppGroup("jobs", help="Run the scheduler's jobs now.")
commands = [group]


@group.command("list")
def list_command() -> None:
    """Name every job the scheduler runs."""
    for name, (_job, meaning) in JOBS.items():
        click.echo(f"{name:<18} {meaning}" + ("  (hourly)" if name in HOURLY_JOBS else ""))


@group.command("run")
@click.argument("names", nargs=-1, type=click.Choice(list(JOBS)))
def run_command(names: tuple[str, ...]) -> None:
    """Run the named jobs once, in this order (default: retention, uninstall-purge, storage-cleanup)."""
    app, services = current_app._get_current_object(), current_services()
    failed = False
    for name in names or HOURLY_JOBS:
        job, meaning = JOBS[name]
        try:
            count = job(app, services)
        except Exception as exc:  # the next job may still work (e.g. retention when the storage is down)
            # Storage errors are worded for operators; other exception texts may carry connection details.
            detail = str(exc) if isinstance(exc, StorageError) else type(exc).__name__
            click.echo(f"{name}: failed ({detail})", err=True)
            failed = True
            continue
        click.echo(f"{name}: {count} {meaning}")
    if failed:
        sys.exit(1)
