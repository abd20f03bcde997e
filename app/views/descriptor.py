"""`/atlassian-connect.json`: the descriptor template with baseUrl and key from configuration."""
from __future__ import annotations

import json

from flask import Blueprint, current_app

from ..connect.auth import public
from ..connect.descriptor import render_descriptor
from ..errors import answers_json
from ..services import current_services

bp = answers_json(Blueprint("descriptor", __name__))


@bp.get("/atlassian-connect.json")
@public
def descriptor():
    config = current_services().config
    body = json.dumps(render_descriptor(config.app_base_url, config.app_key), indent=2)
    return current_app.response_class(body, mimetype="application/json")
