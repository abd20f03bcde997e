"""A fake Jira Cloud site: a real threaded HTTP server on loopback that plays Jira to the app.

It serves install public keys by kid (RSA keys generated at runtime), signs lifecycle calls, page and
context tokens like Atlassian, and answers the REST calls the app makes (`sim.jira_rest`) while verifying
the app's outgoing JWTs (iss = app key, qsh of the exact request, HS256 with the shared secret). Its JWT
rules (`sim.jira_auth`) never come from `app`, so the fake can disagree with the code it tests.

    python -m sim.jira --app-url http://127.0.0.1:8000 --install   # a site for local use
"""
from __future__ import annotations

import argparse
import json
import secrets
import threading
import time
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlencode, urlsplit

import jwt as pyjwt
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import jira_rest
from .jira_auth import CONTEXT_QSH, check_app_token, request_qsh, sign_hs256

ADMIN_ACCOUNT = "admin-account"


def _now_ts(now) -> int:
    if now is None:
        return int(time.time())
    return int(now.timestamp() if isinstance(now, datetime) else now)


def generate_rsa_key() -> rsa.RSAPrivateKey:
    """A fresh RSA key (tests generate theirs; no private key is committed)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(private_key: rsa.RSAPrivateKey) -> str:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


class FakeJira:
    """One fake Jira site with its install key server and REST API."""

    def __init__(self, *, app_key: str = "xray-backup", base_path: str = "", host: str = "127.0.0.1"):
        self.app_key = app_key
        self.base_path = base_path.rstrip("/")
        self.host = host
        self.client_key = f"jira:{uuid.uuid4()}"
        self.shared_secret = secrets.token_urlsafe(48)
        self.private_key = generate_rsa_key()
        self.kid = str(uuid.uuid4())
        self.public_keys: dict[str, str] = {self.kid: public_pem(self.private_key)}
        self.admins: set[str] = {ADMIN_ACCOUNT}
        self.projects: list[dict] = [
            {"id": "10000", "key": "DEMO", "name": "Demo project"},
            {"id": "10001", "key": "XT", "name": "Xray tests"},
        ]
        # accountId -> fields of the user (displayName, active, …) over Jira's defaults
        self.users: dict[str, dict] = {ADMIN_ACCOUNT: {"displayName": "Site Admin", "active": True}}
        # project key (or id) -> its components / versions, as lists of Jira objects ({"id", "name", …})
        self.components: dict[str, list[dict]] = {}
        self.versions: dict[str, list[dict]] = {}
        self.requests: list[dict] = []
        self.key_requests: list[str] = []
        self.key_server_mode = "ok"  # ok | down | slow | garbage
        self.key_server_delay = 6.0
        self.fail_next: list[int] = []  # statuses the REST API answers before answering normally
        self.retry_after = "0"
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------ server

    def start(self) -> "FakeJira":
        handler = type("FakeJiraHandler", (_Handler,), {"jira": self})
        self._server = ThreadingHTTPServer((self.host, 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-jira",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeJira":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def origin(self) -> str:
        assert self._server is not None, "start() the fake Jira first"
        return f"http://{self.host}:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        """The site's baseUrl (with the base path, if any)."""
        return self.origin + self.base_path

    base_url = url

    @property
    def keys_url(self) -> str:
        """What the app's CONNECT_INSTALL_KEYS_URL should be."""
        return self.origin + "/connect-install-keys"

    # ------------------------------------------------------------ what Jira sends to the app

    def install_payload(self, event_type: str = "installed", **overrides) -> dict:
        payload = {
            "key": self.app_key,
            "clientKey": self.client_key,
            "sharedSecret": self.shared_secret,
            "baseUrl": self.url,
            "displayUrl": self.url,
            "productType": "jira",
            "description": "Fake Jira for tests",
            "serverVersion": "100273",
            "pluginsVersion": "1001.0.0-SNAPSHOT",
            "eventType": event_type,
            "oauthClientId": "fake-oauth-client",
        }
        if event_type != "installed":
            payload.pop("sharedSecret")
        payload.update(overrides)
        return payload

    def install_token(self, app_base_url: str, path: str = "/installed", *, now=None, kid: str | None = None,
                      private_key=None, algorithm: str = "RS256", key=None, headers: dict | None = None,
                      **claim_overrides) -> str:
        """An RS256 lifecycle token as Atlassian signs it (every part overridable to forge bad ones)."""
        issued = _now_ts(now)
        claims = {
            "iss": self.client_key,
            "iat": issued,
            "exp": issued + 180,
            "aud": [app_base_url],
            "qsh": request_qsh("POST", path, "", urlsplit(app_base_url).path),
            # Two real callbacks never carry the same token (the app keeps them single-use); within one
            # second these claims alone would repeat, so each token gets its own id.
            "jti": uuid.uuid4().hex,
        }
        claims.update(claim_overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        signing_key = key if key is not None else (private_key or self.private_key)
        header = {"kid": self.kid if kid is None else kid}
        header.update(headers or {})
        return pyjwt.encode(claims, signing_key, algorithm=algorithm, headers=header)

    def hs256_token(self, method: str, path: str, query: str = "", *, app_base_url: str = "",
                    account_id: str | None = ADMIN_ACCOUNT, now=None, secret: str | None = None,
                    ttl: int = 180, **claim_overrides) -> str:
        """A token signed with the shared secret for a request to the app (page loads, enabled/disabled)."""
        issued = _now_ts(now)
        claims = {
            "iss": self.client_key,
            "iat": issued,
            "exp": issued + ttl,
            "qsh": request_qsh(method, path, query, urlsplit(app_base_url).path),
            "context": {},
            "jti": uuid.uuid4().hex,  # see install_token
        }
        if account_id is not None:
            claims["sub"] = account_id
        claims.update(claim_overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return sign_hs256(claims, secret or self.shared_secret)

    def page_token(self, path: str, query: str = "", **kwargs) -> str:
        return self.hs256_token("GET", path, query, **kwargs)

    def page_url(self, path: str, query: dict | None = None, **kwargs) -> str:
        """`path?…&jwt=…` as Jira loads an admin page in its iframe."""
        params = dict(query or {})
        query_string = urlencode(params)
        token = self.page_token(path, query_string, **kwargs)
        return f"{path}?{query_string + '&' if query_string else ''}jwt={token}"

    def context_token(self, account_id: str | None = ADMIN_ACCOUNT, *, now=None, secret: str | None = None,
                      ttl: int = 900, **claim_overrides) -> str:
        """What `AP.context.getToken()` returns on the page."""
        claim_overrides.setdefault("qsh", CONTEXT_QSH)
        return self.hs256_token("GET", "/", account_id=account_id, now=now, secret=secret, ttl=ttl, **claim_overrides)

    def install_into(self, app_url: str, app_base_url: str | None = None, event_type: str = "installed") -> int:
        """POST a signed lifecycle call to a running app over HTTP (for the dev host); returns the status."""
        path = "/" + event_type
        app_base_url = app_base_url or app_url
        payload = self.install_payload(event_type)
        if event_type in ("installed", "uninstalled"):
            token = self.install_token(app_base_url, path)
        else:
            token = self.hs256_token("POST", path, app_base_url=app_base_url, account_id=None)
        response = requests.post(app_url.rstrip("/") + path, json=payload,
                                 headers={"Authorization": f"JWT {token}"}, timeout=10)
        return response.status_code

    # ------------------------------------------------------------ REST verification

    def verify_app_token(self, method: str, raw_path: str, query: str, authorization: str | None) -> str | None:
        """Check the app's JWT like Jira does; return a reason when it is refused."""
        return check_app_token(authorization, secret=self.shared_secret, app_key=self.app_key, method=method,
                               path=unquote(raw_path), query=query, base_path=self.base_path)


class _Handler(BaseHTTPRequestHandler):
    jira: FakeJira
    protocol_version = "HTTP/1.1"

    def log_message(self, *_args) -> None:  # keep test output quiet
        return None

    def _send(self, status: int, body: object = None, content_type: str = "application/json",
              headers: dict | None = None) -> None:
        if isinstance(body, (dict, list)):
            data = json.dumps(body).encode()
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = body or b""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        jira = self.jira
        parts = urlsplit(self.path)
        if parts.path.startswith("/connect-install-keys/") and method == "GET":
            return self._install_key(parts.path[len("/connect-install-keys/"):])
        body = self._body()
        path = unquote(parts.path)
        if jira.base_path:
            if not path.startswith(jira.base_path + "/"):
                return self._send(404, {"errorMessages": ["not found"]})
            path = path[len(jira.base_path):]
        entry = {"method": method, "path": path, "query": parts.query, "status": None}
        jira.requests.append(entry)
        reason = jira.verify_app_token(method, parts.path, parts.query, self.headers.get("Authorization"))
        if reason:
            entry["status"], entry["rejected"] = 401, reason
            return self._send(401, {"errorMessages": [f"Unauthorized: {reason}"]})
        if jira.fail_next:
            status = jira.fail_next.pop(0)
            entry["status"] = status
            headers = {"Retry-After": jira.retry_after} if status == 429 else None
            return self._send(status, {"errorMessages": ["simulated failure"]}, headers=headers)
        params = parse_qs(parts.query, keep_blank_values=True)
        status, answer = jira_rest.answer(jira, method, path, params, body)
        entry["status"] = status
        self._send(status, answer)

    def _install_key(self, kid: str) -> None:
        jira = self.jira
        jira.key_requests.append(kid)
        mode = jira.key_server_mode
        if mode == "down":
            return self._send(503, "unavailable", "text/plain")
        if mode == "slow":
            time.sleep(jira.key_server_delay)
        if mode == "garbage":
            return self._send(200, "this is not a key", "text/plain")
        pem = jira.public_keys.get(kid)
        if pem is None:
            return self._send(404, "no such key", "text/plain")
        self._send(200, pem, "application/x-pem-file")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a fake Jira site on loopback for local use.")
    parser.add_argument("--app-url", default="http://127.0.0.1:8000", help="where the app listens")
    parser.add_argument("--app-base-url", help="the app's APP_BASE_URL (default: --app-url)")
    parser.add_argument("--install", action="store_true", help="send a signed install to the app at start")
    args = parser.parse_args(argv)
    jira = FakeJira().start()
    print(f"fake Jira at {jira.url}; set CONNECT_INSTALL_KEYS_URL={jira.keys_url}", flush=True)
    if args.install:
        status = jira.install_into(args.app_url, args.app_base_url)
        print(f"install answered HTTP {status}; clientKey {jira.client_key}", flush=True)
        page = jira.page_url("/pages/backups", app_base_url=args.app_base_url or args.app_url, ttl=3600)
        print(f"admin page (valid one hour): {args.app_url.rstrip('/')}{page}", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        jira.stop()


if __name__ == "__main__":
    main()
