"""How the fake Jira signs its tokens and checks the app's, written apart from the app's own JWT code.

The fake is the arbiter the app's tests run against, so it must be able to disagree with `app.connect`:
the query string hash comes from the `atlassian_jwt` package (Atlassian's canonical query rules), and the
only rule added here is the one that package leaves out, making the path relative to a base URL path.
"""
from __future__ import annotations

import jwt as pyjwt
from atlassian_jwt.url_utils import hash_url

CONTEXT_QSH = "context-qsh"
LEEWAY_SECONDS = 30


def relative_path(path: str, base_path: str = "") -> str:
    """`path` with the base URL path removed once (Jira hashes requests relative to the site's baseUrl)."""
    base_path = (base_path or "").rstrip("/")
    if base_path and (path == base_path or path.startswith(base_path + "/")):
        path = path[len(base_path):]
    return path or "/"


def request_qsh(method: str, path: str, query: str = "", base_path: str = "") -> str:
    """The qsh of a request: decoded `path` relative to `base_path`, raw `query` as sent."""
    relative = relative_path(path, base_path)
    if "?" in relative or "#" in relative:
        # atlassian_jwt takes a URL, in which these would start the query or the fragment.
        raise ValueError("a decoded path with '?' or '#' cannot be hashed here")
    return hash_url(method, relative + ("?" + query if query else ""))


def sign_hs256(claims: dict, secret: str) -> str:
    """A token signed with a shared secret (page, context and enabled/disabled tokens)."""
    return pyjwt.encode(claims, secret, algorithm="HS256")


def check_app_token(authorization: str | None, *, secret: str, app_key: str, method: str, path: str,
                    query: str, base_path: str = "") -> str | None:
    """Check a token the app sent to Jira's REST API; return why it is refused, or None.

    Jira wants `Authorization: JWT …` (never `?jwt=`), HS256 with the shared secret, `iss` = the app key
    and the qsh of the exact request relative to the site's base path.
    """
    if not authorization or not authorization.startswith("JWT "):
        return "no JWT in the Authorization header"
    token = authorization[4:].strip()
    try:
        claims = pyjwt.decode(token, secret, algorithms=["HS256"], leeway=LEEWAY_SECONDS,
                              options={"verify_aud": False, "require": ["iss", "iat", "exp", "qsh"]})
    except pyjwt.PyJWTError as exc:
        return f"JWT rejected: {type(exc).__name__}"
    if claims.get("iss") != app_key:
        return "iss is not the app key"
    try:
        expected = request_qsh(method, path, query, base_path)
    except ValueError:
        return "the request path cannot be hashed"
    if claims.get("qsh") != expected:
        return "qsh does not match the request"
    return None
