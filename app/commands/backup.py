"""`flask backup run CLIENT_KEY` (one backup, synchronously, with progress) and `flask backup verify PATH`."""
from __future__ import annotations

import sys
import time
import uuid

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from ..backups.runs.claims import claim_run
from ..backups.runs.enqueue import RunAlreadyActive, enqueue_manual
from ..backups.runs.lease import Lease
from ..backups.runs.runner import execute_run
from ..backups.runs.status import RunOutcome, settle
from ..backups.runs.worker import failure_message
from ..backups.snapshot.verifier import verify_snapshot
from ..catalogue import ENTITIES
from ..extensions import db
from ..models import BackupRun, Tenant, utcnow
from ..services import current_services

group = AppGroup("backup", help="Run and verify backups.")
commands = [group]


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
        parts = [f"{counts.get(e.name, 0)} {e.short}" for e in ENTITIES if e.name not in ("folders", "project_settings")]
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
    services = current_services()
    tenant = db.session.scalar(select(Tenant).where(Tenant.client_key == client_key))
    if tenant is None:
        raise click.ClickException(f"No installed site has the clientKey {client_key!r}.")
    if not tenant.active:
        raise click.ClickException("The app is uninstalled or disabled on this site: nothing to back up.")
    try:
        run_id = enqueue_manual(tenant, utcnow()).id
    except RunAlreadyActive:
        raise click.ClickException("A backup is already queued or running for this site; wait for it to finish.")
    worker_id = f"cli:{uuid.uuid4().hex[:8]}"
    lease_seconds = services.config.backup_lease_seconds
    click.echo(f"Backup {run_id} of {tenant.base_url}")
    if not claim_run(run_id, worker_id, utcnow(), lease_seconds):
        raise click.ClickException(f"A background worker took run {run_id} over; follow it on the Backups page.")
    display = ProgressLine()
    lease = Lease(current_app._get_current_object(), run_id, worker_id, lease_seconds).start()
    try:
        outcome = execute_run(run_id, services, still_owner=lease.still_owner, progress=display)
    except Exception as exc:  # recorded for the admin; the traceback stays in the log
        outcome = RunOutcome.failed(failure_message(exc))
    finally:
        lease.stop()
    display.done()
    if outcome is not None:
        # No retry policy: this attempt's outcome is final.
        settle(run_id, worker_id, utcnow(), outcome, ended=services.run_ended)
    result = db.session.get(BackupRun, run_id, populate_existing=True)
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
    result = verify_snapshot(path)
    if result.problems:
        click.echo(f"{path}: {len(result.problems)} problem(s):", err=True)
        for problem in result.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(1)
    counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in result.counts.items())
    click.echo(f"{path}: OK ({counts})")
