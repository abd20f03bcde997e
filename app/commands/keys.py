"""`flask keys generate` prints a new key; `flask keys rotate` re-encrypts every secret under the first key."""
from __future__ import annotations

from dataclasses import dataclass

import time

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from ..alerts.models import SEALED_COLUMNS as ALERT_SEALED_COLUMNS
from ..crypto import DecryptionError, generate_key
from ..extensions import db
from ..models import SEALED_COLUMNS, Tenant
from ..sealing import Sealer
from ..services import current_services


@dataclass
class RotationCount:
    column: str
    rotated: int = 0
    current: int = 0
    failed: int = 0


def _client_keys() -> dict[int, str]:
    return dict(db.session.execute(select(Tenant.id, Tenant.client_key)).all())


def rotate_all(sealer: Sealer) -> list[RotationCount]:
    """Re-encrypt every sealed column under the primary key; commit once at the end."""
    client_keys = _client_keys()
    counts = []
    for model, attribute, field in SEALED_COLUMNS + ALERT_SEALED_COLUMNS:
        count = RotationCount(f"{model.__tablename__}.{attribute}")
        for row in db.session.scalars(select(model)):
            sealed = getattr(row, attribute)
            if not sealed:
                continue
            if not sealer.needs_rotation(sealed):
                count.current += 1
                continue
            client_key = getattr(row, "client_key", None) or client_keys.get(getattr(row, "tenant_id", None))
            try:
                plaintext = sealer.open_bytes(client_key, field, sealed)
            except DecryptionError:
                count.failed += 1
                continue
            setattr(row, attribute, sealer.seal(client_key, field, plaintext))
            count.rotated += 1
        counts.append(count)
    db.session.commit()
    return counts


@click.group("keys", help="Manage the ENCRYPTION_KEYS key ring.")
def keys_group() -> None:
    pass


@keys_group.command("generate", help="Print a new random key entry for ENCRYPTION_KEYS.")
@click.option("--kid", default=None, help="key id to prefix (default: k<timestamp>)")
def generate(kid: str | None) -> None:
    click.echo(f"{kid or 'k' + str(int(time.time()))}:{generate_key()}")


@keys_group.command("rotate", help="Re-encrypt every stored secret under the first key of ENCRYPTION_KEYS.")
@with_appcontext
def rotate() -> None:
    counts = rotate_all(current_services().sealer)
    for count in counts:
        click.echo(f"{count.column}: {count.rotated} re-encrypted, {count.current} already current, {count.failed} failed")
    total_failed = sum(c.failed for c in counts)
    click.echo(f"total: {sum(c.rotated for c in counts)} re-encrypted, {total_failed} failed")
    if total_failed:
        raise click.ClickException(
            f"{total_failed} value(s) could not be decrypted with any key in ENCRYPTION_KEYS; they were left unchanged"
        )


commands = [keys_group]
