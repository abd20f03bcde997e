"""The pure FIT core: every check, in order, with typed errors, `now` passed in (no server, no app)."""
from __future__ import annotations

import pytest

from app.connect.forge import InvalidIssuer, UnknownKeyId, verify_invocation
from app.connect.jwt import (AlgorithmNotAllowed, InvalidAudience, InvalidKeyId, InvalidSignature, JwtError,
                             MalformedToken, MissingClaim, MissingToken, TokenExpired, TokenNotYetValid)
from sim.forge import FakeForge, new_key
from tests.support.forge import INSTALLATION, hand_signed, public_pem_of

NOW = 1_800_000_000


@pytest.fixture(scope="module")
def forge():
    return FakeForge()  # signing only: the pure core gets its keys from a dict, not over HTTP


def key_for(forge):
    def lookup(kid):
        if kid not in forge.published:
            raise UnknownKeyId()
        return forge.published[kid].public_key()

    return lookup


def verify(forge, token, *, now=NOW, app_id=None):
    return verify_invocation(token, key_for(forge), app_id=app_id or forge.app_id, now=now)


def test_a_valid_token_yields_the_installation_and_its_claims(forge):
    invocation = verify(forge, forge.fit(INSTALLATION, now=NOW, context={"cloudId": "c-1"}))
    assert invocation.installation_id == INSTALLATION
    assert invocation.claims["iss"] == "forge/invocation-token"
    assert invocation.cloud_id == "c-1"


def test_an_audience_list_holding_the_app_is_accepted(forge):
    token = forge.fit(INSTALLATION, now=NOW, aud=["ari:cloud:ecosystem::app/other", forge.app_id])
    assert verify(forge, token).installation_id == INSTALLATION


@pytest.mark.parametrize("case, expected", [
    ("no token", MissingToken),
    ("garbage", MalformedToken),
    ("wrong aud", InvalidAudience),
    ("bare uuid aud", InvalidAudience),
    ("no aud", InvalidAudience),
    ("wrong iss", InvalidIssuer),
    ("Connect iss", InvalidIssuer),
    ("expired", TokenExpired),
    ("expires now", TokenExpired),
    ("no exp", MissingClaim),
    ("text exp", MalformedToken),
    ("nbf ahead", TokenNotYetValid),
    ("iat ahead", TokenNotYetValid),
    ("unknown kid", UnknownKeyId),
    ("no kid", InvalidKeyId),
    ("alg none", AlgorithmNotAllowed),
    ("HS256 with the public key", AlgorithmNotAllowed),
    ("RS512", AlgorithmNotAllowed),
    ("other key", InvalidSignature),
    ("tampered claims", InvalidSignature),
    ("no installationId", MissingClaim),
    ("installationId not text", MissingClaim),
])
def test_the_fit_matrix_fails_with_typed_errors(forge, case, expected):
    claims = forge.claims(INSTALLATION, now=NOW)
    tokens = {
        "no token": lambda: "",
        "garbage": lambda: "abc.def.ghi",
        "wrong aud": lambda: forge.fit(INSTALLATION, now=NOW, aud="ari:cloud:ecosystem::app/another-app"),
        "bare uuid aud": lambda: forge.fit(INSTALLATION, now=NOW, aud=forge.app_uuid),
        "no aud": lambda: forge.fit(INSTALLATION, now=NOW, aud=None),
        "wrong iss": lambda: forge.fit(INSTALLATION, now=NOW, iss="forge/other-token"),
        "Connect iss": lambda: forge.fit(INSTALLATION, now=NOW, iss="jira:1234"),
        "expired": lambda: forge.fit(INSTALLATION, now=NOW - 26),
        "expires now": lambda: forge.fit(INSTALLATION, now=NOW - 25),
        "no exp": lambda: forge.fit(INSTALLATION, now=NOW, exp=None),
        "text exp": lambda: forge.fit(INSTALLATION, now=NOW, exp=str(NOW + 20)),
        "nbf ahead": lambda: forge.fit(INSTALLATION, now=NOW, nbf=NOW + 61, exp=NOW + 90),
        "iat ahead": lambda: forge.fit(INSTALLATION, now=NOW, iat=NOW + 61, exp=NOW + 90),
        "unknown kid": lambda: forge.fit(INSTALLATION, now=NOW, kid="forge/invocation-token/never-published"),
        "no kid": lambda: hand_signed({"alg": "RS256", "typ": "JWT"}, claims, b"x"),
        "alg none": lambda: hand_signed({"alg": "none", "kid": forge.kid}, claims, None),
        "HS256 with the public key": lambda: hand_signed({"alg": "HS256", "kid": forge.kid}, claims,
                                                         public_pem_of(forge)),
        "RS512": lambda: forge.fit(INSTALLATION, now=NOW, algorithm="RS512"),
        "other key": lambda: forge.fit(INSTALLATION, now=NOW, key=new_key()),
        "tampered claims": lambda: _tampered(forge.fit(INSTALLATION, now=NOW)),
        "no installationId": lambda: forge.fit(None, now=NOW),
        "installationId not text": lambda: forge.fit(INSTALLATION, now=NOW, app={"installationId": 42}),
    }
    with pytest.raises(expected) as caught:
        verify(forge, tokens[case]())
    assert isinstance(caught.value, JwtError)
    assert "eyJ" not in str(caught.value)  # messages never echo the token


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    other = FakeForge().fit("ari:cloud:ecosystem::installation/someone-else", now=NOW).split(".")[1]
    return ".".join([header, other, signature])


def test_clock_skew_up_to_sixty_seconds_is_tolerated_for_nbf_and_iat(forge):
    token = forge.fit(INSTALLATION, now=NOW, nbf=NOW + 60, iat=NOW + 60, exp=NOW + 90)
    assert verify(forge, token).installation_id == INSTALLATION


def test_the_key_is_looked_up_by_the_headers_kid_only_after_the_algorithm_is_pinned(forge):
    looked_up = []

    def lookup(kid):
        looked_up.append(kid)
        return forge.published[kid].public_key()

    claims = forge.claims(INSTALLATION, now=NOW)
    with pytest.raises(AlgorithmNotAllowed):
        verify_invocation(hand_signed({"alg": "HS256", "kid": forge.kid}, claims, b"k"), lookup, app_id=forge.app_id,
                          now=NOW)
    assert looked_up == []
    verify_invocation(forge.fit(INSTALLATION, now=NOW), lookup, app_id=forge.app_id, now=NOW)
    assert looked_up == [forge.kid]


def test_a_token_for_this_app_signed_by_a_rotated_out_key_fails(forge):
    other = FakeForge(app_uuid=forge.app_uuid)
    token = other.fit(INSTALLATION, now=NOW, kid=forge.kid)  # our kid, someone else's key
    with pytest.raises(InvalidSignature):
        verify(forge, token)
