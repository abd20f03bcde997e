"""Install-token public keys: validated kid, fetched from the key server, cached per kid, failing closed."""
from __future__ import annotations

import threading

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from app.connect import install_keys
from app.connect.install_keys import InstallKeyFetcher, validate_kid
from app.connect.jwt import InvalidKeyId, KeyUnavailable


@pytest.mark.parametrize("kid", ["0e50fccb-2c57-4bfc-bdc4-a0e5d0bf8a71", "production/abc_DEF-1", "k"])
def test_plausible_kids_are_accepted(kid):
    assert validate_kid(kid) == kid


@pytest.mark.parametrize("kid", ["", "../x", "a/../b", "a/./b", "/abs", "a//b", "a/", "x?y", "x#y", "a%2Fb",
                                 "user@evil.example", "http://evil", "a b", "é", "a" * 129, None, 5])
def test_unsafe_kids_are_refused_before_any_fetch(kid):
    with pytest.raises(InvalidKeyId):
        validate_kid(kid)


def test_a_key_is_fetched_once_and_then_served_from_the_cache(fake_jira):
    fetch = InstallKeyFetcher(fake_jira.keys_url)
    assert fetch(fake_jira.kid) == fake_jira.public_keys[fake_jira.kid]
    assert fetch(fake_jira.kid) == fake_jira.public_keys[fake_jira.kid]
    assert fake_jira.key_requests == [fake_jira.kid]


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_unknown_kid_is_refused_from_memory_then_asked_again_after_a_short_while(fake_jira):
    clock = Clock()
    fetch = InstallKeyFetcher(fake_jira.keys_url, clock=clock)
    for _ in range(20):
        with pytest.raises(KeyUnavailable):
            fetch("not-published-yet")
    assert fake_jira.key_requests == ["not-published-yet"]  # one fetch, not twenty
    fake_jira.public_keys["not-published-yet"] = fake_jira.public_keys[fake_jira.kid]
    clock.now += install_keys.NEGATIVE_TTL + 1
    assert fetch("not-published-yet") == fake_jira.public_keys[fake_jira.kid]
    assert install_keys.NEGATIVE_TTL <= 300


def test_a_flood_of_new_kids_never_has_more_than_a_few_fetches_in_flight(fake_jira):
    fake_jira.key_server_mode, fake_jira.key_server_delay = "slow", 0.5
    fetch = InstallKeyFetcher(fake_jira.keys_url, timeout=(2, 2))
    barrier = threading.Barrier(24)
    outcomes: list[str] = []

    def attempt(index: int) -> None:
        barrier.wait(timeout=10)
        try:
            fetch(f"flood-kid-{index}")
            outcomes.append("key")
        except KeyUnavailable:
            outcomes.append("refused")

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert outcomes == ["refused"] * 24
    assert len(fake_jira.key_requests) <= install_keys.MAX_CONCURRENT_FETCHES


@pytest.mark.parametrize("mode", ["down", "garbage"])
def test_a_misbehaving_key_server_fails_closed(fake_jira, mode):
    fake_jira.key_server_mode = mode
    with pytest.raises(KeyUnavailable):
        InstallKeyFetcher(fake_jira.keys_url)(fake_jira.kid + "-" + mode)


def test_a_slow_key_server_times_out(fake_jira):
    fake_jira.key_server_mode, fake_jira.key_server_delay = "slow", 2
    with pytest.raises(KeyUnavailable):
        InstallKeyFetcher(fake_jira.keys_url, timeout=(0.3, 0.3))(fake_jira.kid)


def test_an_unreachable_key_server_fails_closed(fake_jira):
    url = fake_jira.keys_url
    fake_jira.stop()
    with pytest.raises(KeyUnavailable):
        InstallKeyFetcher(url, timeout=(0.5, 0.5))("some-kid")


def test_a_non_rsa_key_is_refused(fake_jira):
    pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    fake_jira.public_keys["ec-key"] = pem
    with pytest.raises(KeyUnavailable):
        InstallKeyFetcher(fake_jira.keys_url)("ec-key")


def test_a_trickling_key_server_is_cut_off_at_the_budget():
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Trickle(BaseHTTPRequestHandler):
        def log_message(self, *_args):
            return None

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "4000")
            self.end_headers()
            try:
                for _ in range(4000):
                    self.wfile.write(b"-")
                    self.wfile.flush()
                    time.sleep(0.05)
            except OSError:
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    try:
        started = time.monotonic()
        with pytest.raises(KeyUnavailable):
            InstallKeyFetcher(f"http://127.0.0.1:{server.server_port}", timeout=(0.5, 0.5))("trickle")
        assert time.monotonic() - started < 2.5
    finally:
        server.shutdown()
        server.server_close()
