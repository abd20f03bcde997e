"""A fake Forge platform: its JWKS on a real loopback HTTP server, and Forge Invocation Tokens signed like Forge's.

RSA keys are generated at run time (nothing is committed). Every part of a token can be overridden to forge bad
ones; `rotate()` publishes a new signing key, `mode` makes the key server fail (down, slow, garbage, hang).
Like the fake Jira it never imports `app`, so it can disagree with the code it tests.
"""
from __future__ import annotations

import gzip
import json
import sys
import threading
import time
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt as pyjwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

FIT_ISSUER = "forge/invocation-token"
JWKS_PATH = "/.well-known/jwks.json"


def _ts(now) -> int:
    if now is None:
        return int(time.time())
    return int(now.timestamp() if isinstance(now, datetime) else now)


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_jwk(private_key: rsa.RSAPrivateKey, kid: str) -> dict:
    jwk = json.loads(RSAAlgorithm.to_jwk(private_key.public_key()))
    jwk.update({"kid": kid, "use": "sig", "alg": "RS256"})
    return jwk


class FakeForge:
    """One Forge app (its ARI) and the platform's key server."""

    def __init__(self, *, app_uuid: str | None = None, host: str = "127.0.0.1"):
        self.app_uuid = app_uuid or str(uuid.uuid4())
        self.host = host
        self.environment_uuid = str(uuid.uuid4())
        self.signing_key = new_key()
        self.kid = f"forge/invocation-token/{uuid.uuid4()}"
        self.published: dict[str, rsa.RSAPrivateKey] = {self.kid: self.signing_key}
        self.jwks_requests = 0
        self.last_accept_encoding: str | None = None
        # ok | down | garbage | gzip (compressed whatever was asked) | slow (answers after `delay`) | hang (headers only)
        self.mode = "ok"
        self.delay = 10.0
        self._server: ThreadingHTTPServer | None = None

    # ------------------------------------------------------------ server

    def start(self) -> "FakeForge":
        handler = type("FakeForgeHandler", (_Handler,), {"forge": self})
        self._server = _Server((self.host, 0), handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-forge", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeForge":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def jwks_url(self) -> str:
        """What the app's FORGE_JWKS_URL should be."""
        assert self._server is not None, "start() the fake Forge first"
        return f"http://{self.host}:{self._server.server_address[1]}{JWKS_PATH}"

    @property
    def app_id(self) -> str:
        return f"ari:cloud:ecosystem::app/{self.app_uuid}"

    def jwks(self) -> dict:
        return {"keys": [public_jwk(key, kid) for kid, key in self.published.items()]}

    def rotate(self, *, keep_old: bool = True) -> str:
        """Publish a new signing key (and by default keep the old one listed); return its kid."""
        self.signing_key = new_key()
        self.kid = f"forge/invocation-token/{uuid.uuid4()}"
        if not keep_old:
            self.published = {}
        self.published[self.kid] = self.signing_key
        return self.kid

    # ------------------------------------------------------------ what Forge sends to a remote

    def claims(self, installation_id: str | None, *, now=None, ttl: int = 25, cloud_id: str | None = None,
               site_url: str = "https://example.atlassian.net") -> dict:
        """The claims of a FIT for a product event or a UI call of one installation."""
        issued = _ts(now)
        cloud_id = cloud_id or str(uuid.uuid4())
        app = {
            "id": self.app_id,
            "appVersion": "2.1.0",
            "installationId": installation_id,
            "apiBaseUrl": f"https://api.atlassian.com/ex/jira/{cloud_id}",
            "environment": {"type": "DEVELOPMENT",
                            "id": f"ari:cloud:ecosystem::environment/{self.app_uuid}/{self.environment_uuid}"},
            "module": {"type": "xis:jira:adminPage", "key": "backup-status"},
            "installation": {"id": installation_id,
                             "contexts": [{"name": "jira", "apiBaseUrl": f"https://api.atlassian.com/ex/jira/{cloud_id}",
                                           "cloudId": cloud_id}]},
        }
        if installation_id is None:
            app.pop("installationId")
        return {
            "iss": FIT_ISSUER,
            "aud": self.app_id,
            "iat": issued,
            "nbf": issued,
            "exp": issued + ttl,
            "jti": str(uuid.uuid4()),
            "app": app,
            "context": {"cloudId": cloud_id, "siteUrl": site_url},
        }

    def fit(self, installation_id: str | None, *, now=None, key=None, algorithm: str = "RS256",
            kid: str | None = None, headers: dict | None = None, **claim_overrides) -> str:
        """A FIT; override any claim (None drops it), the key, the algorithm or the header's kid."""
        claims = self.claims(installation_id, now=now)
        claims.update(claim_overrides)
        claims = {name: value for name, value in claims.items() if value is not None}
        header = {"kid": self.kid if kid is None else kid}
        header.update(headers or {})
        signing_key = key if key is not None else self.signing_key
        return pyjwt.encode(claims, signing_key, algorithm=algorithm, headers=header)

    def invoke(self, remote_url: str, path: str, installation_id: str, *, body: dict | None = None,
               oauth_system: str | None = None, timeout: float = 10.0) -> requests.Response:
        """POST to a remote as Forge does for an event: Bearer FIT, trace headers, optional app system token."""
        headers = {"Authorization": f"Bearer {self.fit(installation_id)}", "x-b3-traceid": uuid.uuid4().hex,
                   "x-b3-spanid": uuid.uuid4().hex[:16]}
        if oauth_system:
            headers["x-forge-oauth-system"] = oauth_system
        return requests.post(remote_url.rstrip("/") + path, json=body or {}, headers=headers, timeout=timeout)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        # The app hanging up on a stalled key server is what the slow/hang modes provoke: not worth a traceback.
        if isinstance(sys.exc_info()[1], OSError):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    forge: FakeForge
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args) -> None:  # keep test output quiet
        return None

    def do_GET(self) -> None:
        forge = self.forge
        if self.path != JWKS_PATH:
            return self._send(404, b"not found")
        forge.jwks_requests += 1
        forge.last_accept_encoding = self.headers.get("Accept-Encoding")
        if forge.mode == "down":
            return self._send(503, b"unavailable")
        if forge.mode == "garbage":
            return self._send(200, b"<html>not a key set</html>")
        if forge.mode == "slow":
            time.sleep(forge.delay)
        body = json.dumps(forge.jwks()).encode()
        if forge.mode == "gzip":
            return self._send(200, gzip.compress(body), {"Content-Encoding": "gzip"})
        if forge.mode == "hang":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.flush()
            time.sleep(forge.delay)
            self.close_connection = True
            return None
        return self._send(200, body)

    def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the app gave up waiting: nothing to answer
            pass
