"""The one parser of request JSON (lifecycle callbacks and the API's PUT/POST bodies): bounded size and nesting.

Python's json module recurses per nesting level, so a 64 KB body of brackets raises RecursionError — not a
ValueError — and became a 500 with a traceback. The nesting is measured first, without recursion, and anything
over the limits is a 400 with the usual error body.
"""
from __future__ import annotations

import json

from flask import request

from .errors import BadRequest

MAX_JSON_BYTES = 64 * 1024
MAX_JSON_DEPTH = 32
_OPEN, _CLOSE, _QUOTE, _BACKSLASH = b"[{", b"]}", ord('"'), ord("\\")


class JsonBodyRejected(BadRequest):
    """A body over the size or nesting limits (400)."""


class NotJson(BadRequest):
    """A body that is not JSON at all (400; callers that answered 422 before may map it)."""

    default_message = "The body must be a JSON object."


def nesting_depth(raw: bytes) -> int:
    """The deepest bracket nesting of a JSON text, brackets inside strings ignored; no recursion."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == _BACKSLASH:
                escaped = True
            elif byte == _QUOTE:
                in_string = False
        elif byte == _QUOTE:
            in_string = True
        elif byte in _OPEN:
            depth += 1
            deepest = max(deepest, depth)
        elif byte in _CLOSE:
            depth -= 1
    return deepest


def parse_json(raw: bytes, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH) -> object:
    """Parse a JSON body within the limits; raise JsonBodyRejected (limits) or NotJson (not JSON)."""
    if len(raw) > max_bytes:
        raise JsonBodyRejected(f"The JSON body is larger than {max_bytes // 1024} KB.")
    if nesting_depth(raw) > max_depth:
        raise JsonBodyRejected(f"The JSON body is nested deeper than {max_depth} levels.")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise NotJson() from None


def request_json(*, required: bool = True) -> object | None:
    """The current request's JSON body. Without `required`, a missing or non-JSON body is None (the caller
    answers as it always did); over the limits it is always a 400."""
    raw = request.get_data(cache=True)
    if not required and (not raw or not request.is_json):
        return None
    try:
        return parse_json(raw)
    except NotJson:
        if required:
            raise
        return None
