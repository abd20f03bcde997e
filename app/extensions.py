"""Flask extensions, created unbound and bound in create_app; the few SQL spellings that depend on the dialect."""
from __future__ import annotations

import re

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)
migrate = Migrate(render_as_batch=True)


def is_postgresql() -> bool:
    """Whether the current session talks to PostgreSQL (else SQLite)."""
    return db.session.get_bind().dialect.name == "postgresql"


def insert_ignoring_conflict(model, values, *, index_elements=None, dialect: str | None = None):
    """INSERT … ON CONFLICT DO NOTHING on the session's dialect, or the named one (SQLite and PostgreSQL have it)."""
    postgres = dialect == "postgresql" if dialect is not None else is_postgresql()
    insert = postgresql.insert if postgres else sqlite.insert
    return insert(model).values(values).on_conflict_do_nothing(index_elements=index_elements)


def postgresql_timeouts(url: str, *, connect_timeout: int, statement_timeout_ms: int, override: bool = False) -> dict:
    """psycopg connect arguments (they win over the URL's) setting these timeouts.

    Unless `override`, timeouts the operator put in DATABASE_URL (`?connect_timeout=`, a statement_timeout in
    `?options=`) are kept. Other `-c` options of the URL (a search_path) always stay in force.
    """
    query = make_url(url).query
    options = query.get("options", "")
    options = " ".join(options) if isinstance(options, tuple) else options
    args = {}
    if override or "connect_timeout" not in query:
        args["connect_timeout"] = connect_timeout
    if override or "statement_timeout" not in options:
        kept = [part for part in re.split(r"\s+(?=-c)", options.strip()) if part and "statement_timeout" not in part]
        args["options"] = " ".join(kept + [f"-c statement_timeout={statement_timeout_ms}"])
    return args


def configure_sqlite(engine: Engine) -> None:
    """Foreign keys and WAL on every connection of this SQLite engine (no effect on other engines)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - trivial
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()
