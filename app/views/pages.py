"""The two admin pages, server-rendered so the first HTML already shows the state; static/js enhances them."""
from __future__ import annotations

from flask import Blueprint, g, render_template

from ..alerts.health import backup_health
from ..alerts.rules import EVENTS
from ..backups.runs.history import chart_points, list_runs
from ..backups.schedule.rules import DAY_LABELS, FREQUENCY_LABELS
from ..backups.schedule.settings import get_settings
from ..catalogue import LABELS
from ..credentials.people import named_entries, named_view
from ..credentials.validation import REGION_LABELS
from ..models import utcnow
from ..presentation import HEALTH_STATES, RUN_LOZENGES, Wording
from ..services import current_services

bp = Blueprint("pages", __name__)

PAGE_SIZE = 10
AUDIT_PAGE = 10
RETENTION_PRESETS = ((30, "30 days"), (90, "90 days"), (365, "1 year"), (1095, "3 years"))
HISTORY_FILTERS = (("", "All runs"), ("failed,skipped", "Failed or skipped"), ("succeeded", "Succeeded"),
                   ("queued,running", "Running or queued"))
EVENT_LABELS = {
    "failed": "A scheduled backup fails after its retries",
    "skipped": "A scheduled backup cannot run (Xray credentials missing or rejected)",
    "stale": "No backup has succeeded for twice the schedule's interval",
    "recovered": "Backups are healthy again",
}


def credentials_page_href(jira_base_url: str, app_key: str) -> str:
    """Where the Credentials admin page lives in Jira (used when AP.navigator is unavailable)."""
    return f"{jira_base_url.rstrip('/')}/plugins/servlet/ac/{app_key}/xray-credentials"


@bp.get("/pages/xray-credentials")
def credentials_page():
    services = current_services()
    credentials = services.credentials
    view = credentials.view(g.tenant)
    audit, more = credentials.audit_page(g.tenant, AUDIT_PAGE)
    others = {e["accountId"] for e in audit} | {view.get("updatedBy")}
    names = services.names.names(g.tenant, others - {g.account_id, None})
    view, audit = named_view(view, names), named_entries(audit, names)
    fmt = Wording(utcnow())
    return render_template(
        "credentials/page.html",
        cred=view,
        audit=audit,
        audit_more=more,
        names=names,
        regions=REGION_LABELS,
        status_text=fmt.credential_status(view),
        stored_text=fmt.credential_stored(view, g.account_id),
        account_id=g.account_id,
        fmt=fmt,
    )


@bp.get("/pages/backups")
def backups_page():
    services, tenant, now = current_services(), g.tenant, utcnow()
    page = list_runs(tenant, limit=PAGE_SIZE)
    return render_template(
        "backups/page.html",
        health=backup_health(tenant, now),
        alerts=services.alerts.settings.view(tenant),
        site_url=tenant.base_url.rstrip("/"),
        settings=get_settings(tenant, now),
        runs=page.runs,
        has_more=page.next is not None,
        page_size=PAGE_SIZE,
        total_runs=page.total,
        chart=chart_points(tenant),
        credentials_configured=services.credentials.stored(tenant) is not None,
        credentials_href=credentials_page_href(tenant.base_url, services.config.app_key),
        # tojson sorts object keys: orders travel as lists.
        labels={"frequency": FREQUENCY_LABELS, "days": DAY_LABELS, "entities": LABELS,
                "entityOrder": list(LABELS), "status": RUN_LOZENGES, "health": HEALTH_STATES,
                "retention": [list(p) for p in RETENTION_PRESETS], "filters": [list(f) for f in HISTORY_FILTERS],
                "events": [[e, EVENT_LABELS[e]] for e in EVENTS]},
        fmt=Wording(now),
    )
