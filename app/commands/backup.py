"""`flask backup run CLIENT_KEY` (one backup, synchronously, with progress) and `flask backup verify PATH`."""
from __future__ import annotations

import sys
import time
import uuid
from datetime import timedelta

import click
from flask import current_app
from flask.cli import AppGroup

group = AppGroup("backup", help="Run and verify backups.")
commands = [group]

SHORT = {"tests": "tests", "preconditions": "pre", "test_sets": "sets", "test_plans": "plans",
         "test_executions": "execs", "test_runs": "runs", "attachments": "files"}


class ProgressLine:
    """One live line on a terminal (rewritten in place); plain lines every few seconds otherwise."""

    def __init__(self, stream=None, interval: float = 5.0):
        self.stream = stream or sys.stdout
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval = interval
        self._last = 0.0
        self._width = 0

    def __call__(self, info: dict) -> None:
        counts = info.get("counts") or {}
        parts = [f"{counts.get(k, 0)} {label}" for k, label in SHORT.items()]
        text = (f"[{info.get('project') or '-'}] {info.get('stage') or ''}: " + ", ".join(parts) +
                f" | {info.get('requests', 0)} requests, {info.get('rateLimitWaits', 0)} rate-limit waits")
        now = time.monotonic()
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
            self.stream.flush()
        elif now - self._last >= self.interval:
            self._last = now
            self.stream.write(text + "\n")
            self.stream.flush()

    def done(self) -> None:
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()


@group.command("run")
@click.argument("client_key")
def run_command(client_key: str) -> None:
    """Back up one tenant now, in this process; exit status 0 only on success."""
    from sqlalchemy import select, update

    from .. import app_config
    from ..backups.queue import RunAlreadyActive, enqueue_manual, finish
    from ..backups.runner import execute_run
    from ..backups.worker import Lease, failure_message
    from ..extensions import db
    from ..models import BackupRun, Tenant, utcnow

    tenant = db.session.scalar(select(Tenant).where(Tenant.client_key == client_key))
    if tenant is None:
        raise click.ClickException(f"No installed site has the clientKey {client_key!r}.")
    if not tenant.active:
        raise click.ClickException("The app is uninstalled or disabled on this site: nothing to back up.")
    try:
        run = enqueue_manual(tenant, utcnow())
    except RunAlreadyActive:
        raise click.ClickException("A backup is already queued or running for this site; wait for it to finish.")
    run_id = run.id
    worker_id = f"cli:{uuid.uuid4().hex[:8]}"
    lease_seconds = app_config().backup_lease_seconds
    now = utcnow()
    claimed = db.session.execute(
        update(BackupRun).where(BackupRun.id == run_id, BackupRun.status == "queued")
        .values(status="running", worker_id=worker_id, started_at=now, heartbeat_at=now, attempts=1,
                lease_expires_at=now + timedelta(seconds=lease_seconds))
        .execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    click.echo(f"Backup {run_id} of {tenant.base_url}")
    if not claimed:
        raise click.ClickException(f"A background worker took run {run_id} over; follow it on the Backups page.")
    display = ProgressLine()
    lease = Lease(current_app._get_current_object(), run_id, worker_id, lease_seconds).start()
    try:
        result = execute_run(run_id, still_owner=lease.still_owner, progress=display, retry_transient=False)
    except Exception as exc:  # recorded for the admin; the traceback stays in the log
        display.done()
        finish(run_id, worker_id, utcnow(), "failed", message=failure_message(exc))
        result = db.session.get(BackupRun, run_id, populate_existing=True)
    finally:
        lease.stop()
    display.done()
    _report(result)
    if result is None or result.status != "succeeded":
        sys.exit(1)


def _report(run) -> None:
    if run is None:
        click.echo("The run disappeared.", err=True)
        return
    counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in (run.counts or {}).items())
    click.echo(f"Status: {run.status}")
    if counts:
        click.echo(f"Counts: {counts}")
    if run.requests is not None:
        click.echo(f"Xray requests: {run.requests}")
    if run.bytes:
        click.echo(f"Snapshot size: {run.bytes} bytes")
    for warning in run.warnings or []:
        click.echo(f"Warning: {warning}")
    if run.message:
        click.echo(run.message, err=run.status != "succeeded")


@group.command("verify")
@click.argument("path", type=click.Path(exists=True, dir_okay=True, file_okay=True))
def verify_command(path: str) -> None:
    """Verify a snapshot folder or zip on disk: hashes, sizes, line counts, JSON, manifest, attachments."""
    from ..backups.snapshot import verify_snapshot

    result = verify_snapshot(path)
    if result.problems:
        click.echo(f"{path}: {len(result.problems)} problem(s):", err=True)
        for problem in result.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(1)
    counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in result.counts.items())
    click.echo(f"{path}: OK ({counts})")
