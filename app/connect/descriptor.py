"""The Connect descriptor: the template file with baseUrl and key filled in from configuration.

Both `GET /atlassian-connect.json` and the Forge manifest (app/connect/manifest.py) are rendered from it, so the
module list has one home.
"""
from __future__ import annotations

import json
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parents[2] / "atlassian-connect.json"


def render_descriptor(base_url: str, app_key: str) -> dict:
    """The descriptor as a dict; the base URL comes from APP_BASE_URL, never from the Host header."""
    text = TEMPLATE.read_text(encoding="utf-8")
    # json.dumps(...)[1:-1] escapes the values for a JSON string context.
    text = text.replace("{{baseUrl}}", json.dumps(base_url.rstrip("/"))[1:-1])
    text = text.replace("{{appKey}}", json.dumps(app_key)[1:-1])
    return json.loads(text)
