"""What Forge Remote calls answer: the tenant linked to a Forge installation, and its backup status.

The link is the `installationId` the verified `installed` callback stored on the tenant (app/tenants.py);
an installation nobody installed (or uninstalled) finds nothing, and nothing of any tenant is returned.
"""
from __future__ import annotations

import logging
from datetime import datetime

from .backups.runs.history import latest_run
from .backups.schedule.settings import default_settings, settings_json
from .credentials.service import CredentialService
from .errors import NotFound
from .extensions import db
from .models import BackupRun, BackupSettings, Tenant
from .presentation import iso
from .tenants import find_by_installation

logger = logging.getLogger(__name__)


class UnknownInstallation(NotFound):
    code = "unknown_installation"
    default_message = "No installed Jira site is linked to this Forge installation."


def linked_tenant(installation_id: str) -> Tenant:
    """The installed tenant of a Forge installation, or UnknownInstallation (404)."""
    tenant = find_by_installation(installation_id)
    if tenant is None:
        logger.info("Forge call for installation %s: no installed tenant is linked to it", installation_id)
        raise UnknownInstallation()
    return tenant


def _run_summary(run: BackupRun | None) -> dict | None:
    if run is None:
        return None
    return {"id": run.id, "status": run.status, "trigger": run.trigger, "finishedAt": iso(run.finished_at)}


def backup_status(installation_id: str, now: datetime, *, credentials: CredentialService) -> dict:
    """`POST /forge/remote/backup-status`: the linked site, whether Xray is configured, last and next backup."""
    tenant = linked_tenant(installation_id)
    # Read only: a tenant whose settings were never stored is shown the defaults the scheduler will store.
    settings = db.session.get(BackupSettings, tenant.id) or default_settings(tenant, now)
    return {
        "installationId": installation_id,
        "siteUrl": tenant.base_url,
        "configured": credentials.stored(tenant) is not None,
        "lastBackup": _run_summary(latest_run(tenant)),
        "nextRunAt": settings_json(settings)["nextRunAt"],
    }
