"""WSGI entry point: `gunicorn wsgi:app` and `python -m flask --app wsgi ...`.

Serving is the one path that starts background threads: the process heartbeat, and the embedded scheduler and
workers when SCHEDULER_ENABLED (see app/serving.py for what counts as serving). `flask keys generate` makes the
first key, so it runs without loading any configuration.
"""
import sys

from app import create_app
from app.commands.keys import create_keygen_app, only_generating_a_key
from app.config import ConfigError
from app.serving import is_serving_process, start_serving
from app.services import services_of

if only_generating_a_key(sys.argv):
    app = create_keygen_app()
else:
    try:
        app = create_app()
    except ConfigError as exc:  # one clear line instead of a traceback, for every command and server
        raise SystemExit(f"Configuration error: {exc}") from None
    _services = services_of(app)
    if is_serving_process():
        start_serving(app, _services)
