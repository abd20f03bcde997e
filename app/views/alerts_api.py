"""Backup health and alert settings: thin over app/alerts/.

The contract (interface.md, "Backup health and alerts") with these additive extensions: the alert settings
also carry `webhookHost` (the configured webhook's host, to recognise it; never the URL) and `emailAvailable`
(whether this server sends e-mail at all: SMTP_URL).
"""
from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from ..alerts.health import backup_health
from ..errors import answers_json
from ..models import utcnow
from ..services import current_services

bp = answers_json(Blueprint("alerts_api", __name__))


@bp.get("/api/backup-health")
def get_health():
    return jsonify(backup_health(g.tenant, utcnow()))


@bp.get("/api/alert-settings")
def get_alert_settings():
    return jsonify(current_services().alerts.settings.view(g.tenant))


@bp.put("/api/alert-settings")
def put_alert_settings():
    alerts = current_services().alerts
    return jsonify(alerts.settings.update(g.tenant, g.account_id, request.get_json(silent=True), utcnow()))


@bp.post("/api/alert-settings/test")
def test_alert_settings():
    return jsonify(current_services().alerts.send_test(g.tenant))
