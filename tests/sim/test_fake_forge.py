"""The fake Forge platform itself: its JWKS and tokens are what a standard JWKS client accepts, so the app's
verifier cannot pass by agreeing with a fake only it understands (tests/sim/test_fake_jira.py checks that
nothing under sim/ imports the app)."""
from __future__ import annotations

import jwt as pyjwt
import requests

from sim.forge import FIT_ISSUER, FakeForge

INSTALLATION = "ari:cloud:ecosystem::installation/5a0e5c9b-6f55-4a4f-9c39-0a9a4bd2ac11"


def test_its_tokens_verify_with_pyjwts_own_jwks_client(fake_forge):
    token = fake_forge.fit(INSTALLATION)
    signing_key = pyjwt.PyJWKClient(fake_forge.jwks_url).get_signing_key_from_jwt(token)
    claims = pyjwt.decode(token, signing_key.key, algorithms=["RS256"], audience=fake_forge.app_id, issuer=FIT_ISSUER)
    assert claims["app"]["installationId"] == INSTALLATION
    assert claims["app"]["id"] == fake_forge.app_id and claims["exp"] - claims["iat"] == 25


def test_the_jwks_lists_public_keys_only_and_keeps_or_drops_rotated_ones(fake_forge):
    first = fake_forge.kid
    keys = requests.get(fake_forge.jwks_url, timeout=5).json()["keys"]
    assert [key["kid"] for key in keys] == [first]
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(keys[0])
    second = fake_forge.rotate()
    assert [key["kid"] for key in requests.get(fake_forge.jwks_url, timeout=5).json()["keys"]] == [first, second]
    third = fake_forge.rotate(keep_old=False)
    assert [key["kid"] for key in requests.get(fake_forge.jwks_url, timeout=5).json()["keys"]] == [third]
    assert fake_forge.jwks_requests == 3


def test_claims_can_be_overridden_or_dropped():
    forge = FakeForge()
    claims = pyjwt.decode(forge.fit(INSTALLATION, iss="other", exp=None), options={"verify_signature": False})
    assert claims["iss"] == "other" and "exp" not in claims
    assert "installationId" not in pyjwt.decode(forge.fit(None), options={"verify_signature": False})["app"]

