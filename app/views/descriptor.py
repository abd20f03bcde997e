"""`/atlassian-connect.json`: the descriptor template with baseUrl and key from configuration."""
from __future__ import annotations

import json
from pathlib import Path

from flask import Blueprint, current_app

from ..connect.auth import public
from ..errors import answers_json
from ..services import current_services

bp = answers_json(Blueprint("descriptor", __name__))
TEMPLATE = Path(__file__).resolve().parents[2] / "atlassian-connect.json"


def render_descriptor(base_url: str, app_key: str) -> dict:
    """The descriptor as a dict; the base URL comes from APP_BASE_URL, never from the Host header."""
    text = TEMPLATE.read_text(encoding="utf-8")
    # json.dumps(...)[1:-1] escapes the values for a JSON string context.
    text = text.replace("{{baseUrl}}", json.dumps(base_url.rstrip("/"))[1:-1])
    text = text.replace("{{appKey}}", json.dumps(app_key)[1:-1])
    return json.loads(text)


@bp.get("/atlassian-connect.json")
@public
def descriptor():
    config = current_services().config
    body = json.dumps(render_descriptor(config.app_base_url, config.app_key), indent=2)
    return current_app.response_class(body, mimetype="application/json")
