"""Single-use lifecycle tokens, kept in the database so every process sees them.

Each accepted token's sha256 is kept (with the sha256 of the body it came with) until the token expires.
The same token with the identical body is Atlassian retrying a callback: it answers as before, applying the body
only if the first attempt never finished. The same token with any other body is refused.
"""
from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from enum import Enum

from sqlalchemy import delete, update

from ..extensions import db, insert_ignoring_conflict
from .jwt import LEEWAY_SECONDS, JwtError
from .models import AcceptedLifecycleToken


class TokenReused(JwtError):
    reason = "This lifecycle token was already used for another request."


class Claim(Enum):
    NEW = "new"          # first use: apply it, then mark it applied
    RETRY = "retry"      # the identical request again, not applied yet: apply it (the body is idempotent)
    DONE = "done"        # the identical request again, already applied: answer as before, change nothing


def _sha256(data: bytes | str) -> str:
    return hashlib.sha256(data.encode() if isinstance(data, str) else data).hexdigest()


def claim_token(token: str, body: bytes, event: str, exp: float, now: datetime) -> Claim:
    """Record the token's first use, or tell a retry from a replay (raise TokenReused for a replay)."""
    token_digest, body_digest = _sha256(token), _sha256(body)
    # Tokens are accepted up to the leeway past exp: keep them as long.
    expires_at = datetime.fromtimestamp(exp, timezone.utc) + timedelta(seconds=LEEWAY_SECONDS)
    db.session.execute(delete(AcceptedLifecycleToken).where(AcceptedLifecycleToken.expires_at < now))
    inserted = db.session.execute(insert_ignoring_conflict(AcceptedLifecycleToken, dict(
        token_sha256=token_digest, body_sha256=body_digest, event=event, expires_at=expires_at, applied=False,
    )).returning(AcceptedLifecycleToken.token_sha256)).all()
    db.session.commit()
    if inserted:
        return Claim.NEW
    row = db.session.get(AcceptedLifecycleToken, token_digest, populate_existing=True)
    if row is None or row.body_sha256 != body_digest or row.event != event:
        raise TokenReused()
    return Claim.DONE if row.applied else Claim.RETRY


def mark_applied(token: str) -> None:
    """The callback's use-case finished: a later identical retry changes nothing."""
    db.session.execute(update(AcceptedLifecycleToken).where(AcceptedLifecycleToken.token_sha256 == _sha256(token))
                       .values(applied=True))
    db.session.commit()
