"""`LOG_FORMAT=json`: a real `flask backup run` process writes only JSON lines, its run's lines carry the run id,
and the run's outcome line has the fields an operator alerts on."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from app.services import services_of
from tests.support.backups import CLIENT_SECRET, save_credentials
from tests.support.paths import ROOT


def test_a_backup_run_process_logs_one_json_object_per_line(xray_app, xray_site):
    save_credentials(xray_app, xray_site)
    config = services_of(xray_app).config
    env = {**os.environ, "DATABASE_URL": config.database_url, "ENCRYPTION_KEYS": config.encryption_keys,
           "INSTANCE_PATH": config.instance_path, "APP_BASE_URL": config.app_base_url,
           "XRAY_API_URL": config.xray_api_url, "XRAY_RATE_LIMIT": "100000", "SCHEDULER_ENABLED": "false",
           "LOG_FORMAT": "json"}
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "backup", "run", xray_site.client_key],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stderr[-3000:]
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]  # every line is JSON
    assert lines and all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    [finished] = [line for line in lines if line.get("event") == "run_finished"]
    run_id = finished["run_id"]
    assert finished["level"] == "INFO" and finished["status"] == "succeeded" and finished["kind"] == "full"
    assert finished["tenant_id"] == xray_site.id and finished["counts"]["tests"] > 0
    assert finished["requests"] > 0 and finished["duration_seconds"] >= 0
    assert any(line.get("run_id") == run_id and line is not finished for line in lines)  # the run's own lines
    assert CLIENT_SECRET not in result.stderr and xray_site.shared_secret not in result.stderr
