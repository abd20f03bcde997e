"""gunicorn's settings for `gunicorn wsgi:app` (read from the working directory; `-c gunicorn.conf.py` elsewhere).

Command-line flags still win (`--workers 4 --bind 127.0.0.1:8000`). Each section below is owned by one topic.
"""
import os

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
