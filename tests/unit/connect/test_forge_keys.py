"""Forge's JWKS over a real loopback server: fetched once, cached, one refetch on an unknown kid, failing closed."""
from __future__ import annotations

import json
import threading
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from app.connect.forge import UnknownKeyId
from app.connect.forge_keys import ForgeKeySet, parse_jwks
from app.connect.jwt import KeyUnavailable
from sim.forge import new_key, public_jwk


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def key_numbers(key: RSAPublicKey):
    return key.public_numbers()


def test_the_key_set_is_fetched_once_and_served_from_the_cache(fake_forge):
    keys = ForgeKeySet(fake_forge.jwks_url)
    first = keys(fake_forge.kid)
    assert key_numbers(first) == fake_forge.signing_key.public_key().public_numbers()
    keys(fake_forge.kid)
    keys(fake_forge.kid)
    assert fake_forge.jwks_requests == 1


def test_an_unknown_kid_costs_exactly_one_refetch_and_then_fails(fake_forge):
    keys = ForgeKeySet(fake_forge.jwks_url)
    keys(fake_forge.kid)
    with pytest.raises(UnknownKeyId):
        keys("forge/invocation-token/made-up")
    assert fake_forge.jwks_requests == 2


def test_a_rotated_key_is_picked_up_by_the_refetch(fake_forge):
    keys = ForgeKeySet(fake_forge.jwks_url)
    old_kid = fake_forge.kid
    keys(old_kid)
    new_kid = fake_forge.rotate()
    assert key_numbers(keys(new_kid)) == fake_forge.signing_key.public_key().public_numbers()
    assert keys(old_kid)  # still listed, still cached
    assert fake_forge.jwks_requests == 2


def test_made_up_kids_cannot_turn_every_call_into_a_fetch(fake_forge):
    clock = Clock()
    keys = ForgeKeySet(fake_forge.jwks_url, clock=clock, max_refetches=3)
    keys(fake_forge.kid)
    for index in range(8):
        with pytest.raises(UnknownKeyId):
            keys(f"made-up-{index}")
    assert fake_forge.jwks_requests == 1 + 3
    assert keys(fake_forge.kid)  # known keys keep verifying meanwhile
    clock.now += 61
    new_kid = fake_forge.rotate()
    assert keys(new_kid)
    assert fake_forge.jwks_requests == 5


def test_keys_older_than_the_max_age_are_refreshed_and_a_withdrawn_key_stops_verifying(fake_forge):
    clock = Clock()
    keys = ForgeKeySet(fake_forge.jwks_url, clock=clock, max_age=600)
    old_kid = fake_forge.kid
    keys(old_kid)
    fake_forge.rotate(keep_old=False)
    clock.now += 599
    assert keys(old_kid)
    assert fake_forge.jwks_requests == 1
    clock.now += 2
    with pytest.raises(UnknownKeyId):
        keys(old_kid)
    assert fake_forge.jwks_requests == 2


def test_a_failing_refresh_keeps_the_keys_already_known_and_retries_only_after_a_while(fake_forge):
    clock = Clock()
    keys = ForgeKeySet(fake_forge.jwks_url, clock=clock, max_age=600)
    keys(fake_forge.kid)
    fake_forge.mode = "down"
    clock.now += 601
    assert keys(fake_forge.kid)
    assert fake_forge.jwks_requests == 2
    clock.now += 29
    assert keys(fake_forge.kid)
    assert fake_forge.jwks_requests == 2  # no fetch on every call while the key server is down
    fake_forge.mode = "ok"
    clock.now += 2
    assert keys(fake_forge.kid)
    assert fake_forge.jwks_requests == 3


def test_a_compressed_key_set_is_read_and_identity_is_asked_for(fake_forge):
    fake_forge.mode = "gzip"
    assert ForgeKeySet(fake_forge.jwks_url)(fake_forge.kid)
    assert fake_forge.last_accept_encoding == "identity"


@pytest.mark.parametrize("mode", ["down", "garbage"])
def test_a_misbehaving_key_server_fails_closed(fake_forge, mode):
    fake_forge.mode = mode
    with pytest.raises(KeyUnavailable):
        ForgeKeySet(fake_forge.jwks_url)(fake_forge.kid)


@pytest.mark.parametrize("mode", ["slow", "hang"])
def test_a_key_server_that_stalls_costs_at_most_the_fetch_budget(fake_forge, mode):
    fake_forge.mode = mode
    fake_forge.delay = 8.0
    started = time.monotonic()
    with pytest.raises(KeyUnavailable):
        ForgeKeySet(fake_forge.jwks_url)(fake_forge.kid)
    assert time.monotonic() - started < 4.0


def test_an_unreachable_key_server_fails_closed(fake_forge):
    url = fake_forge.jwks_url
    fake_forge.stop()
    with pytest.raises(KeyUnavailable):
        ForgeKeySet(url)("any")


def test_callers_waiting_on_one_refetch_share_it(fake_forge):
    keys = ForgeKeySet(fake_forge.jwks_url)
    keys(fake_forge.kid)
    fake_forge.mode = "slow"
    fake_forge.delay = 0.5
    new_kid = fake_forge.rotate()
    found, errors = [], []

    def lookup():
        try:
            found.append(keys(new_kid))
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=lookup) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert errors == [] and len(found) == 6
    assert fake_forge.jwks_requests == 2


def test_only_rs256_signing_keys_are_read_and_only_their_public_half():
    private = new_key()
    signing = public_jwk(private, "sig-key")
    with_private_numbers = dict(public_jwk(private, "with-d"), d="AQAB", p="AQAB", q="AQAB")
    document = {"keys": [
        signing,
        with_private_numbers,
        dict(public_jwk(private, "enc-key"), use="enc"),
        dict(public_jwk(private, "ps256-key"), alg="PS256"),
        {"kty": "EC", "kid": "ec-key", "crv": "P-256", "x": "x", "y": "y"},
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
        {"kty": "RSA", "n": signing["n"], "e": signing["e"]},  # no kid
        "not an object",
    ]}
    keys = parse_jwks(json.dumps(document).encode())
    assert set(keys) == {"sig-key", "with-d"}
    assert all(isinstance(key, RSAPublicKey) for key in keys.values())


@pytest.mark.parametrize("body", [b"not json", b"[]", b'{"keys": {}}', b'{"no": "keys"}', b"\xff\xfe"])
def test_a_document_that_is_not_a_jwks_is_refused(body):
    with pytest.raises(KeyUnavailable):
        parse_jwks(body)
