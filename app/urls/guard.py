"""Guarded outbound HTTP: a requests session whose every new connection checks the *resolved* address.

A policy check on the URL alone cannot see where a name resolves (nor a DNS answer that changes between the
check and the request), so the check happens in the connection itself: the host is resolved once, every
address it resolves to must be allowed by the `UrlPolicy`, and the socket connects to exactly those addresses.
Redirects are never followed by the session (`allow_redirects` is forced off): a caller that follows them
checks each `Location` with the policy and sends it through the same session, so every hop is checked.
"""
from __future__ import annotations

import socket

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util.connection import allowed_gai_family

from .policy import UrlPolicy, UrlRefused, address_kind


class DestinationRefused(Exception):
    """A connection was refused by the URL policy before any byte was sent; the message names no secret.

    Deliberately not an OSError or a requests exception: retry loops must not treat it as a network hiccup.
    """

    def __init__(self, host: str, problem: str):
        self.host, self.problem = host, problem
        super().__init__(f"{host}: {problem}")


def guarded_socket(host: str, port: int, policy: UrlPolicy, timeout=None, source_address=None,
                   socket_options=None) -> socket.socket:
    """Resolve `host`, refuse it unless every address is allowed, then connect to one of them."""
    host = host.strip("[]")
    infos = socket.getaddrinfo(host, port, allowed_gai_family(), socket.SOCK_STREAM)
    if not infos:
        raise OSError("getaddrinfo returned no address")
    for info in infos:
        address = info[4][0].split("%", 1)[0]
        if not policy.allows_address(address):
            raise DestinationRefused(host, f"resolves to a {address_kind(address)} address, which "
                                           f"{policy.purpose.value} may not reach")
    error: OSError | None = None
    for family, kind, proto, _name, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        try:
            for level, option, value in socket_options or ():
                sock.setsockopt(level, option, value)
            if timeout is not None:
                sock.settimeout(timeout)
            if source_address:
                sock.bind(source_address)
            sock.connect(sockaddr)
            return sock
        except OSError as exc:
            error = exc
            sock.close()
    raise error  # type: ignore[misc]


class _GuardMixin:
    url_policy: UrlPolicy

    def _new_conn(self) -> socket.socket:
        try:
            return guarded_socket(self._dns_host, self.port, self.url_policy, self.timeout, self.source_address,
                                  self.socket_options)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
        except socket.timeout as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc


class _GuardedAdapter(HTTPAdapter):
    def __init__(self, policy: UrlPolicy, **kwargs):
        attrs = {"url_policy": policy}
        http_conn = type("GuardedHTTPConnection", (_GuardMixin, HTTPConnection), attrs)
        https_conn = type("GuardedHTTPSConnection", (_GuardMixin, HTTPSConnection), attrs)
        self._pools = {
            "http": type("GuardedHTTPPool", (HTTPConnectionPool,), {"ConnectionCls": http_conn}),
            "https": type("GuardedHTTPSPool", (HTTPSConnectionPool,), {"ConnectionCls": https_conn}),
        }
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self._pools)

    def proxy_manager_for(self, *args, **kwargs):
        raise DestinationRefused("proxy", "guarded sessions never go through a proxy")

    def send(self, request, **kwargs):
        kwargs["proxies"] = {}
        return super().send(request, **kwargs)


class GuardedSession(requests.Session):
    """A session for one policy: URLs checked before sending, addresses checked when connecting, no redirects."""

    def __init__(self, policy: UrlPolicy):
        super().__init__()
        self.policy = policy
        self.trust_env = False  # no proxy from the environment: the policy must see the real destination
        adapter = _GuardedAdapter(policy)
        self.mount("http://", adapter)
        self.mount("https://", adapter)

    def request(self, method, url, *args, **kwargs):
        try:
            # Checked, not rewritten: a caller's signature (a JWT's qsh) covers the URL as it was built.
            self.policy.check(url, allow_query=True)
        except UrlRefused as exc:
            raise DestinationRefused("url", exc.problem) from None
        kwargs["allow_redirects"] = False
        return super().request(method, url, *args, **kwargs)


def guarded_session(policy: UrlPolicy) -> GuardedSession:
    """A new session that only reaches what `policy` allows (see the module docstring)."""
    return GuardedSession(policy)
