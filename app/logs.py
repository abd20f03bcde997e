"""Logging set-up, and keeping tokens out of log lines: jwt= query values and JWT-shaped strings are redacted."""
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
    # Alert webhook URLs are secrets (Slack's and Teams' carry their token in the path): HTTP libraries' debug
    # lines name the path they call.
    (re.compile(r"(/services/T[A-Za-z0-9]+/B[A-Za-z0-9]+/)[A-Za-z0-9]+"), r"\1[redacted]"),
    (re.compile(r"(/webhookb2/)[^\s\"']+", re.IGNORECASE), r"\1[redacted]"),
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


def install_redaction() -> None:
    """Attach the filter to every root handler (werkzeug's access log included)."""
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())


def configure_logging() -> None:
    """A plain format on the root logger when nothing configured one; redaction on every root handler."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_redaction()
