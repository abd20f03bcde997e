"""The Xray Credentials page and its JSON API; thin over app/credentials.py.

The contract (interface.md) with these additive extensions:
- GET/PUT answers also carry `updatedBy`, `testsVisible`, `statusMessage`; `status` is `connected`,
  `rejected` (at the last test), `unverified` (stored while Xray was unreachable, or unreachable at the
  last test), or null when nothing is stored.
- PUT: an empty `clientSecret` keeps the stored secret. When Xray cannot be reached the answer is
  `422 {"error": "xray_unreachable"}` and nothing is stored; the same body with `"storeUnverified": true`
  stores the pair as not verified. A key whose data lives in another region is 422 with a `region` field.
- POST /verify also returns `credentials` (the GET shape); with nothing stored it is 409.
- GET /api/xray-credentials/audit → `{"entries": [{"at", "accountId", "action", "actionLabel", "outcome"}]}`,
  newest first, never the values.
"""
from __future__ import annotations

from datetime import datetime

from flask import Blueprint, g, jsonify, render_template, request

from .. import credentials
from ..errors import ValidationFailed
from ..models import utcnow

bp = Blueprint("credentials", __name__)


def _json_body():
    body = request.get_json(silent=True)
    if body is None:
        raise ValidationFailed("The request body must be a JSON object.", {})
    return body


@bp.get("/api/xray-credentials")
def get_credentials():
    return jsonify(credentials.credential_view(g.tenant))


@bp.put("/api/xray-credentials")
def put_credentials():
    credentials.save_credentials(g.tenant, g.account_id, _json_body())
    return jsonify(credentials.credential_view(g.tenant))


@bp.delete("/api/xray-credentials")
def delete_credentials():
    credentials.remove_credentials(g.tenant, g.account_id)
    return "", 204


@bp.post("/api/xray-credentials/verify")
def verify_credentials():
    ok, message = credentials.verify_stored(g.tenant, g.account_id)
    return jsonify({"ok": ok, "message": message, "credentials": credentials.credential_view(g.tenant)})


@bp.get("/api/xray-credentials/audit")
def credential_audit():
    return jsonify({"entries": credentials.recent_audit(g.tenant)})


@bp.get("/pages/xray-credentials")
def credentials_page():
    now = utcnow()
    view = credentials.credential_view(g.tenant)
    audit = credentials.recent_audit(g.tenant)
    return render_template(
        "credentials/page.html",
        cred=view,
        audit=audit,
        regions=credentials.REGION_LABELS,
        status_text=status_text(view, now),
        stored_text=stored_text(view, g.account_id),
        account_id=g.account_id,
        now=now,
        ago=ago,
        format_time=format_time,
    )


# ---------------------------------------------------------------- wording shared with static/js/credentials.js


def _parse(iso: str | None) -> datetime | None:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")) if iso else None


def ago(iso: str | None, now: datetime) -> str:
    """'just now', '5 minutes ago', '3 hours ago', '2 days ago'."""
    when = _parse(iso)
    if when is None:
        return ""
    seconds = max(0, int((now - when).total_seconds()))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'} ago"
    return "just now"


def format_time(iso: str | None) -> str:
    when = _parse(iso)
    return when.strftime("%d %b %Y, %H:%M UTC") if when else ""


def status_text(view: dict, now: datetime) -> str:
    status = view.get("status")
    if not view.get("configured"):
        return "Not configured: backups skip all Xray data until credentials are stored."
    if status == "connected":
        n = view.get("testsVisible")
        visible = "" if n is None else f" — {n} test{'' if n == 1 else 's'} visible"
        return f"Connected{visible}, verified {ago(view.get('verifiedAt'), now)}"
    if status == "rejected":
        return "Xray rejected these credentials"
    return "Not verified: Xray unreachable"


def stored_text(view: dict, account_id: str | None) -> str:
    if not view.get("configured"):
        return ""
    who = view.get("updatedBy")
    by = " by you" if who and who == account_id else (f" by {who}" if who else "")
    return f"Stored {format_time(view.get('updatedAt'))}{by}"
