"""`flask backup run CLIENT_KEY` (one backup, with progress and its waits), `backup queue`, `backup export RUN_ID
PATH` (a stored snapshot decrypted to a zip) and `backup verify PATH`."""
from __future__ import annotations

import sys
import time
import uuid

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from ..backups.lifecycle.datakeys import data_key_for, has_data_key
from ..backups.runs.claims import claim_run
from ..backups.runs.enqueue import RunAlreadyActive, enqueue_manual
from ..backups.runs.lease import Lease
from ..backups.runs.runner import execute_run, paced_client
from ..backups.runs.status import RunOutcome, settle
from ..backups.runs.worker import failure_message
from ..backups.snapshot.verifier import verify_snapshot
from ..backups.store.backend import StorageError
from ..backups.store.zipstream import snapshot_zip
from ..catalogue import ENTITIES
from ..crypto import DecryptionError
from ..extensions import db
from ..logs import run_logging
from ..models import BackupRun, Tenant, utcnow
from ..ops.heartbeats import ProcessBeat, list_processes
from ..ops.queue import queue_entries
from ..presentation import duration
from ..services import current_services
from .waiting import WaitDisplay

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
            self._width = 0


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
    waits = WaitDisplay(services.config.xray_rate_limit, before_wait=display.done)
    client_factory = paced_client(services, sleep=waits.sleep, on_event=waits.on_event)
    # This process holds keys too: `keys rotate` must see it while it runs.
    beat = ProcessBeat(db.engine, kind="cli", key_ids=services.config.keyring.kids).start()
    lease = Lease(current_app._get_current_object(), run_id, worker_id, lease_seconds).start()
    try:
        with run_logging(run_id):
            try:
                outcome = execute_run(run_id, services, still_owner=lease.still_owner, progress=display,
                                      client_factory=client_factory)
            except Exception as exc:  # recorded for the admin; the traceback stays in the log
                outcome = RunOutcome.failed(failure_message(exc))
            finally:
                lease.stop()
            display.done()
            if outcome is not None:
                # No retry policy: this attempt's outcome is final.
                settle(run_id, worker_id, utcnow(), outcome, ended=services.run_ended)
    finally:
        beat.stop()
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


@group.command("export")
@click.argument("run_id")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
def export_command(run_id: str, path: str) -> None:
    """Decrypt a stored snapshot into a zip at PATH (the restore drill: database, keys and storage together)."""
    services = current_services()
    run = db.session.get(BackupRun, run_id)
    if run is None or run.snapshot_key is None or run.deleted_at is not None:
        raise click.ClickException(f"Run {run_id} has no stored snapshot.")
    if not has_data_key(run.tenant):
        raise click.ClickException("The site's snapshot data key is gone (purged): the snapshot cannot be decrypted.")
    try:
        data_key = data_key_for(run.tenant, utcnow(), services.sealer)
        with open(path, "wb") as out:
            for chunk in snapshot_zip(services.store, run.snapshot_key, data_key, run.id):
                out.write(chunk)
    except DecryptionError:
        raise click.ClickException("The site's data key cannot be unwrapped with any key in ENCRYPTION_KEYS.") from None
    except StorageError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{path}: snapshot of run {run_id} ({run.tenant.base_url}); check it with: backup verify {path}")


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


@group.command("queue")
def queue_command() -> None:
    """Show queued, running and stuck jobs (tenant, age, attempts, worker, lease) and the live processes."""
    now = utcnow()
    with db.engine.connect() as conn:
        processes = list_processes(conn, now)
    entries = queue_entries(db.session, now)
    db.session.rollback()
    click.echo("Live processes:" if processes else "Live processes: none")
    for process in processes:
        roles = [f"{process.workers} worker(s)"] if process.workers else []
        roles += ["scheduling"] if process.schedules else []
        click.echo(f"  {process.label}" + (f" ({', '.join(roles)})" if roles else "") +
                   f", last heartbeat {duration(process.age(now))} ago, keys {','.join(process.key_ids) or '-'}")
    if not any(process.workers for process in processes):
        click.echo("Warning: no live scheduler/worker process: queued backups will not run until one starts "
                   "(python -m flask --app wsgi scheduler).")
    if not entries:
        click.echo("Queue: empty.")
        return
    by_status = {status: sum(1 for e in entries if e.status == status) for status in ("queued", "running", "stuck")}
    oldest = min((e for e in entries if e.status == "queued"), key=lambda e: e.queued_at, default=None)
    click.echo("Queue: " + ", ".join(f"{n} {status}" for status, n in by_status.items()) +
               (f" (oldest queued {duration(oldest.age(now))} ago)" if oldest else ""))
    rows = [("JOB", "ID", "STATUS", "TENANT", "SITE", "TRIGGER", "AGE", "ATTEMPTS", "WORKER", "LEASE")]
    rows += [(e.job, e.id, e.status, str(e.tenant_id), e.site, e.trigger or "-", duration(e.age(now)),
              str(e.attempts), e.worker_id or "-", _lease(e, now)) for e in entries]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def _lease(entry, now) -> str:
    if entry.lease_expires_at is None:
        return "-"
    left = (entry.lease_expires_at - now).total_seconds()
    if entry.status == "queued":
        return f"retry in {duration(left)}" if left > 0 else "-"
    return f"expires in {duration(left)}" if left >= 0 else f"expired {duration(-left)} ago"
