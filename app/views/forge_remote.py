"""Forge Remote endpoints: thin over app/connect/forge_auth.py (the FIT) and app/forge_remote.py (the answers)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..connect.auth import public
from ..connect.forge_auth import verify_forge_call
from ..errors import answers_json
from ..forge_remote import backup_status as linked_backup_status
from ..models import utcnow
from ..services import current_services

bp = answers_json(Blueprint("forge_remote", __name__))


@bp.post("/forge/remote/backup-status")
@public  # no Connect JWT comes from Forge: the Forge Invocation Token is verified below instead
def backup_status():
    services = current_services()
    invocation = verify_forge_call(services)
    return jsonify(linked_backup_status(invocation.installation_id, utcnow(), credentials=services.credentials))
