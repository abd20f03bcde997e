"""The Xray credentials JSON API; thin over app/credentials/service.py.

The contract (interface.md) with these additive extensions:
- GET/PUT answers also carry `updatedBy`, `testsVisible`, `statusMessage`; `status` is `connected`,
  `rejected` (at the last test), `unverified` (stored while Xray was unreachable, or unreachable at the
  last test), or null when nothing is stored.
- PUT: an empty `clientSecret` keeps the stored secret. When Xray cannot be reached the answer is
  `422 {"error": "xray_unreachable"}` and nothing is stored; the same body with `"storeUnverified": true`
  stores the pair as not verified. A key whose data lives in another region is 422 with a `region` field.
- POST /verify also returns `credentials` (the GET shape); with nothing stored it is 409.
- GET /api/xray-credentials/audit[?before=ID&limit=N] → `{"entries": [{"id", "at", "accountId", "accountName",
  "action", "actionLabel", "outcome"}], "more": bool}`, newest first (older than entry `before`), never the values.
- GET/PUT answers carry `updatedByName`; `accountName`/`updatedByName` are display names from Jira (null when
  Jira does not give one).
"""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from ..credentials.people import named_entries, named_view
from ..errors import ValidationFailed, answers_json
from ..jsonbody import request_json
from ..services import current_services

AUDIT_PAGE = 10
MAX_AUDIT_PAGE = 50

bp = answers_json(Blueprint("credentials_api", __name__))


def _json_body():
    body = request_json(required=False)
    if body is None:
        raise ValidationFailed("The request body must be a JSON object.", {})
    return body


def _view() -> dict:
    services = current_services()
    view = services.credentials.view(g.tenant)
    others = [view["updatedBy"]] if view.get("updatedBy") not in (None, g.account_id) else []
    return named_view(view, services.names.names(g.tenant, others))


def _int(name: str, default: int | None, low: int, high: int | None = None) -> int | None:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    if not raw.isdigit() or int(raw) < low or (high is not None and int(raw) > high):
        raise ValidationFailed(f"{name} must be a whole number.", {name: f"Expected a whole number from {low}"
                                                                        + (f" to {high}." if high else ".")})
    return int(raw)


@bp.get("/api/xray-credentials")
def get_credentials():
    return jsonify(_view())


@bp.put("/api/xray-credentials")
def put_credentials():
    credentials = current_services().credentials
    credentials.save(g.tenant, g.account_id, _json_body())
    return jsonify(_view())


@bp.delete("/api/xray-credentials")
def delete_credentials():
    current_services().credentials.remove(g.tenant, g.account_id)
    return "", 204


@bp.post("/api/xray-credentials/verify")
def verify_credentials():
    credentials = current_services().credentials
    ok, message = credentials.verify_stored(g.tenant, g.account_id)
    return jsonify({"ok": ok, "message": message, "credentials": _view()})


@bp.get("/api/xray-credentials/audit")
def credential_audit():
    services = current_services()
    entries, more = services.credentials.audit_page(g.tenant, _int("limit", AUDIT_PAGE, 1, MAX_AUDIT_PAGE),
                                                    _int("before", None, 1))
    names = services.names.names(g.tenant, [e["accountId"] for e in entries if e["accountId"] != g.account_id])
    return jsonify({"entries": named_entries(entries, names), "more": more})
