"""Reading Xray's answers: token lifetimes, wait hints, the throttling body, error texts, origins."""
from __future__ import annotations

import base64
import json
import time
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from ..urls import origin_of

TOKEN_LIFETIME = 24 * 3600


def token_lifetime(token: str) -> float:
    """Seconds the token is valid for, read from its payload without verifying it (24 h if unreadable)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"]) - float(claims.get("iat") or time.time())
    except (IndexError, ValueError, KeyError, TypeError):
        return float(TOKEN_LIFETIME)


def parse_wait(value: str | None, now: datetime) -> float | None:
    """Seconds from a Retry-After value (seconds or HTTP date) or an ISO date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    for parse in (parsedate_to_datetime, lambda v: datetime.fromisoformat(v.replace("Z", "+00:00"))):
        try:
            moment = parse(value)
        except (TypeError, ValueError, IndexError):
            continue
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return max(0.0, (moment - now).total_seconds())
    return None


def throttle_body(payload) -> dict | None:
    """Xray's throttling body ``{"error": {"text": "Too many requests…", …}}``, which may come with a 200."""
    if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
        text = str(payload["error"].get("text") or "")
        if text.lower().startswith("too many requests"):
            return payload["error"]
    return None


def take(chunks, limit: int):
    """Chunks from an iterator until at least ``limit`` bytes have been taken."""
    taken = 0
    for chunk in chunks:
        yield chunk
        taken += len(chunk)
        if taken >= limit:
            return


def error_messages(response) -> list[str]:
    """The error texts of a refused GraphQL answer (or its HTTP status)."""
    try:
        payload = response.json()
    except ValueError:
        return [f"HTTP {response.status_code}"]
    if isinstance(payload, dict) and isinstance(payload.get("errors"), list):
        return [str(e.get("message") if isinstance(e, dict) else e) for e in payload["errors"]]
    if isinstance(payload, dict) and payload.get("error"):
        return [str(payload["error"])]
    return [f"HTTP {response.status_code}"]


def origin(url: str) -> tuple[str, str, int] | None:
    """Scheme, host and effective port, read as the HTTP client reads them: what decides whether a credential may
    be sent to a URL. None for a URL the URL policy refuses to parse (a backslash, userinfo, …): it matches nothing."""
    return origin_of(url)
