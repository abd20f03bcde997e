"""The Xray credentials JSON API; thin over app/credentials/service.py.

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

from flask import Blueprint, g, jsonify

from ..errors import ValidationFailed, answers_json
from ..jsonbody import request_json
from ..services import current_services

bp = answers_json(Blueprint("credentials_api", __name__))


def _json_body():
    body = request_json(required=False)
    if body is None:
        raise ValidationFailed("The request body must be a JSON object.", {})
    return body


@bp.get("/api/xray-credentials")
def get_credentials():
    return jsonify(current_services().credentials.view(g.tenant))


@bp.put("/api/xray-credentials")
def put_credentials():
    credentials = current_services().credentials
    credentials.save(g.tenant, g.account_id, _json_body())
    return jsonify(credentials.view(g.tenant))


@bp.delete("/api/xray-credentials")
def delete_credentials():
    current_services().credentials.remove(g.tenant, g.account_id)
    return "", 204


@bp.post("/api/xray-credentials/verify")
def verify_credentials():
    credentials = current_services().credentials
    ok, message = credentials.verify_stored(g.tenant, g.account_id)
    return jsonify({"ok": ok, "message": message, "credentials": credentials.view(g.tenant)})


@bp.get("/api/xray-credentials/audit")
def credential_audit():
    return jsonify({"entries": current_services().credentials.audit(g.tenant)})
