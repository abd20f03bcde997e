"""Xray Backup for Jira: an Atlassian Connect app that backs up Xray Test Management data."""
from __future__ import annotations

import os
from pathlib import Path

from flask import Flask
from sqlalchemy.engine import make_url

from .commands import register_commands
from .config import Config, load_config
from .connect.auth import init_auth
from .errors import register_error_handlers
from .extensions import configure_sqlite, db, migrate, postgresql_timeouts
from .hygiene import init_hygiene
from .logs import configure_logging, init_request_ids
from .services import EXTENSION, build_services
from .views import register_blueprints

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Config | None = None, environ: dict[str, str] | None = None) -> Flask:
    """Build the app: config → database → services → blueprints → error handlers. Starts no threads."""
    app = Flask(
        __name__,
        static_folder=str(PROJECT_ROOT / "static"),
        template_folder=str(PROJECT_ROOT / "templates"),
        instance_path=os.environ.get("INSTANCE_PATH") or str(PROJECT_ROOT / "instance"),
    )
    if config is None:
        config = load_config(environ, instance_path=app.instance_path)
    app.instance_path = str(Path(config.instance_path).absolute())
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    app.config.update(
        SQLALCHEMY_DATABASE_URI=config.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(config.database_url),
        MAX_CONTENT_LENGTH=64 * 1024,
        JSON_SORT_KEYS=False,
    )
    app.config["CONNECT_ALL_JS_URL"] = config.connect_all_js_url
    configure_logging(config.log_format)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    with app.app_context():
        engine = db.engine
    if config.database_url.startswith("sqlite"):
        configure_sqlite(engine)
    services = app.extensions[EXTENSION] = build_services(config, engine)

    register_blueprints(app)
    init_request_ids(app)  # before authentication, so its log lines carry the request id too
    init_auth(app, services)
    init_hygiene(app, config)
    register_error_handlers(app)
    register_commands(app)
    return app


DB_CONNECT_TIMEOUT = 10  # seconds: a database that does not answer fails a request instead of hanging it
DB_STATEMENT_TIMEOUT_MS = 300_000  # a backstop against a wedged statement; nothing the app runs comes near it


def _engine_options(url: str) -> dict:
    if url.startswith("sqlite"):
        # Workers and the web share one SQLite file: wait for locks instead of failing at once.
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    connect_args = postgresql_timeouts(url, connect_timeout=DB_CONNECT_TIMEOUT,
                                       statement_timeout_ms=DB_STATEMENT_TIMEOUT_MS)
    if "keepalives" not in make_url(url).query:  # a server that vanished is noticed in about a minute, not hours
        connect_args.update(keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3)
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 5, "pool_timeout": 10,
            "connect_args": connect_args}
