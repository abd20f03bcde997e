"""Migration 0008: the incremental-backup columns, existing snapshots marked full, idempotent, reversible."""
from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from app import create_app
from app.extensions import db
from tests.support.pg_admin import fresh_database

RUN_COLUMNS = {"kind", "parent_id", "changed", "stored_bytes", "full_requested"}


@pytest.fixture
def fresh_pg_url():
    with fresh_database("xb_incr_mig") as url:
        yield url


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_existing_snapshots_become_full_ones_and_settings_get_seven_days(backend, make_config, tmp_path, request):
    url = request.getfixturevalue("fresh_pg_url") if backend == "postgresql" else f"sqlite:///{tmp_path / 'm.db'}"
    app = create_app(make_config(DATABASE_URL=url))
    try:
        with app.app_context():
            upgrade(revision="0007")
            with db.engine.begin() as conn:
                conn.execute(text("INSERT INTO tenants (client_key, shared_secret_enc, base_url, product_type, installed, enabled, "
                                  "installed_at, updated_at) VALUES ('k', 'x', 'https://a.atlassian.net', 'jira', true, true, "
                                  "CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
                tenant_id = conn.scalar(text("SELECT id FROM tenants"))
                for run_id, status in (("r1", "succeeded"), ("r2", "failed")):
                    conn.execute(text("INSERT INTO backup_runs (id, tenant_id, status, trigger, queued_at, attempts) "
                                      "VALUES (:id, :t, :s, 'manual', CURRENT_TIMESTAMP, 1)"),
                                 {"id": run_id, "t": tenant_id, "s": status})
                conn.execute(text("INSERT INTO backup_settings (tenant_id, enabled, frequency, time_of_day, "
                                  "retention_days, updated_at) VALUES (:t, true, 'daily', '02:00', 30, "
                                  "CURRENT_TIMESTAMP)"), {"t": tenant_id})
            upgrade(revision="0008")
            upgrade(revision="0008")  # a second `flask db upgrade` changes nothing
            assert RUN_COLUMNS <= {c["name"] for c in inspect(db.engine).get_columns("backup_runs")}
            with db.engine.connect() as conn:
                kinds = dict(conn.execute(text("SELECT id, kind FROM backup_runs")).all())
                assert kinds == {"r1": "full", "r2": None}
                assert conn.scalar(text("SELECT full_every_days FROM backup_settings")) == 7
                assert not conn.scalar(text("SELECT full_requested FROM backup_runs WHERE id = 'r1'"))
            downgrade(revision="0007")
            assert not RUN_COLUMNS & {c["name"] for c in inspect(db.engine).get_columns("backup_runs")}
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
