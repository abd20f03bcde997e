"""Acting as Forge in tests: a fake Forge platform (loopback JWKS), an app that trusts it, hand-forged tokens."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives import serialization

from sim.forge import FakeForge

INSTALLATION = "ari:cloud:ecosystem::installation/5a0e5c9b-6f55-4a4f-9c39-0a9a4bd2ac11"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_signed(header: dict, claims: dict, secret: bytes | None) -> str:
    """A JWT built by hand: HS256 over `secret` (PyJWT refuses a PEM as an HMAC secret), or unsigned if None."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if secret is None:
        return signing_input + "."
    return signing_input + "." + _b64(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest())


def public_pem_of(forge: FakeForge) -> bytes:
    return forge.signing_key.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture
def fake_forge():
    """A running fake Forge platform (`sim.forge.FakeForge`): `.jwks_url`, `.app_id`, `.fit(...)`, `.rotate()`."""
    with FakeForge() as forge:
        yield forge


@pytest.fixture
def forge_app(make_app, fake_forge, fake_jira):
    """An app registered as `fake_forge`'s Forge app (FORGE_APP_ID given as the bare uuid), installs from fake_jira."""
    return make_app(FORGE_APP_ID=fake_forge.app_uuid, FORGE_JWKS_URL=fake_forge.jwks_url,
                    CONNECT_INSTALL_KEYS_URL=fake_jira.keys_url)
