"""The Flask adapter for Forge Remote calls: the FIT from `Authorization: Bearer …`, verified for FORGE_APP_ID.

Forge routes are `@public` to the Connect `before_request` hook (Forge sends no Connect JWT); each view calls
`verify_forge_call` first. The token and the `x-forge-oauth-*` headers are never logged (app/logs.py).
"""
from __future__ import annotations

from flask import request

from ..errors import ServiceUnavailable
from ..models import utcnow
from .auth import jwt_errors_as_401
from .forge import ForgeInvocation, verify_invocation
from .jwt import MalformedToken, MissingToken


class ForgeNotConfigured(ServiceUnavailable):
    code = "forge_not_configured"
    default_message = "This app is not registered on Forge: FORGE_APP_ID is not set."


def bearer_token() -> str:
    """The FIT of the current request; Forge sends it only as `Authorization: Bearer <token>`."""
    header = request.headers.get("Authorization")
    if header is None:
        raise MissingToken("A Forge call carries its token as 'Authorization: Bearer <token>'.")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise MalformedToken("The Authorization header must be 'Bearer <token>'.")
    return token.strip()


def verify_forge_call(services) -> ForgeInvocation:
    """Verify the current request's FIT; 503 when the app has no Forge id, 401 on any verification failure."""
    app_id = services.config.forge_app_id
    if app_id is None:
        raise ForgeNotConfigured()
    with jwt_errors_as_401(f"Forge call {request.method} {request.path}"):
        return verify_invocation(bearer_token(), services.forge_keys, app_id=app_id, now=utcnow())
