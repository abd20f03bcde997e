"""Migration 0007: the restore tables come with `flask db upgrade`, on SQLite and PostgreSQL, idempotently."""
from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from app import create_app
from app.extensions import db
from tests.support.pg_admin import fresh_database

TABLES = {"restores", "restore_items", "restore_id_map"}


@pytest.fixture
def fresh_pg_url():
    with fresh_database("xb_restore_mig") as url:
        yield url


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_restore_tables_are_created_kept_on_a_second_upgrade_and_dropped_on_downgrade(backend, make_config,
                                                                                         tmp_path, request):
    url = request.getfixturevalue("fresh_pg_url") if backend == "postgresql" else f"sqlite:///{tmp_path / 'm.db'}"
    app = create_app(make_config(DATABASE_URL=url))
    try:
        with app.app_context():
            upgrade(revision="0002")
            assert not TABLES & set(inspect(db.engine).get_table_names())
            upgrade(revision="0007")
            upgrade(revision="0007")  # a second `flask db upgrade` changes nothing
            assert TABLES <= set(inspect(db.engine).get_table_names())
            indexes = {i["name"]: i for i in inspect(db.engine).get_indexes("restores")}
            assert indexes["uq_restores_one_active"]["unique"]
            with db.engine.connect() as conn:
                assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0007"
            downgrade(revision="0002")
            assert not TABLES & set(inspect(db.engine).get_table_names())
            db.metadata.create_all(db.engine)  # a database built with create_all(): the migration leaves it be
            upgrade(revision="0007")
            assert TABLES <= set(inspect(db.engine).get_table_names())
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
