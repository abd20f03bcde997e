"""Guarded sessions against real servers on loopback: the resolved address is checked when connecting."""
from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from app.urls import DestinationRefused, Purpose, UrlPolicy, guarded_session, policy_for
from app.urls.guard import guarded_socket

STRICT = policy_for(Purpose.WEBHOOK, production=True)
DEVELOPMENT = policy_for(Purpose.WEBHOOK, production=False)


@pytest.fixture
def canary():
    """A loopback HTTP server that records every request it gets (it stands for an internal service)."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_args):
            return None

        def do_GET(self):
            hits.append(self.path)
            self.send_response(302 if self.path == "/hop" else 200)
            self.send_header("Location", "/secret")
            self.send_header("Content-Length", "6")
            self.end_headers()
            self.wfile.write(b"secret")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    server.hits = hits
    server.url = f"http://127.0.0.1:{server.server_port}"
    yield server
    server.shutdown()
    server.server_close()


def test_a_strict_session_never_reaches_a_loopback_service(canary):
    with pytest.raises(DestinationRefused):
        guarded_session(STRICT).get(canary.url + "/latest/meta-data", timeout=5)
    assert canary.hits == []


def test_a_name_resolving_to_loopback_is_refused_at_connect_time(canary):
    # The URL check cannot tell where a name points; the connection resolves it and refuses.
    lenient_url = UrlPolicy(Purpose.WEBHOOK, https_only=False, loopback=False)
    with pytest.raises(DestinationRefused) as refused:
        guarded_socket("localhost", canary.server_port, lenient_url, timeout=5)
    assert "loopback" in str(refused.value)
    assert canary.hits == []


def test_a_dns_answer_that_changes_to_an_internal_address_is_refused(canary, monkeypatch):
    real = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):  # the attacker's DNS answers loopback at connect time
        if host == "hooks.rebind.test":
            return real("127.0.0.1", *args, **kwargs)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    policy = UrlPolicy(Purpose.WEBHOOK, https_only=False, loopback=False)
    with pytest.raises(DestinationRefused):
        guarded_session(policy).get(f"http://hooks.rebind.test:{canary.server_port}/x", timeout=5)
    assert canary.hits == []


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data", "http://10.0.0.1/",
                                 "http://[fe80::1]/", "http://0.0.0.0/"])
def test_private_link_local_and_metadata_addresses_are_refused_before_any_packet(url):
    with pytest.raises(DestinationRefused):
        guarded_session(DEVELOPMENT).get(url, timeout=1)


def test_development_reaches_loopback_and_never_follows_redirects(canary):
    session = guarded_session(DEVELOPMENT)
    response = session.get(canary.url + "/hop", timeout=5)
    assert response.status_code == 302  # the caller decides about each hop
    assert canary.hits == ["/hop"]
    assert session.get(canary.url + "/ok", timeout=5).content == b"secret"


def test_refusals_are_not_network_errors_that_a_retry_loop_would_repeat(canary):
    with pytest.raises(DestinationRefused) as refused:
        guarded_session(STRICT).get(canary.url, timeout=5)
    assert not isinstance(refused.value, (OSError, requests.RequestException))


def test_environment_proxies_are_ignored(canary, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    assert guarded_session(DEVELOPMENT).get(canary.url + "/ok", timeout=5).status_code == 200


def test_ambiguous_urls_are_refused_before_any_connection(canary):
    with pytest.raises(DestinationRefused):
        guarded_session(DEVELOPMENT).get(f"http://evil.example\\@127.0.0.1:{canary.server_port}/", timeout=5)
    assert canary.hits == []
