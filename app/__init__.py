"""Xray Backup for Jira: an Atlassian Connect app that backs up Xray Test Management data."""
from __future__ import annotations

import logging
import os
from pathlib import Path

from flask import Flask

from .config import Config, load_config


def create_app(config: Config | None = None, environ: dict[str, str] | None = None) -> Flask:
    """Build the app: config → extensions → blueprints → error handlers → scheduler."""
    project_root = Path(__file__).resolve().parent.parent
    app = Flask(
        __name__,
        static_folder=str(project_root / "static"),
        template_folder=str(project_root / "templates"),
        instance_path=os.environ.get("INSTANCE_PATH") or str(project_root / "instance"),
    )
    if config is None:
        config = load_config(environ, instance_path=app.instance_path)
    app.instance_path = str(Path(config.instance_path).absolute())
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.extensions["xray_backup_config"] = config
    app.config.update(
        SQLALCHEMY_DATABASE_URI=config.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(config.database_url),
        MAX_CONTENT_LENGTH=64 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.config["CONNECT_ALL_JS_URL"] = config.connect_all_js_url
    _configure_logging()

    from .extensions import db, migrate
    from . import models  # noqa: F401 - registers the tables on db.metadata

    db.init_app(app)
    migrate.init_app(app, db, directory=str(project_root / "migrations"))
    _enable_sqlite_foreign_keys(app)

    from .connect.auth import init_auth
    from .errors import register_error_handlers
    from .hygiene import init_hygiene
    from .views import register_blueprints
    from .commands import register_commands

    register_blueprints(app)
    init_auth(app)
    init_hygiene(app)
    register_error_handlers(app)
    register_commands(app)

    from .scheduler import init_scheduler

    init_scheduler(app)
    return app


def app_config(app: Flask | None = None) -> Config:
    """The validated configuration of the current (or given) app."""
    from flask import current_app

    return (app or current_app).extensions["xray_backup_config"]


def _engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        # Workers and the web share one SQLite file: wait for locks instead of failing at once.
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 5}


def _enable_sqlite_foreign_keys(app: Flask) -> None:
    from sqlalchemy import event
    from sqlalchemy.engine import Engine

    if not app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        return

    @event.listens_for(Engine, "connect")
    def _on_connect(dbapi_connection, _record):  # pragma: no cover - trivial
        if type(dbapi_connection).__module__.startswith("sqlite3"):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()


def _configure_logging() -> None:
    from .logging_filters import install_redaction

    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_redaction()
