"""`flask keys generate` prints a new key; `flask keys rotate` re-encrypts every secret under the first key.

`keys generate` makes the first key of a new installation, so it needs no configuration at all: `wsgi.py` serves it
from a bare app (`create_keygen_app`) without loading the configuration, which production refuses without a key.
`keys rotate` refuses while a live process (web, scheduler, `backup run`) does not hold the new first key: that
process could not read what the rotation writes, and its tenants would be locked out.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import select

from ..alerts.models import SEALED_COLUMNS as ALERT_SEALED_COLUMNS
from ..crypto import DecryptionError, generate_key
from ..extensions import db
from ..models import SEALED_COLUMNS, Tenant, utcnow
from ..ops.heartbeats import processes_lacking_key
from ..presentation import duration
from ..sealing import Sealer
from ..services import current_services

# The flask CLI's own options that take a value (`--app wsgi`): skipped when reading which command was asked for.
_FLASK_VALUE_OPTIONS = {"--app", "-A", "--env-file", "-e"}


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


@keys_group.command("rotate", help="Re-encrypt every stored secret under the first key of ENCRYPTION_KEYS "
                                   "(refused while a live process does not hold that key).")
@with_appcontext
def rotate() -> None:
    services = current_services()
    kid = services.config.keyring.primary_kid
    now = utcnow()
    with db.engine.connect() as conn:
        lacking = processes_lacking_key(conn, kid, now)
    if lacking:
        for process in lacking:
            click.echo(f"  {process.label} holds {', '.join(process.key_ids) or 'no key'}, not {kid} "
                       f"(last heartbeat {duration(process.age(now))} ago)", err=True)
        raise click.ClickException(
            f"Refusing to rotate: {lacking[0].label}" + (f" and {len(lacking) - 1} other(s)" if len(lacking) > 1 else "")
            + f" does not hold the new first key {kid}; it could not read what the rotation writes. Put {kid} in "
            "ENCRYPTION_KEYS of every web and scheduler process, restart them, then rotate. (A process that is gone "
            f"stops counting {duration(lacking[0].live_for_seconds)} after its last heartbeat.)")
    counts = rotate_all(services.sealer)
    for count in counts:
        click.echo(f"{count.column}: {count.rotated} re-encrypted, {count.current} already current, {count.failed} failed")
    total_failed = sum(c.failed for c in counts)
    click.echo(f"total: {sum(c.rotated for c in counts)} re-encrypted, {total_failed} failed")
    if total_failed:
        raise click.ClickException(
            f"{total_failed} value(s) could not be decrypted with any key in ENCRYPTION_KEYS; they were left unchanged"
        )
    click.echo(f"Every secret and snapshot data key is now sealed under {kid}. Snapshot objects were not rewritten: "
               "their data keys were re-wrapped. Older keys can now leave ENCRYPTION_KEYS (then restart).")


commands = [keys_group]


def only_generating_a_key(argv: list[str]) -> bool:
    """Whether this process is the flask CLI asked for `keys generate` (which must not load the configuration)."""
    if click.get_current_context(silent=True) is None:
        return False  # a WSGI server, not the flask CLI
    words, skip = [], False
    for token in argv[1:]:
        if skip:
            skip = False
        elif token in _FLASK_VALUE_OPTIONS:
            skip = True
        elif not token.startswith("-"):
            words.append(token)
    return words[:2] == ["keys", "generate"]


def create_keygen_app() -> Flask:
    """A bare app whose only command is `keys generate`: no configuration, no database, no key needed."""
    app = Flask("xray-backup-keys")
    app.cli.add_command(click.Group("keys", help=keys_group.help, commands=[generate]))
    return app
