"""gunicorn settings for serving `wsgi:app` (read from the working directory; the README's production command
passes `-c gunicorn.conf.py`). Command-line flags still win (`--workers 4 --bind 127.0.0.1:8000`).

Each concern keeps its own labelled section, so settings can be added without touching the others.
"""
import os
import sys

# gunicorn loads this file before it puts the working directory on sys.path: make `app` importable from here.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from gunicorn.glogging import Logger as _GunicornLogger  # noqa: E402

from app.logs import install_redaction  # noqa: E402


# ---- Security: log redaction ------------------------------------------------------------------------------
# gunicorn's loggers (gunicorn.error, gunicorn.access) have their own handlers and do not propagate to the root
# logger, so the app's redaction would never see an access line with `?jwt=…` or a download token. This logger
# class puts the redaction filter (app/logs.py) on every handler gunicorn sets up, each time it sets them up
# (at start and on a reload), whatever --access-logfile / --error-logfile / syslog point them at.
class RedactingLogger(_GunicornLogger):
    def setup(self, cfg):
        super().setup(cfg)
        install_redaction(self.error_log, self.access_log)


logger_class = RedactingLogger


# ---------------------------------------------------------------- Operations: workers, timeouts, logs
#
# Snapshot downloads stream a zip for as long as the client reads it (minutes for gigabytes). A sync worker is
# killed once one request takes longer than `timeout`; a gthread worker serves requests from a thread pool and
# heartbeats to the arbiter from its main loop, so `timeout` only catches a worker that is stuck as a whole.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "8"))  # concurrent requests per worker (each a DB connection)
timeout = 60            # seconds a worker may stay silent to the arbiter before it is restarted
graceful_timeout = 120  # on SIGTERM/SIGHUP, requests under way (downloads) get this long to finish
keepalive = 5           # seconds an idle keep-alive connection from the proxy stays open
# Every worker imports wsgi.py itself and records its own heartbeat (threads do not survive a fork).
preload_app = False

# LOG_FORMAT=json: gunicorn's own lines (errors, access log) become JSON objects too, redacted like the app's.
if os.environ.get("LOG_FORMAT", "text").strip().lower() == "json":
    def _json_handler(stream: str) -> dict:
        return {"class": "logging.StreamHandler", "formatter": "json", "filters": ["redact"], "stream": stream}

    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "app.logs.JsonFormatter"}},
        "filters": {"redact": {"()": "app.logs.RedactingFilter"}},
        "handlers": {"json_stderr": _json_handler("ext://sys.stderr"),
                     "json_stdout": _json_handler("ext://sys.stdout")},
        "root": {"level": "INFO", "handlers": ["json_stderr"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["json_stderr"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["json_stdout"], "propagate": False},
        },
    }
