"""Pure Connect JWT core: query string hashes, HS256/RS256 verification with typed errors, outgoing tokens.

No Flask, no database, no network: callers pass the request facts, a key lookup and `now`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable
from urllib.parse import parse_qsl, quote, urlsplit

import jwt as pyjwt

LEEWAY_SECONDS = 30
CONTEXT_QSH = "context-qsh"
REQUIRED_CLAIMS = ("iss", "iat", "exp")


class JwtError(Exception):
    """A token failed verification; the message is safe to show (no token, no secret)."""

    reason = "The token is invalid."

    def __init__(self, detail: str | None = None):
        self.detail = detail or self.reason
        super().__init__(self.detail)


class MissingToken(JwtError):
    reason = "No JWT was sent."


class AmbiguousToken(JwtError):
    reason = "A JWT was sent both in the Authorization header and in the query."


class MalformedToken(JwtError):
    reason = "The JWT is malformed."


class AlgorithmNotAllowed(JwtError):
    reason = "The JWT uses an algorithm this route does not accept."


class MissingClaim(JwtError):
    reason = "The JWT lacks a required claim."


class UnknownIssuer(JwtError):
    reason = "The JWT was issued by an unknown or uninstalled Jira site."


class InvalidSignature(JwtError):
    reason = "The JWT signature does not verify."


class TokenExpired(JwtError):
    reason = "The JWT has expired."


class TokenNotYetValid(JwtError):
    reason = "The JWT is not valid yet (issued in the future)."


class InvalidAudience(JwtError):
    reason = "The JWT audience is not this app."


class QshMismatch(JwtError):
    reason = "The JWT query string hash does not match this request."


class IssuerMismatch(JwtError):
    reason = "The JWT issuer does not match the clientKey in the body."


class InvalidKeyId(JwtError):
    reason = "The JWT key id is missing or malformed."


class KeyUnavailable(JwtError):
    reason = "The public key for this JWT could not be fetched."


# ---------------------------------------------------------------- query string hash


def canonical_uri(path: str, base_path: str = "") -> str:
    """The path relative to the base URL path, one trailing slash removed, '&' escaped."""
    base_path = (base_path or "").rstrip("/")
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        path = path[len(base_path):]
    if not path:
        path = "/"
    if not path.startswith("/"):
        path = "/" + path
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return path.replace("&", "%26")


def _encode(text: str) -> str:
    # Leaves only A-Z a-z 0-9 - . _ ~ unencoded; space → %20, '*' → %2A.
    return quote(text, safe="")


def _js_order(text: str) -> bytes:
    """Sort key matching JavaScript's default sort (UTF-16 code units), which Atlassian's libraries use."""
    return text.encode("utf-16-be", "surrogatepass")


def canonical_query(query: str) -> str:
    """Canonical form of a raw (form-encoded) query string, without the `jwt` parameter.

    Names and repeated values are sorted on their decoded form by UTF-16 code units, as Atlassian's reference
    implementations do (atlassian-jwt's createCanonicalRequest: `Object.keys(query).sort()` and
    `values.sort()`, JavaScript's default string order): a non-ASCII name sorts after ASCII ones, and an astral
    character (a surrogate pair) before BMP characters above U+D7FF. Then each is percent-encoded.
    """
    grouped: dict[str, list[str]] = {}
    for name, value in parse_qsl(query or "", keep_blank_values=True):
        if name == "jwt":
            continue
        grouped.setdefault(name, []).append(value)
    pairs = []
    for name in sorted(grouped, key=_js_order):
        encoded_values = ",".join(_encode(v) for v in sorted(grouped[name], key=_js_order))
        pairs.append(f"{_encode(name)}={encoded_values}")
    return "&".join(pairs)


def canonical_request(method: str, path: str, query: str = "", base_path: str = "") -> str:
    """`METHOD&uri&query` as the qsh is computed over."""
    return f"{method.upper()}&{canonical_uri(path, base_path)}&{canonical_query(query)}"


def qsh(method: str, path: str, query: str = "", base_path: str = "") -> str:
    """Lower-case hex sha256 of the canonical request."""
    return hashlib.sha256(canonical_request(method, path, query, base_path).encode("utf-8")).hexdigest()


def qsh_for_url(method: str, url: str, base_url: str = "") -> str:
    """The qsh of a full or relative URL, relative to the path of `base_url`."""
    parts = urlsplit(url)
    return qsh(method, parts.path, parts.query, urlsplit(base_url).path if base_url else "")


# ---------------------------------------------------------------- verification


def _timestamp(now: datetime | float) -> float:
    return now.timestamp() if isinstance(now, datetime) else float(now)


def unverified_header(token: str) -> dict:
    """The token's header, or MalformedToken."""
    try:
        return pyjwt.get_unverified_header(token)
    except pyjwt.PyJWTError:
        raise MalformedToken() from None


def unverified_claims(token: str) -> dict:
    """The token's claims without checking anything, or MalformedToken."""
    try:
        claims = pyjwt.decode(token, options={"verify_signature": False})
    except pyjwt.PyJWTError:
        raise MalformedToken() from None
    if not isinstance(claims, dict):
        raise MalformedToken()
    return claims


def _decode_signed(token: str, key, algorithm: str) -> dict:
    header = unverified_header(token)
    # Pin the algorithm per route: never trust the header's choice (alg none, HS256-with-public-key).
    if header.get("alg") != algorithm:
        raise AlgorithmNotAllowed()
    try:
        return pyjwt.decode(
            token,
            key,
            algorithms=[algorithm],
            options={"verify_exp": False, "verify_iat": False, "verify_nbf": False, "verify_aud": False},
        )
    except pyjwt.InvalidAlgorithmError:
        raise AlgorithmNotAllowed() from None
    except (pyjwt.InvalidSignatureError, pyjwt.InvalidKeyError):
        raise InvalidSignature() from None
    except pyjwt.DecodeError:
        raise InvalidSignature() from None
    except pyjwt.PyJWTError:
        raise MalformedToken() from None
    except (ValueError, TypeError):
        # cryptography refuses unusable keys (e.g. a PEM given as an HMAC secret).
        raise InvalidSignature() from None


def _check_required(claims: dict) -> None:
    for name in REQUIRED_CLAIMS:
        if name not in claims:
            raise MissingClaim(f"The JWT lacks the required claim {name!r}.")
    if not isinstance(claims["iss"], str) or not claims["iss"]:
        raise MissingClaim("The JWT claim 'iss' must be a non-empty string.")
    for name in ("iat", "exp"):
        if not isinstance(claims[name], (int, float)) or isinstance(claims[name], bool):
            raise MalformedToken(f"The JWT claim {name!r} must be a number.")


def _check_times(claims: dict, now: datetime | float, leeway: float) -> None:
    t = _timestamp(now)
    if claims["exp"] + leeway < t:
        raise TokenExpired()
    if claims["iat"] - leeway > t:
        raise TokenNotYetValid()
    nbf = claims.get("nbf")
    if nbf is not None and (not isinstance(nbf, (int, float)) or nbf - leeway > t):
        raise TokenNotYetValid()


def _check_qsh(claims: dict, expected_qsh: str) -> None:
    actual = claims.get("qsh")
    if not isinstance(actual, str) or not actual:
        raise QshMismatch("The JWT has no query string hash.")
    if expected_qsh == CONTEXT_QSH:
        if actual != CONTEXT_QSH:
            raise QshMismatch("This route takes a context token (qsh 'context-qsh').")
    elif actual == CONTEXT_QSH:
        # A context token is not bound to a request: accepting it here re-opens the 2021 context-qsh hole.
        raise QshMismatch("A context token is not accepted on this route.")
    elif actual != expected_qsh:
        raise QshMismatch()


@dataclass(frozen=True)
class VerifiedToken:
    claims: dict
    client_key: str

    @property
    def account_id(self) -> str | None:
        sub = self.claims.get("sub")
        return sub if isinstance(sub, str) and sub else None


def verify_hs256(
    token: str | None,
    secret_for: Callable[[str], str | None],
    *,
    expected_qsh: str,
    now: datetime | float,
    leeway: float = LEEWAY_SECONDS,
) -> VerifiedToken:
    """Verify a token Jira signed with a tenant's shared secret; `secret_for(iss)` is None for unknown tenants.

    `expected_qsh` is the computed qsh of the request, or CONTEXT_QSH on context-token routes.
    """
    if not token:
        raise MissingToken()
    claims = unverified_claims(token)
    iss = claims.get("iss")
    if not isinstance(iss, str) or not iss:
        raise MissingClaim("The JWT lacks the required claim 'iss'.")
    secret = secret_for(iss)
    if not secret:
        raise UnknownIssuer()
    claims = _decode_signed(token, secret, "HS256")
    _check_required(claims)
    _check_times(claims, now, leeway)
    _check_qsh(claims, expected_qsh)
    return VerifiedToken(claims=claims, client_key=claims["iss"])


def _audience_matches(aud, app_base_url: str) -> bool:
    wanted = app_base_url.rstrip("/")
    values = aud if isinstance(aud, list) else [aud]
    return any(isinstance(v, str) and v.rstrip("/") == wanted for v in values)


def verify_install(
    token: str | None,
    public_key_for: Callable[[str], str],
    *,
    expected_qsh: str,
    app_base_url: str,
    body_client_key: str,
    now: datetime | float,
    leeway: float = LEEWAY_SECONDS,
) -> VerifiedToken:
    """Verify an installed/uninstalled token (RS256, key by kid); `public_key_for` raises JwtError on failure."""
    if not token:
        raise MissingToken()
    header = unverified_header(token)
    if header.get("alg") != "RS256":
        raise AlgorithmNotAllowed("Install and uninstall calls must be signed with RS256.")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise InvalidKeyId()
    public_key = public_key_for(kid)
    claims = _decode_signed(token, public_key, "RS256")
    _check_required(claims)
    _check_times(claims, now, leeway)
    if "aud" not in claims or not _audience_matches(claims["aud"], app_base_url):
        raise InvalidAudience()
    _check_qsh(claims, expected_qsh)
    # The body is not signed: without this a valid token for tenant A could overwrite tenant B.
    if claims["iss"] != body_client_key:
        raise IssuerMismatch()
    return VerifiedToken(claims=claims, client_key=claims["iss"])


# ---------------------------------------------------------------- outgoing


def encode_for_jira(
    method: str,
    url: str,
    *,
    app_key: str,
    shared_secret: str,
    base_url: str,
    now: datetime | float | None = None,
    ttl_seconds: int = 180,
) -> str:
    """A token for calling Jira as the app: iss = app key, qsh of the exact outgoing request."""
    issued = int(_timestamp(now if now is not None else datetime.now(timezone.utc)))
    claims = {
        "iss": app_key,
        "iat": issued,
        "exp": issued + ttl_seconds,
        "qsh": qsh_for_url(method, url, base_url),
    }
    return pyjwt.encode(claims, shared_secret, algorithm="HS256")
