"""Pure Forge Invocation Token (FIT) core: what a Forge Remote call must prove before it is answered.

No Flask, no database, no network: callers pass the token, a key lookup by `kid` (the JWKS cache), the app's
ARI and `now`. Checks run in a fixed order and fail with the typed errors of `app/connect/jwt.py`, so the one
adapter that turns a JwtError into a 401 serves both Connect and Forge.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Callable

import jwt as pyjwt

from .jwt import (AlgorithmNotAllowed, InvalidAudience, InvalidKeyId, InvalidSignature, JwtError, MalformedToken,
                  MissingClaim, MissingToken, TokenExpired, TokenNotYetValid, unverified_header)

FIT_ISSUER = "forge/invocation-token"
FIT_ALGORITHM = "RS256"
CLOCK_SKEW_SECONDS = 60
KID_MAX_LENGTH = 256
INSTALLATION_ID_MAX_LENGTH = 255


class UnknownKeyId(JwtError):
    reason = "The token's key id is not in Forge's key set."


class InvalidIssuer(JwtError):
    reason = "The token was not issued by Forge."


@dataclass(frozen=True)
class ForgeInvocation:
    """A verified Forge Remote call: its claims and the installation it speaks for."""

    claims: dict
    installation_id: str

    @property
    def cloud_id(self) -> str | None:
        context = self.claims.get("context")
        value = context.get("cloudId") if isinstance(context, dict) else None
        return value if isinstance(value, str) else None


def _timestamp(now: datetime | float) -> float:
    return now.timestamp() if isinstance(now, datetime) else float(now)


def _number(claims: dict, name: str, *, required: bool) -> float | None:
    value = claims.get(name)
    if value is None:
        if required:
            raise MissingClaim(f"The token lacks the required claim {name!r}.")
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise MalformedToken(f"The token claim {name!r} must be a number.")
    return value


def _decode(token: str, key) -> dict:
    try:
        claims = pyjwt.decode(
            token,
            key,
            algorithms=[FIT_ALGORITHM],
            # Time, audience and issuer are checked below, in a fixed order, with typed errors.
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False,
                     "verify_iss": False},
        )
    except pyjwt.InvalidAlgorithmError:
        raise AlgorithmNotAllowed() from None
    except (pyjwt.InvalidSignatureError, pyjwt.InvalidKeyError, pyjwt.DecodeError):
        raise InvalidSignature() from None
    except pyjwt.PyJWTError:
        raise MalformedToken() from None
    except (ValueError, TypeError):
        raise InvalidSignature() from None
    if not isinstance(claims, dict):
        raise MalformedToken()
    return claims


def _audience_is(aud, app_id: str) -> bool:
    values = aud if isinstance(aud, list) else [aud]
    return any(isinstance(value, str) and value == app_id for value in values)


def _installation_id(claims: dict) -> str:
    app = claims.get("app")
    value = app.get("installationId") if isinstance(app, dict) else None
    if not isinstance(value, str) or not value or len(value) > INSTALLATION_ID_MAX_LENGTH:
        raise MissingClaim("The token lacks app.installationId.")
    return value


def verify_invocation(
    token: str | None,
    key_for: Callable[[str], object],
    *,
    app_id: str,
    now: datetime | float,
    skew: float = CLOCK_SKEW_SECONDS,
) -> ForgeInvocation:
    """Verify a FIT for the app whose ARI is `app_id`; `key_for(kid)` returns the RSA public key or raises JwtError.

    RS256 only, whatever the header says (no `none`, no HS256 keyed with the public key); the key comes from
    Forge's JWKS by `kid`, never from the token; `iss` is Forge's, `aud` this app; `exp` is required and not
    past; `nbf`/`iat` may be at most `skew` seconds ahead of `now`.
    """
    if not token:
        raise MissingToken()
    header = unverified_header(token)
    if header.get("alg") != FIT_ALGORITHM:
        raise AlgorithmNotAllowed("Forge Invocation Tokens must be signed with RS256.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid or len(kid) > KID_MAX_LENGTH:
        raise InvalidKeyId()
    claims = _decode(token, key_for(kid))
    if claims.get("iss") != FIT_ISSUER:
        raise InvalidIssuer()
    if not _audience_is(claims.get("aud"), app_id):
        raise InvalidAudience("The token's audience is not this Forge app.")
    t = _timestamp(now)
    exp = _number(claims, "exp", required=True)
    if exp <= t:
        raise TokenExpired()
    for name in ("nbf", "iat"):
        value = _number(claims, name, required=False)
        if value is not None and value - skew > t:
            raise TokenNotYetValid()
    return ForgeInvocation(claims=claims, installation_id=_installation_id(claims))
