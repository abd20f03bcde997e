"""The tenant's Forge link: the 0004 migration and the lookup by installation (lifecycle routes: tests/api)."""
from __future__ import annotations

import pytest
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from app import create_app
from app.extensions import db
from app.models import utcnow
from app.services import services_of
from app.tenants import find_by_installation, install, uninstall
from tests.support.pg_admin import fresh_database

INSTALLATION = "ari:cloud:ecosystem::installation/5a0e5c9b-6f55-4a4f-9c39-0a9a4bd2ac11"


@pytest.fixture
def fresh_pg_url():
    """An empty PostgreSQL database of its own (the session one is migrated already)."""
    with fresh_database("xb_mig4") as url:
        yield url


def _columns(name: str) -> set[str]:
    return {c["name"] for c in inspect(db.engine).get_columns(name)}


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_installation_migration_keeps_tenants_and_their_rows_and_is_idempotent(backend, make_config, tmp_path,
                                                                                  request):
    url = request.getfixturevalue("fresh_pg_url") if backend == "postgresql" else f"sqlite:///{tmp_path / 'm.db'}"
    app = create_app(make_config(DATABASE_URL=url))
    try:
        with app.app_context():
            upgrade(revision="0002")
            assert "installation_id" not in _columns("tenants")
            with db.engine.begin() as conn:
                conn.execute(text("INSERT INTO tenants (client_key, shared_secret_enc, base_url, product_type, "
                                  "installed, enabled, installed_at, updated_at) VALUES ('k', 's', 'https://x', "
                                  "'jira', true, true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
                conn.execute(text("INSERT INTO backup_runs (id, tenant_id, status, trigger, queued_at, attempts) "
                                  "SELECT 'r1', id, 'succeeded', 'manual', CURRENT_TIMESTAMP, 1 FROM tenants"))
            upgrade(revision="0004")
            upgrade(revision="0004")  # a second `flask db upgrade` changes nothing
            assert "installation_id" in _columns("tenants")
            indexes = {i["name"]: i for i in inspect(db.engine).get_indexes("tenants")}
            assert indexes["ix_tenants_installation_id"]["unique"]
            with db.engine.connect() as conn:
                assert conn.scalar(text("SELECT count(*) FROM tenants WHERE installation_id IS NULL")) == 1
                assert conn.scalar(text("SELECT count(*) FROM backup_runs")) == 1
            downgrade(revision="0002")
            assert "installation_id" not in _columns("tenants")
            with db.engine.connect() as conn:
                # Going down drops only the column: the tenant and its runs stay.
                assert conn.scalar(text("SELECT count(*) FROM tenants")) == 1
                assert conn.scalar(text("SELECT count(*) FROM backup_runs")) == 1
            upgrade(revision="0004")
            assert "installation_id" in _columns("tenants")
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_only_an_installed_tenant_is_found_by_its_installation(app, fake_jira):
    services = services_of(app)
    with app.app_context():
        assert find_by_installation(INSTALLATION) is None
        install(fake_jira.install_payload(installationId=INSTALLATION), utcnow(), sealer=services.sealer)
        assert find_by_installation(INSTALLATION).client_key == fake_jira.client_key
        assert find_by_installation(INSTALLATION + "0") is None
        uninstall(fake_jira.client_key, utcnow(), 30)
        assert find_by_installation(INSTALLATION) is None
