"""Logging set-up, and keeping tokens out of log lines: jwt= query values, JWT-shaped strings (Connect tokens and
Forge Invocation Tokens) and Forge's x-forge-oauth-* header values are redacted."""
from __future__ import annotations

import logging
import re

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
]


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


def configure_logging() -> None:
    """A plain format on the root logger when nothing configured one; redaction on every root handler."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_redaction()
