"""`flask storage cleanup [--older-than 1h]`: remove what interrupted attempts left and the shared objects no stored
snapshot references, and say what it removed."""
from __future__ import annotations

import re
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..backups.lifecycle.retention import sweep_unreferenced
from ..backups.store.backend import StorageError
from ..extensions import db
from ..models import BackupRun, utcnow
from ..presentation import duration, size
from ..services import current_services

group = AppGroup("storage", help="Snapshot storage maintenance.")
commands = [group]

_AGE = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MIN_AGE = timedelta(minutes=1)


def parse_age(text: str) -> timedelta:
    """`90s`, `30m`, `1h`, `2d` → a timedelta; ValueError otherwise."""
    match = _AGE.match(text or "")
    if not match:
        raise ValueError(f"expected a number and a unit (s, m, h or d), e.g. 30m or 1h; got {text!r}")
    return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def remove_local_leftovers(root: Path, older_than: datetime, active_run_ids: set[str]) -> list[Path]:
    """Temporary run folders of this host older than `older_than` whose run is not running; removed, returned."""
    removed = []
    if not root.is_dir():
        return removed
    for child in sorted(root.iterdir()):
        run_id = child.name.split("-", 1)[0]
        try:
            modified = datetime.fromtimestamp(child.stat().st_mtime, timezone.utc)
        except OSError:
            continue
        if run_id in active_run_ids or modified >= older_than:
            continue
        if child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)
        removed.append(child)
    return removed


@group.command("cleanup")
@click.option("--older-than", "older_than", default="1h", show_default=True, metavar="AGE",
              help="Only what was last written longer ago than this (an upload may be under way): 30m, 1h, 2d.")
def cleanup_command(older_than: str) -> None:
    """Remove unpublished data of interrupted attempts (storage, and this host's temporary folder) and stored
    objects no snapshot references any more."""
    try:
        age = parse_age(older_than)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--older-than") from None
    if age < MIN_AGE:
        raise click.BadParameter("at least 1m: younger data may belong to an upload under way",
                                 param_hint="--older-than")
    services = current_services()
    now = utcnow()

    def report(what: str, blobs: int, stored: int) -> None:
        click.echo(f"removed {what}: {blobs} object(s), {size(stored)}")

    try:
        removed = services.store.cleanup_incomplete(now - age, report=report)
    except StorageError as exc:
        raise click.ClickException(str(exc)) from None
    swept, freed = sweep_unreferenced(now, services.store, services.sealer, older_than=now - age, report=report)
    active = set(db.session.scalars(select(BackupRun.id).where(BackupRun.status == "running")))
    db.session.rollback()
    local = remove_local_leftovers(services.config.temp_path, now - age, active)
    for path in local:
        click.echo(f"removed local temporary data {path}")
    click.echo(f"Done: {removed} interrupted item(s) removed from {services.store.url}, {swept} unreferenced "
               f"object(s) swept ({size(freed)}), {len(local)} local folder(s); nothing written in the last "
               f"{duration(age.total_seconds())} was touched.")
