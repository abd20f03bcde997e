"""Failures of the Xray client, typed by what the caller can do about them.

Messages are safe to show and to log: they never hold a secret, a token or a response body
beyond the short error text Xray gives for a refused query.
"""
from __future__ import annotations


class XrayError(Exception):
    """Something went wrong talking to Xray."""

    def __init__(self, message: str):
        self.message = message
        super().__init__(message)


class XrayAuthError(XrayError):
    """Xray rejected the credentials (wrong Client ID or secret, invalid licence, wrong region)."""


class XrayUnavailable(XrayError):
    """Xray could not be reached, failed, or kept throttling after the retry budget was spent."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 0):
        self.status, self.attempts = status, attempts
        super().__init__(message)


class XrayUncertain(XrayUnavailable):
    """A write failed in a way that leaves unknown whether Xray applied it (a 5xx, a dropped or cut answer).

    Writes are never repeated blindly: the caller finds out what happened before trying again.
    """


class XrayQueryError(XrayError):
    """Xray refused a query (HTTP 400 or GraphQL errors); the message names the query."""

    def __init__(self, query_name: str, problems: list[str], *, status: int | None = None):
        self.query_name, self.problems, self.status = query_name, problems, status
        detail = "; ".join(p[:300] for p in problems[:3]) or "no detail given"
        super().__init__(f"Xray refused the query {query_name}: {detail}")


class XrayNotFound(XrayQueryError):
    """Xray answered 404 for something it was asked for (e.g. an attachment that is gone)."""


class XrayDownloadRefused(XrayError):
    """An attachment link or one of its redirects leads where the URL policy does not allow; nothing was stored."""
