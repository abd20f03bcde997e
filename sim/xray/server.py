"""The Xray simulator's HTTP server: authentication, GraphQL, attachments, rate limit and faults.

Routes (also under the region prefixes ``/us``, ``/eu``, ``/au``):
``POST /api/v2/authenticate``, ``POST /api/v2/graphql``, ``GET /api/v2/attachments/{id}``.
Control routes for other processes: ``GET|POST /_sim/faults``, ``GET /_sim/stats``,
``POST /_sim/stats/reset``, ``POST /_sim/revoke-tokens``, ``POST /_sim/clients``.

Faults (``XraySimulator.set_faults(**faults)`` or ``POST /_sim/faults`` with the same JSON keys):

- ``latency_ms``: delay every API request.
- ``error_every`` (with ``error_status``, default 502): every Nth API request answers that status.
- ``reset_every``: every Nth API request has its connection reset (TCP RST, no response).
- ``truncate_every``: every Nth API request answers 200 with the first half of its JSON body
  (a download sends half of the announced bytes, then the connection drops).
- ``throttle_body_every``: every Nth API request answers 200 with Xray's throttling body.
- ``too_many_every``: every Nth API request answers 429.
- ``revoke_every``: before every Nth API request all issued tokens are revoked (expiry mid-run).
- ``retry_after``: seconds in ``Retry-After`` on 429 answers; ``None`` omits the header;
  ``retry_after_format``: ``"seconds"`` (default) or ``"date"`` (an HTTP date).
- ``redirect_attachments``: attachment downloads redirect to a signed URL on another host name
  (``localhost`` instead of ``127.0.0.1``) that refuses requests carrying an ``Authorization`` header.
- ``fault_targets``: request kinds the every-Nth faults count and hit (default graphql and attachment;
  add ``authenticate`` to hit that too).

"Every Nth" counts the targeted requests since the faults were last set.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import secrets
import socket
import struct
import threading
import time
from collections import Counter, deque
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import jwt

from .dataset import Dataset
from .graphql_api import RESOLVER_LIMIT, execute

logger = logging.getLogger(__name__)

DEFAULT_CLIENT_ID = "5F7C2B9E1A4D4E8B9C0D1E2F3A4B5C6D"
DEFAULT_CLIENT_SECRET = "a3f1c9e7b5d3f1a9c7e5b3d1f9a7c5e3b1d9f7a5c3e1b9d7f5a3c1e9b7d5f3a1"
REGIONS = ("us", "eu", "au")
THROTTLE_TEXT = "Too many requests in this time frame."
FAULT_KEYS = {
    "latency_ms", "error_every", "error_status", "reset_every", "truncate_every", "throttle_body_every",
    "too_many_every", "revoke_every", "retry_after", "retry_after_format", "redirect_attachments",
    "fault_targets",
}
_ROUTE = re.compile(r"^(?:/(us|eu|au))?/api/v2/(authenticate|graphql|attachments/([^/]+))$")


class XraySimulator:
    """A running Xray Cloud stand-in over a generated ``Dataset`` (see ``sim.xray.dataset``)."""

    def __init__(self, dataset: Dataset | None = None, *, scale: int = 1, seed: int = 7,
                 clients: dict[str, str] | None = None, rate_limit: int | None = None,
                 rate_window: float = 300.0, token_ttl: int = 86400, resolver_limit: int | None = RESOLVER_LIMIT,
                 host: str = "127.0.0.1", port: int = 0):
        self.dataset = dataset or Dataset(scale=scale, seed=seed)
        self.clients = {cid: {"secret": sec, "region": "global"}
                        for cid, sec in (clients or {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}).items()}
        self.rate_limit, self.rate_window = rate_limit, rate_window
        self.token_ttl, self.resolver_limit = token_ttl, resolver_limit
        self._signing_key = secrets.token_bytes(32)
        self._generation = 0
        self._lock = threading.Lock()
        self._faults: dict = {}
        self._fault_counter = 0
        self._windows: dict[str, deque] = {}
        self._stats = Counter()
        self._by_query = Counter()
        self._max_in_window = 0
        self._connections: set[socket.socket] = set()
        self._server = ThreadingHTTPServer((host, port), _Handler)
        self._server.daemon_threads = True
        self._server.sim = self
        self._thread: threading.Thread | None = None

    # ---- lifecycle ------------------------------------------------------------------------------

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        return f"http://{self._server.server_address[0]}:{self.port}"

    def region_url(self, region: str) -> str:
        """The base URL serving a region (global is the plain URL)."""
        return self.url if region == "global" else f"{self.url}/{region}"

    def start(self) -> "XraySimulator":
        self._thread = threading.Thread(target=self._server.serve_forever, name="xray-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop open keep-alive connections, so nothing answers any more."""
        self._server.shutdown()
        self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---- control --------------------------------------------------------------------------------

    def add_client(self, client_id: str, client_secret: str, region: str = "global") -> None:
        """Accept another API key; data calls for it succeed only on its region's URL."""
        with self._lock:
            self.clients[client_id] = {"secret": client_secret, "region": region}

    def set_faults(self, **faults) -> None:
        """Replace the active faults (see the module docstring); no arguments clears them."""
        unknown = set(faults) - FAULT_KEYS
        if unknown:
            raise ValueError(f"unknown faults: {sorted(unknown)}")
        with self._lock:
            self._faults = {k: v for k, v in faults.items() if v is not None or k == "retry_after"}
            self._fault_counter = 0

    def clear_faults(self) -> None:
        self.set_faults()

    @property
    def faults(self) -> dict:
        with self._lock:
            return dict(self._faults)

    def revoke_tokens(self) -> None:
        """Invalidate every token issued so far (as when tokens expire in the middle of a run)."""
        with self._lock:
            self._generation += 1
            self._stats["tokens_revoked"] += 1

    def stats(self) -> dict:
        """Requests served by kind, faults injected, 429s, requests per root query, peak per window."""
        with self._lock:
            out = dict(self._stats)
            out["by_query"] = dict(self._by_query)
            out["max_in_window"] = self._max_in_window
            return out

    def reset_stats(self) -> None:
        with self._lock:
            self._stats.clear()
            self._by_query.clear()
            self._max_in_window = 0
            self._windows.clear()

    # ---- request handling (called from handler threads) ----------------------------------------

    def _count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._stats[key] += n

    def _next_fault(self, kind: str) -> tuple[str | None, dict]:
        with self._lock:
            faults = dict(self._faults)
            targets = faults.get("fault_targets") or ("graphql", "attachment")
            if kind not in targets:
                return None, faults
            self._fault_counter += 1
            n = self._fault_counter
            for name in ("revoke", "reset", "error", "truncate", "throttle_body", "too_many"):
                every = faults.get(f"{name}_every")
                if every and n % int(every) == 0:
                    self._stats[f"fault_{name}"] += 1
                    if name == "revoke":
                        self._generation += 1
                        continue
                    return name, faults
            return None, faults

    def _admit(self, client_id: str) -> float | None:
        """Record a request against the client's window; the seconds to wait if over the rate limit."""
        now = time.monotonic()
        with self._lock:
            window = self._windows.setdefault(client_id, deque())
            while window and window[0] <= now - self.rate_window:
                window.popleft()
            if self.rate_limit is not None and len(window) >= self.rate_limit:
                self._stats["rate_limited"] += 1
                return max(0.0, window[0] + self.rate_window - now)
            window.append(now)
            self._max_in_window = max(self._max_in_window, len(window))
            return None

    def _issue_token(self, client_id: str) -> str:
        now = int(time.time())
        claims = {"iss": "xray-simulator", "sub": client_id, "iat": now, "exp": now + self.token_ttl,
                  "gen": self._generation, "jti": secrets.token_hex(8)}
        return jwt.encode(claims, self._signing_key, algorithm="HS256")

    def _token_client(self, header: str | None) -> str | None:
        if not header or not header.startswith("Bearer "):
            return None
        try:
            claims = jwt.decode(header[7:], self._signing_key, algorithms=["HS256"])
        except jwt.PyJWTError:
            return None
        with self._lock:
            if claims.get("gen") != self._generation or claims.get("sub") not in self.clients:
                return None
        return claims["sub"]

    def _blob_signature(self, att_id: str, expires: int) -> str:
        return hmac.new(self._signing_key, f"{att_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def _http_date_in(seconds: float) -> str:
    return format_datetime(datetime.now(timezone.utc) + timedelta(seconds=seconds), usegmt=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "XraySimulator/1"
    timeout = 60

    def log_message(self, fmt, *args):  # keep test output quiet; the stats endpoint tells what happened
        logger.debug("xray-sim " + fmt, *args)

    @property
    def sim(self) -> XraySimulator:
        return self.server.sim

    def setup(self):
        super().setup()
        with self.sim._lock:
            self.sim._connections.add(self.connection)

    def finish(self):
        with self.sim._lock:
            self.sim._connections.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    # ---- plumbing -------------------------------------------------------------------------------

    def _send(self, status: int, body: bytes | str | dict | list | None, content_type="application/json",
              headers: dict | None = None) -> None:
        if isinstance(body, (dict, list)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode("utf-8")
        body = body or b""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _reset(self) -> None:
        # SO_LINGER with a zero timeout makes close() send a TCP RST instead of a FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _throttle_body(self, wait: float) -> dict:
        when = (datetime.now(timezone.utc) + timedelta(seconds=wait)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return {"error": {"text": THROTTLE_TEXT, "nextValidRequestDate": when}}

    def _too_many(self, wait: float, faults: dict) -> None:
        headers = {}
        retry_after = faults.get("retry_after", "default")
        if retry_after == "default":
            retry_after = max(1, int(wait + 0.999))
        if retry_after is not None:
            if faults.get("retry_after_format") == "date":
                headers["Retry-After"] = _http_date_in(float(retry_after))
            else:
                headers["Retry-After"] = str(retry_after)
        self._send(429, self._throttle_body(wait), headers=headers)

    # ---- routes ---------------------------------------------------------------------------------

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        try:
            if path.startswith("/_sim/"):
                return self._control(method, path)
            match = _ROUTE.match(path)
            if not match:
                self._read_body()
                return self._send(404, {"error": "Not found"})
            region = match.group(1) or "global"
            kind = "attachment" if match.group(3) else match.group(2)
            expected = "GET" if kind == "attachment" else "POST"
            if method != expected:
                self._read_body()
                return self._send(405, {"error": "Method not allowed"})
            self._api(kind, region, match.group(3))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _api(self, kind: str, region: str, att_id: str | None) -> None:
        sim = self.sim
        body = self._read_body()
        sim._count("requests")
        sim._count(kind)
        fault, faults = sim._next_fault(kind)
        if faults.get("latency_ms"):
            time.sleep(float(faults["latency_ms"]) / 1000)
        if fault == "reset":
            return self._reset()
        if fault == "error":
            status = int(faults.get("error_status") or 502)
            return self._send(status, "<html><body>Bad gateway</body></html>", "text/html")
        if fault == "too_many":
            return self._too_many(float(faults.get("retry_after") or 1), faults)
        if fault == "throttle_body":
            return self._send(200, self._throttle_body(1.0))

        if kind == "authenticate":
            return self._authenticate(body, faults, fault)
        client_id = sim._token_client(self.headers.get("Authorization"))
        if client_id is None:
            sim._count("unauthorized")
            return self._send(401, {"error": "Unauthorized: the token is missing, invalid or expired."})
        wanted = sim.clients[client_id]["region"]
        if wanted != "global" and wanted != region:
            sim._count("wrong_region")
            return self._send(401, {"error": f"This tenant's data is not hosted in the {region} region."})
        wait = sim._admit(client_id)
        if wait is not None:
            return self._too_many(wait, faults)
        if kind == "graphql":
            return self._graphql(body, region, fault)
        return self._attachment(att_id, region, faults, fault)

    def _authenticate(self, body: bytes, faults: dict, fault: str | None) -> None:
        sim = self.sim
        try:
            payload = json.loads(body)
            client_id, secret = payload["client_id"], payload["client_secret"]
            if not isinstance(client_id, str) or not isinstance(secret, str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            return self._send(400, "Wrong request syntax.", "text/plain")
        client = sim.clients.get(client_id)
        if client is None or not hmac.compare_digest(client["secret"].encode(), secret.encode()):
            sim._count("auth_rejected")
            return self._send(401, {"error": "Authentication failed. Invalid client credentials!"})
        wait = sim._admit(client_id)
        if wait is not None:
            return self._too_many(wait, faults)
        token = json.dumps(sim._issue_token(client_id))
        if fault == "truncate":
            return self._send(200, token[: len(token) // 2])
        self._send(200, token)

    def _graphql(self, body: bytes, region: str, fault: str | None) -> None:
        sim = self.sim
        try:
            payload = json.loads(body)
            document = payload["query"]
            variables = payload.get("variables") or {}
            if not isinstance(document, str) or not isinstance(variables, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            sim._count("bad_requests")
            return self._send(400, {"errors": [{"message": "Wrong request syntax."}]})
        base = sim.region_url(region)
        outcome = execute(sim.dataset, document, variables, base_url=base, resolver_limit=sim.resolver_limit,
                          operation_name=payload.get("operationName"))
        with sim._lock:
            for name in outcome.root_fields:
                sim._by_query[name] += 1
            if outcome.status != 200 or outcome.body.get("errors"):
                sim._stats["graphql_errors"] += 1
        raw = json.dumps(outcome.body).encode("utf-8")
        if fault == "truncate":
            raw = raw[: len(raw) // 2]
        self._send(outcome.status, raw)

    def _attachment(self, att_id: str, region: str, faults: dict, fault: str | None) -> None:
        sim = self.sim
        meta = sim.dataset.attachments.get(att_id)
        if meta is None or meta["storedInJira"]:
            return self._send(404, {"error": "Attachment not found"})
        if fault == "truncate":  # the connection drops halfway through the announced body
            data = sim.dataset.attachment_bytes(att_id)
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            return self._reset()
        if faults.get("redirect_attachments"):
            expires = int(time.time()) + 300
            sig = sim._blob_signature(att_id, expires)
            target = f"http://localhost:{sim.port}/_sim/blob/{att_id}?expires={expires}&sig={sig}"
            return self._send(302, b"", "text/plain", headers={"Location": target})
        self._send_attachment(att_id, meta)

    def _send_attachment(self, att_id: str, meta: dict) -> None:
        data = self.sim.dataset.attachment_bytes(att_id)
        self._send(200, data, "application/octet-stream",
                   headers={"Content-Disposition": 'attachment; filename="download"'})

    # ---- control routes -------------------------------------------------------------------------

    def _control(self, method: str, path: str) -> None:
        sim = self.sim
        body = self._read_body()
        if path.startswith("/_sim/blob/") and method == "GET":
            return self._blob(path.rsplit("/", 1)[-1])
        try:
            payload = json.loads(body) if body else {}
        except ValueError:
            return self._send(400, {"error": "invalid JSON"})
        if path == "/_sim/faults":
            if method == "POST":
                try:
                    sim.set_faults(**payload)
                except (TypeError, ValueError) as exc:
                    return self._send(400, {"error": str(exc)})
            return self._send(200, sim.faults)
        if path == "/_sim/stats" and method == "GET":
            return self._send(200, sim.stats())
        if path == "/_sim/stats/reset" and method == "POST":
            sim.reset_stats()
            return self._send(200, sim.stats())
        if path == "/_sim/revoke-tokens" and method == "POST":
            sim.revoke_tokens()
            return self._send(204, b"")
        if path == "/_sim/clients" and method == "POST":
            try:
                sim.add_client(payload["client_id"], payload["client_secret"], payload.get("region", "global"))
            except (KeyError, TypeError):
                return self._send(400, {"error": "client_id and client_secret are required"})
            return self._send(204, b"")
        return self._send(404, {"error": "Not found"})

    def _blob(self, att_id: str) -> None:
        sim = self.sim
        sim._count("blob")
        query = parse_qs(urlsplit(self.path).query)
        if self.headers.get("Authorization"):
            # As signed-URL stores do: a second credential next to the signature is refused.
            sim._count("blob_with_authorization")
            return self._send(400, {"error": "Only one auth mechanism allowed"})
        try:
            expires = int(query["expires"][0])
            signature = query["sig"][0]
        except (KeyError, ValueError, IndexError):
            return self._send(403, {"error": "Signature required"})
        if expires < time.time() or not hmac.compare_digest(signature, sim._blob_signature(att_id, expires)):
            return self._send(403, {"error": "Signature invalid or expired"})
        meta = sim.dataset.attachments.get(att_id)
        if meta is None or meta["storedInJira"]:
            return self._send(404, {"error": "Attachment not found"})
        self._send_attachment(att_id, meta)
