"""Whether this process serves HTTP: only then does `wsgi.py` start the embedded scheduler and workers."""
from __future__ import annotations

import click
from flask.helpers import get_debug_flag
from werkzeug.serving import is_running_from_reloader


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
