"""Whether this process serves HTTP, and what a serving process starts: its heartbeat and the embedded scheduler."""
from __future__ import annotations

import atexit

import click
from flask import Flask
from flask.helpers import get_debug_flag
from werkzeug.serving import is_running_from_reloader

from .extensions import db
from .ops.heartbeats import ProcessBeat
from .scheduler import start_background


def is_serving_process() -> bool:
    """True under a WSGI server, or in the process `flask run` serves from (not the reloader's file watcher).

    Every other command that imports `wsgi` (`db upgrade`, `backup run`, `scheduler`, which starts its own) is not.
    """
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return True  # imported by a WSGI server
    if ctx.command.name != "run":
        return False
    reload = ctx.params.get("reload")
    if reload is None:
        reload = get_debug_flag()
    # With the reloader, the first process only watches files; the one it spawns serves.
    return not reload or is_running_from_reloader()


def start_serving(app: Flask, services) -> ProcessBeat:
    """Record this web process (kind, keys it holds) and beat; start the embedded scheduler when enabled.

    With gunicorn this runs in every worker (the app is not preloaded: gunicorn.conf.py), so each worker beats.
    """
    with app.app_context():
        engine = db.engine
    beat = ProcessBeat(engine, kind="web", key_ids=services.config.keyring.kids).start()
    atexit.register(beat.stop)  # a worker that exits cleanly disappears from the heartbeats at once
    if services.config.scheduler_enabled:
        background = start_background(app, services, workers=services.config.backup_workers)
        atexit.register(background.beat.stop)
    return beat
