"""gunicorn settings for serving `wsgi:app` (the README's production command: gunicorn -c gunicorn.conf.py …).

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
