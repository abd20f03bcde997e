"""The two admin pages, server-rendered so the first HTML already shows the state; static/js enhances them."""
from __future__ import annotations

from flask import Blueprint, g, render_template

from ..backups.runs.history import chart_points, list_runs
from ..backups.schedule.rules import DAY_LABELS, FREQUENCY_LABELS
from ..backups.schedule.settings import get_settings
from ..catalogue import LABELS
from ..credentials.validation import REGION_LABELS
from ..models import utcnow
from ..presentation import Wording
from ..services import current_services

bp = Blueprint("pages", __name__)

PAGE_SIZE = 10
STATUS_LOZENGES = {
    "queued": ("Queued", "default"),
    "running": ("Running", "inprogress"),
    "succeeded": ("Succeeded", "success"),
    "failed": ("Failed", "removed"),
    "skipped": ("Skipped", "moved"),
    "cancelled": ("Cancelled", "default"),
}


def credentials_page_href(jira_base_url: str, app_key: str) -> str:
    """Where the Credentials admin page lives in Jira (used when AP.navigator is unavailable)."""
    return f"{jira_base_url.rstrip('/')}/plugins/servlet/ac/{app_key}/xray-credentials"


@bp.get("/pages/xray-credentials")
def credentials_page():
    credentials = current_services().credentials
    view = credentials.view(g.tenant)
    fmt = Wording(utcnow())
    return render_template(
        "credentials/page.html",
        cred=view,
        audit=credentials.audit(g.tenant),
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
                "entityOrder": list(LABELS), "status": STATUS_LOZENGES},
        fmt=Wording(now),
    )
