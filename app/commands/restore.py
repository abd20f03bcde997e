"""`flask restore run CLIENT_KEY RUN_ID [--dry-run] [--project SRC=DST]… [--issue KEY]…` — one restore, in this
process, with progress on the terminal and a summary table; exit status 0 only on success."""
from __future__ import annotations

import sys
import time
import uuid

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import select

from ..backups.runs.lease import Lease
from ..backups.runs.status import RunOutcome
from ..errors import AppError
from ..extensions import db
from ..models import Tenant, utcnow
from ..restore.jobs import claim_restore, heartbeat_restore, settle_restore
from ..restore.models import Restore
from ..restore.planner import PLAN_ENTITIES
from ..restore.queue import failure_message, log_finished
from ..restore.runner import execute_restore
from ..restore.service import outcomes, start_restore
from ..services import current_services

group = AppGroup("restore", help="Restore Xray data from a snapshot.")
commands = [group]

OUTCOMES = ("created", "existing", "linked", "skipped", "failed")
MAX_WARNINGS = 20


class RestoreProgress:
    """One live line on a terminal (rewritten in place); plain lines every few seconds otherwise."""

    def __init__(self, stream=None, interval: float = 5.0):
        self.stream = stream or sys.stdout
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.interval, self._last, self._width = interval, 0.0, 0

    def __call__(self, info: dict) -> None:
        text = (f"{info.get('stage')}: {info.get('done', 0)}/{info.get('total', 0)} | {info.get('requests', 0)} Xray "
                f"requests, {info.get('rateLimitWaits', 0)} rate-limit waits")
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
            self.stream.flush()
        elif time.monotonic() - self._last >= self.interval or info.get("done") == info.get("total"):
            self._last = time.monotonic()
            self.stream.write(text + "\n")
            self.stream.flush()

    def done(self) -> None:
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()


def _body(run_id: str, dry_run: bool, projects: tuple[str, ...], issues: tuple[str, ...]) -> dict:
    body = {"runId": run_id, "dryRun": dry_run}
    if projects:
        mapping = {}
        for pair in projects:
            source, sep, target = pair.partition("=")
            if not sep or not source.strip() or not target.strip():
                raise click.BadParameter(f"{pair!r}: expected SRC=DST, e.g. ALPHA=ALPHA", param_hint="--project")
            mapping[source.strip()] = target.strip()
        body["projects"] = mapping
    if issues:
        body["issueKeys"] = list(issues)
    return body


@group.command("run")
@click.argument("client_key")
@click.argument("run_id")
@click.option("--dry-run", is_flag=True, help="Plan only: read Xray, send no mutation and no import.")
@click.option("--project", "projects", multiple=True, metavar="SRC=DST",
              help="Restore this snapshot project (into DST); repeat for several. Default: every project, same key.")
@click.option("--issue", "issues", multiple=True, metavar="KEY", help="Restore only this item; repeat for several.")
def run_command(client_key: str, run_id: str, dry_run: bool, projects: tuple, issues: tuple) -> None:
    """Restore a succeeded backup's snapshot into the site's Xray now; exit status 0 only on success."""
    services = current_services()
    tenant = db.session.scalar(select(Tenant).where(Tenant.client_key == client_key))
    if tenant is None:
        raise click.ClickException(f"No installed site has the clientKey {client_key!r}.")
    if not tenant.active:
        raise click.ClickException("The app is uninstalled or disabled on this site: nothing to restore into.")
    try:
        restore = start_restore(tenant, _body(run_id, dry_run, projects, issues), services, now=utcnow(),
                                account_id=None)
    except AppError as exc:
        details = "; ".join(f"{k}: {v}" for k, v in (exc.fields or {}).items())
        raise click.ClickException(exc.message + (f" ({details})" if details else "")) from None
    restore_id = restore.id
    worker_id = f"cli:{uuid.uuid4().hex[:8]}"
    lease_seconds = services.config.backup_lease_seconds
    click.echo(f"{'Dry run' if dry_run else 'Restore'} {restore_id} of backup {run_id} into {tenant.base_url}")
    if not claim_restore(restore_id, worker_id, utcnow(), lease_seconds):
        raise click.ClickException(f"A background worker took restore {restore_id} over; follow it on the Backups page.")
    display = RestoreProgress()
    lease = Lease(current_app._get_current_object(), restore_id, worker_id, lease_seconds,
                  renew=heartbeat_restore).start()
    try:
        outcome = execute_restore(restore_id, services, still_owner=lease.still_owner, progress=display)
    except Exception as exc:  # recorded for the admin; the traceback stays in the log
        db.session.rollback()
        outcome = RunOutcome.failed(failure_message(exc))
    finally:
        lease.stop()
    display.done()
    if outcome is not None:
        status = settle_restore(restore_id, worker_id, utcnow(), outcome)  # no retry policy: this attempt is final
        if status is not None:
            log_finished(restore_id, status)
    result = db.session.get(Restore, restore_id, populate_existing=True)
    _report(result)
    if result is None or result.status != "succeeded":
        sys.exit(1)


def _report(restore: Restore | None) -> None:
    if restore is None:
        click.echo("The restore disappeared.", err=True)
        return
    plan = restore.plan or {}
    tally = outcomes(restore)
    headers = ("entity", "to create", "existing", "to re-link", *OUTCOMES)
    rows = [(e.replace("_", " "), (plan.get("create") or {}).get(e, 0), (plan.get("existing") or {}).get(e, 0),
             (plan.get("link") or {}).get(e, 0), *((tally.get(e) or {}).get(o, 0) for o in OUTCOMES))
            for e in PLAN_ENTITIES]
    if restore.counts:
        rows = [(*row[:4], restore.counts.get(e, row[4]) if e == "folders" else row[4], *row[5:])
                for row, e in zip(rows, PLAN_ENTITIES)]
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) for i, h in enumerate(headers)]
    line = "  ".join(str(h).ljust(w) if i == 0 else str(h).rjust(w) for i, (h, w) in enumerate(zip(headers, widths)))
    click.echo(line)
    click.echo("-" * len(line))
    for row in rows:
        click.echo("  ".join(str(v).ljust(w) if i == 0 else str(v).rjust(w) for i, (v, w) in enumerate(zip(row, widths))))
    warnings = plan.get("warnings") or []
    for warning in warnings[:MAX_WARNINGS]:
        click.echo(f"Warning: {warning}")
    if len(warnings) > MAX_WARNINGS:
        click.echo(f"… and {len(warnings) - MAX_WARNINGS} more warnings (GET /api/restores/{restore.id}).")
    click.echo(f"Status: {restore.status}")
    if restore.requests is not None:
        click.echo(f"Xray requests: {restore.requests}")
    if restore.message:
        click.echo(restore.message, err=restore.status != "succeeded")
