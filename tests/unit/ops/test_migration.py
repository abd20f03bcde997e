"""Migration 0005 (process heartbeats, metric counters): idempotent, reversible, on SQLite and PostgreSQL."""
from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect

from app import create_app
from app.extensions import db
from tests.support.pg_admin import fresh_database

TABLES = {"process_heartbeats", "metric_counters"}


@pytest.fixture
def fresh_url(request, tmp_path):
    if request.param == "postgresql":
        with fresh_database("xb_ops") as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'ops.db'}"


@pytest.mark.parametrize("fresh_url", ["sqlite", "postgresql"], indirect=True)
def test_the_operations_tables_come_and_go_with_the_migration_and_a_repeat_changes_nothing(fresh_url, make_config):
    app = create_app(make_config(DATABASE_URL=fresh_url))
    try:
        with app.app_context():
            upgrade(revision="0002")
            assert not TABLES & set(inspect(db.engine).get_table_names())
            upgrade()
            upgrade()
            assert TABLES <= set(inspect(db.engine).get_table_names())
            assert "ix_process_heartbeats_beat_at" in {i["name"] for i in inspect(db.engine).get_indexes(
                "process_heartbeats")}
            downgrade(revision="0002")
            assert not TABLES & set(inspect(db.engine).get_table_names())
            db.metadata.create_all(db.engine)  # a database built from the models already has them
            upgrade()
            assert TABLES <= set(inspect(db.engine).get_table_names())
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
