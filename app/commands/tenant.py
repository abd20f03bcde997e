"""`flask tenant purge CLIENT_KEY --yes`: erasure on request, now, whether the app is installed or not."""
from __future__ import annotations

import sys

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..backups.lifecycle.purge import erase_tenant
from ..extensions import db
from ..models import Tenant, utcnow
from ..services import current_services

group = AppGroup("tenant", help="Manage installed Jira sites.")
commands = [group]


@group.command("purge")
@click.argument("client_key")
@click.option("--yes", is_flag=True, help="Confirm: delete the site's snapshots and rows for good.")
def purge_command(client_key: str, yes: bool) -> None:
    """Delete a site's snapshots and rows now (its data key is shredded first); refuses without --yes."""
    tenant = db.session.scalar(select(Tenant).where(Tenant.client_key == client_key))
    if tenant is None:
        raise click.ClickException(f"No site has the clientKey {client_key!r} (already purged?).")
    state = "installed" if tenant.installed else "uninstalled"
    if not yes:
        raise click.ClickException(
            f"Refusing: this deletes every snapshot and all data of {tenant.base_url} ({state}) for good. "
            "Run again with --yes to confirm.")
    services = current_services()
    click.echo(f"Erasing {tenant.base_url} (tenant {tenant.id}, {state})")
    erasure = erase_tenant(tenant.id, utcnow(), services.store)
    if erasure.cancelled:
        click.echo(f"  cancelled {erasure.cancelled} queued or running backup(s)")
    click.echo("  shredded its snapshot data key: its stored snapshots cannot be decrypted any more"
               if erasure.shredded else "  it had no snapshot data key (nothing was ever stored encrypted)")
    click.echo(f"  deleted {erasure.snapshots} snapshot(s) and everything under its folder in {services.store.url}"
               if erasure.storage_error is None else f"  stored data could not be deleted: {erasure.storage_error}")
    if not erasure.rows_deleted:
        click.echo("The site is uninstalled and due for purge: the hourly purge (or this command again) finishes "
                   "deleting its stored data and rows once the storage answers.", err=True)
        sys.exit(1)
    click.echo("  deleted its rows: site, settings, runs, credentials, audit, data key, download links "
               "(web workers forget the site within 3 s)")
    click.echo("Done.")
