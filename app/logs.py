"""Logging set-up: text or JSON lines, a request id per request and a run id per run, tokens redacted.

`LOG_FORMAT=json` writes one JSON object per line (`time`, `level`, `logger`, `message`, `request_id` / `run_id`
when set, the record's `extra` fields, `exception`). Redaction applies to both formats: jwt= query values, tokens
after `JWT`/`Bearer`, bare JWTs (Connect tokens and Forge Invocation Tokens), Forge's x-forge-oauth-* header values
and single-use download paths never reach a log line.
"""
from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import datetime, timezone

from flask import Flask, g, request

_PATTERNS = [
    (re.compile(r"(jwt=)[^&\s\"']+", re.IGNORECASE), r"\1[redacted]"),
    # Single-use download links are bearer tokens for a minute: keep them out of access logs too.
    (re.compile(r"(/downloads/)[A-Za-z0-9_\-]+"), r"\1[redacted]"),
    # A credential after the scheme: dotted (a JWT) or long; plain words ("No JWT token sent") stay.
    (re.compile(r"((?:JWT|Bearer)\s+)(?=[A-Za-z0-9_\-=]*[.\d])[A-Za-z0-9_\-\.=]{8,}", re.IGNORECASE), r"\1[redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]*"), "[redacted-jwt]"),
    # Forge Remote's app/user tokens are opaque (not JWT-shaped): redact by header name, in any spelling a
    # log can carry (`x-forge-oauth-system: …`, a headers dict, the WSGI environ's HTTP_X_FORGE_OAUTH_USER).
    (re.compile(r"(x[-_]forge[-_]oauth[-_][a-z]+['\"]?\s*[:=]\s*['\"]?)[^\s'\",;&}]+", re.IGNORECASE),
     r"\1[redacted]"),
    # Alert webhook URLs are secrets (Slack's and Teams' carry their token in the path): HTTP libraries' debug
    # lines name the path they call.
    (re.compile(r"(/services/T[A-Za-z0-9]+/B[A-Za-z0-9]+/)[A-Za-z0-9]+"), r"\1[redacted]"),
    (re.compile(r"(/webhookb2/)[^\s\"']+", re.IGNORECASE), r"\1[redacted]"),
]
LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_REQUEST_ID = contextvars.ContextVar("request_id", default=None)
_RUN_ID = contextvars.ContextVar("run_id", default=None)
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._\-]{1,64}$")
# What every LogRecord carries by itself; anything else on a record came in through `extra=`.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


def redact(text: str) -> str:
    """Remove tokens from a string bound for a log."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_redaction(*loggers: logging.Logger) -> None:
    """Attach the filter to every handler of the root logger (werkzeug's access log included) and of `loggers`
    (gunicorn's own, which have their own handlers and do not propagate: see gunicorn.conf.py)."""
    for logger in (logging.getLogger(), *loggers):
        for handler in logger.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())


# ---------------------------------------------------------------- context: request id, run id


CONTEXT_FIELDS = ("request_id", "run_id")


def _install_context_ids() -> None:
    """Every record gets the request id and run id of the thread that logs it, when there are ones.

    Set when the record is made (not when a handler formats it), so records kept for later keep their ids.
    """
    make_record = logging.getLogRecordFactory()
    if getattr(make_record, "adds_context_ids", False):
        return

    def with_context_ids(*args, **kwargs):
        record = make_record(*args, **kwargs)
        for field, value in (("request_id", _REQUEST_ID.get()), ("run_id", _RUN_ID.get())):
            if value is not None:
                setattr(record, field, value)
        return record

    with_context_ids.adds_context_ids = True
    logging.setLogRecordFactory(with_context_ids)


@contextmanager
def run_logging(run_id: str):
    """Every line logged in this block (this thread) carries the run id."""
    token = _RUN_ID.set(run_id)
    try:
        yield
    finally:
        _RUN_ID.reset(token)


def init_request_ids(app: Flask) -> None:
    """A request id per request: the proxy's `X-Request-Id` when it is sane, else a new one; echoed back."""

    @app.before_request
    def _start():
        offered = request.headers.get("X-Request-Id", "")
        g.request_id = offered if _SAFE_REQUEST_ID.match(offered) else uuid.uuid4().hex
        g.request_id_token = _REQUEST_ID.set(g.request_id)

    @app.after_request
    def _echo(response):
        if "request_id" in g:
            response.headers["X-Request-Id"] = g.request_id
        return response

    @app.teardown_request
    def _end(_exc):
        token = g.pop("request_id_token", None)
        if token is not None:
            _REQUEST_ID.reset(token)


# ---------------------------------------------------------------- formatters


def _iso(created: float) -> str:
    return datetime.fromtimestamp(created, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


class JsonFormatter(logging.Formatter):
    """One JSON object per line; every string in it is redacted."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": _iso(record.created), "level": record.levelname, "logger": record.name,
                 "message": redact(record.getMessage())}
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in entry:
                entry[key] = _clean(value)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            entry["stack"] = redact(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


def _clean(value):
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class TextFormatter(logging.Formatter):
    """The plain format, with the request or run id appended when there is one."""

    def __init__(self):
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = [f"{field}={getattr(record, field)}" for field in CONTEXT_FIELDS if hasattr(record, field)]
        return line + (" [" + " ".join(context) + "]" if context else "")


def make_formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


# ---------------------------------------------------------------- damping repeated failures


class Damper:
    """Log a failure that repeats identically (same key) at most once per `window` seconds.

    A loop polling a database that is down would otherwise write a traceback per poll. The first failure of a
    streak is logged with its traceback; while it goes on, one line per window says how often it repeated; the
    first success after it (`ok`) logs that it recovered.
    """

    def __init__(self, logger: logging.Logger, window: float = 60.0, clock=time.monotonic):
        self.logger, self.window, self.clock = logger, window, clock
        self._streaks: dict[str, list] = {}  # key -> [last logged at, repeats since then, total]
        self._lock = threading.Lock()

    def failure(self, key: str, level: int, msg: str, *args, exc_info=None) -> bool:
        """Log this failure unless the same one was logged less than `window` seconds ago; True if logged."""
        now = self.clock()
        with self._lock:
            streak = self._streaks.get(key)
            if streak is None:
                self._streaks[key] = [now, 0, 1]
                repeats = None
            else:
                streak[2] += 1
                if now - streak[0] < self.window:
                    streak[1] += 1
                    return False
                repeats, streak[0], streak[1] = streak[1], now, 0
        if repeats is None:
            self.logger.log(level, msg, *args, exc_info=exc_info)
        else:
            self.logger.log(level, msg + " (again; %d more time(s) in the last %d s)", *args, repeats + 1,
                            int(self.window))
        return True

    def ok(self, key) -> None:
        """The operation behind `key` worked: end its streak (and say so if it was failing)."""
        with self._lock:
            streak = self._streaks.pop(key, None) if self._streaks else None
        if streak is not None:
            self.logger.info("%s: working again after %d failure(s)", key, streak[2])


# ---------------------------------------------------------------- set-up


def configure_logging(log_format: str = "text") -> None:
    """Our handler on the root logger when nothing else configured one (text or JSON); redaction on every one."""
    root = logging.getLogger()
    ours = [h for h in root.handlers if getattr(h, "xray_backup", False)]
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.xray_backup = True
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        ours = [handler]
    for handler in ours:  # a later app in the same process may ask for the other format
        handler.setFormatter(make_formatter(log_format))
    install_redaction()
    _install_context_ids()
