"""App fixtures: apps on SQLite and PostgreSQL, real keys, a clean database per test, an installed tenant."""
from __future__ import annotations

import pytest
from flask_migrate import upgrade
from sqlalchemy import inspect

from app import create_app
from app.config import load_config
from app.crypto import generate_key
from app.extensions import db
from app.services import services_of
from sim.jira import FakeJira
from tests.support.connect import ApiClient, install_tenant
from tests.support.pg_admin import fresh_database



@pytest.fixture(scope="session")
def encryption_keys() -> str:
    return f"k1:{generate_key()}"


@pytest.fixture(scope="session")
def pg_database_url():
    """A fresh PostgreSQL database for this test session (dropped afterwards); skip if none is reachable."""
    with fresh_database("xb_test") as url:
        yield url


@pytest.fixture
def make_config(tmp_path, encryption_keys):
    """Build a validated Config for a test, with any environment variable overridden."""

    def _make(**env: str):
        instance = tmp_path / "instance"
        instance.mkdir(exist_ok=True)
        environ = {
            "APP_BASE_URL": "https://xray-backup.example.test",
            "ENCRYPTION_KEYS": encryption_keys,
            "SCHEDULER_ENABLED": "false",
            "CONNECT_ALLOWED_HOSTS": "*.atlassian.net,127.0.0.1,localhost",
            "DATABASE_URL": f"sqlite:///{instance / 'app.db'}",
        }
        environ.update(env)
        return load_config(environ, instance_path=str(instance))

    return _make


def _prepare_database(app) -> None:
    """Migrate a new database; empty every table of one already migrated."""
    with app.app_context():
        if "alembic_version" not in inspect(db.engine).get_table_names():
            upgrade()
        else:
            with db.engine.begin() as conn:
                for table in reversed(db.metadata.sorted_tables):
                    conn.execute(table.delete())


@pytest.fixture
def make_app(make_config):
    """Create an app on a migrated, empty database (SQLite by default)."""
    created = []

    def _make(**env: str):
        app = create_app(make_config(**env))
        app.testing = True
        _prepare_database(app)
        created.append(app)
        return app

    yield _make
    for app in created:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(make_app):
    return make_app()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_app(request, make_app):
    """The app on each supported database: tests using it run against SQLite and PostgreSQL."""
    if request.param == "postgresql":
        return make_app(DATABASE_URL=request.getfixturevalue("pg_database_url"))
    return make_app()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


# ---------------------------------------------------------------- Connect (shared by every area)


@pytest.fixture
def fake_jira():
    """A running fake Jira site (`sim.jira.FakeJira`): `.url`, `.admins`, `.projects`, `.requests`."""
    with FakeJira() as jira:
        yield jira


@pytest.fixture
def tenant(app, fake_jira):
    """A tenant installed in the `app` database whose baseUrl is the fake Jira; admin is "admin-account"."""
    return install_tenant(app, fake_jira)


@pytest.fixture
def api(app, tenant):
    """A test client whose get/put/post/delete carry a valid context token for the admin."""
    return ApiClient(app.test_client(), tenant)


@pytest.fixture
def services(app):
    """The `app` fixture's services (config, store, sealer, caches, credential service, …)."""
    return services_of(app)
