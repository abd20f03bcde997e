"""`/api/backup-settings`: the tenant's schedule and retention."""
from flask import Blueprint, g, jsonify

from ..backups.schedule import settings as backup_settings
from ..errors import answers_json
from ..jsonbody import request_json
from ..models import utcnow

bp = answers_json(Blueprint("backup_settings", __name__))


@bp.get("/api/backup-settings")
def get_settings():
    return jsonify(backup_settings.get_settings(g.tenant, utcnow()))


@bp.put("/api/backup-settings")
def put_settings():
    body = request_json(required=False)
    return jsonify(backup_settings.update_settings(g.tenant, body, utcnow()))
