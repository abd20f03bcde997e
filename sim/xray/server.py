"""The Xray simulator's HTTP server: authentication, GraphQL, attachments, imports, rate limit and faults.

Routes are served by ``sim.xray.handler`` (Xray's API, also under ``/us``, ``/eu``, ``/au``) and
``sim.xray.control`` (the ``/_sim/...`` routes other processes use to switch faults, read counters,
move the clock and drive changes). Request kinds, as counted in ``stats()`` and targeted by faults:
``authenticate``, ``graphql`` (queries and mutations), ``attachment``, ``import_test_bulk``,
``import_test_bulk_status``, ``import_execution``. Every kind but ``authenticate``'s refusals counts
against the rate limit, a mutation exactly like a query.

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
- ``fault_targets``: request kinds the every-Nth faults count and hit (default graphql, attachment and
  the three import kinds; add ``authenticate`` to hit that too).
- ``fail_mutation``: ``{"name": "createTestSet", "times": 1, "status": 503}`` (or a list of them): a
  GraphQL request sending that mutation answers ``status`` (an HTML error page; with 200, a GraphQL error)
  without changing anything, ``times`` times (absent: every time).
- ``reject_credentials``: ``true`` revokes every issued token at once and makes ``authenticate`` answer
  401 (as for a wrong secret) until the faults are cleared: credentials rejected mid-run.
- ``fail_import_jobs``: ``true`` or a count: the next bulk import jobs end ``failed``, importing nothing.

"Every Nth" counts the targeted requests since the faults were last set.

Other controls (methods, and routes in ``sim.xray.control``): ``set_clock(skew_seconds=...)`` and
``clock()`` (``/_sim/clock``): ``lastModified`` stamps are real UTC time plus the skew;
``change(op, **args)`` and the methods it names (``add``, ``edit``, ``edit_run``, ``edit_run_step``,
``add_evidence``, ``delete``, ``link``, ``unlink``; see ``sim.xray.admin``; ``/_sim/change``);
``snapshot()`` (a deep copy of the ground truth; ``/_sim/snapshot`` as JSON, ``/_sim/query`` to run a
document on it); ``imports.delay`` (seconds a bulk import job takes, default ``import_delay`` = 0.2;
``/_sim/imports``); ``stats()``: requests per kind, ``mutations`` (total sent) and ``by_mutation``
(per mutation name, counted when received, whatever answered), ``by_query``, ``fault_*`` counts,
``rate_limited``, ``max_in_window``.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import socket
import threading
import time
from collections import Counter, deque
from http.server import ThreadingHTTPServer

import jwt

from .admin import AdminMixin
from .bulk_import import BulkImports
from .dataset import Dataset
from .graphql_api import RESOLVER_LIMIT
from .handler import THROTTLE_TEXT, XrayHandler  # noqa: F401 - THROTTLE_TEXT is part of this module's API

logger = logging.getLogger(__name__)

DEFAULT_CLIENT_ID = "5F7C2B9E1A4D4E8B9C0D1E2F3A4B5C6D"
DEFAULT_CLIENT_SECRET = "a3f1c9e7b5d3f1a9c7e5b3d1f9a7c5e3b1d9f7a5c3e1b9d7f5a3c1e9b7d5f3a1"
REGIONS = ("us", "eu", "au")
FAULT_KEYS = {
    "latency_ms", "error_every", "error_status", "reset_every", "truncate_every", "throttle_body_every",
    "too_many_every", "revoke_every", "retry_after", "retry_after_format", "redirect_attachments",
    "fault_targets", "fail_mutation", "reject_credentials", "fail_import_jobs",
}
DEFAULT_TARGETS = ("graphql", "attachment", "import_test_bulk", "import_test_bulk_status", "import_execution")
DEFAULT_JIRA_URL = "https://xray-sim.atlassian.net"


class XraySimulator(AdminMixin):
    """A running Xray Cloud stand-in over a generated ``Dataset`` (see ``sim.xray.dataset``)."""

    def __init__(self, dataset: Dataset | None = None, *, scale: int = 1, seed: int = 7,
                 clients: dict[str, str] | None = None, rate_limit: int | None = None,
                 rate_window: float = 300.0, token_ttl: int = 86400, resolver_limit: int | None = RESOLVER_LIMIT,
                 host: str = "127.0.0.1", port: int = 0, import_delay: float = 0.2,
                 jira_url: str = DEFAULT_JIRA_URL):
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
        self._by_mutation = Counter()
        self._mutation_faults: list[dict] = []
        self._max_in_window = 0
        self.jira_url = jira_url
        self.imports = BulkImports(self.dataset, delay=import_delay, jira_url=jira_url)
        self._connections: set[socket.socket] = set()
        self._server = ThreadingHTTPServer((host, port), XrayHandler)
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
        # A short poll interval lets stop() return at once instead of after up to half a second.
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="xray-sim", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop open keep-alive connections, so nothing answers any more."""
        self.imports.stop()
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
        mutation_faults = _mutation_faults(faults.get("fail_mutation"))
        with self._lock:
            self._faults = {k: v for k, v in faults.items() if v is not None or k == "retry_after"}
            self._fault_counter = 0
            self._mutation_faults = mutation_faults
            if faults.get("reject_credentials"):  # the key is gone: tokens issued for it stop working too
                self._generation += 1

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
        """Requests by kind, faults injected, 429s, per root query and per mutation, peak per window."""
        with self._lock:
            out = dict(self._stats)
            out["by_query"] = dict(self._by_query)
            out["by_mutation"] = dict(self._by_mutation)
            out.setdefault("mutations", 0)
            out["max_in_window"] = self._max_in_window
            return out

    def reset_stats(self) -> None:
        with self._lock:
            self._stats.clear()
            self._by_query.clear()
            self._by_mutation.clear()
            self._max_in_window = 0
            self._windows.clear()

    # ---- used by the handler threads (sim.xray.handler) -----------------------------------------

    def track(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)

    def record_query(self, root_fields: tuple[str, ...], *, failed: bool) -> None:
        with self._lock:
            for name in root_fields:
                self._by_query[name] += 1
            if failed:
                self._stats["graphql_errors"] += 1

    def record_mutations(self, names: tuple[str, ...]) -> None:
        with self._lock:
            for name in names:
                self._by_mutation[name] += 1
            self._stats["mutations"] += len(names)

    def mutation_fault(self, names: tuple[str, ...]) -> dict | None:
        """The ``fail_mutation`` spec hitting one of these mutations (its use counted), or None."""
        with self._lock:
            for spec in self._mutation_faults:
                if spec["name"] in names and (spec["times"] is None or spec["times"] > 0):
                    if spec["times"] is not None:
                        spec["times"] -= 1
                    self._stats["fault_mutation"] += 1
                    return dict(spec)
            return None

    def fail_import_job(self) -> bool:
        """Whether the bulk import job being submitted is to fail (``fail_import_jobs``)."""
        with self._lock:
            left = self._faults.get("fail_import_jobs")
            if not left:
                return False
            if left is not True:
                self._faults["fail_import_jobs"] = int(left) - 1
            self._stats["fault_import_job"] += 1
            return True

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self._stats[key] += n

    def next_fault(self, kind: str) -> tuple[str | None, dict]:
        with self._lock:
            faults = dict(self._faults)
            targets = faults.get("fault_targets") or DEFAULT_TARGETS
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

    def admit(self, client_id: str) -> float | None:
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

    def issue_token(self, client_id: str) -> str:
        now = int(time.time())
        claims = {"iss": "xray-simulator", "sub": client_id, "iat": now, "exp": now + self.token_ttl,
                  "gen": self._generation, "jti": secrets.token_hex(8)}
        return jwt.encode(claims, self._signing_key, algorithm="HS256")

    def token_client(self, header: str | None) -> str | None:
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

    def blob_signature(self, att_id: str, expires: int) -> str:
        return hmac.new(self._signing_key, f"{att_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def _mutation_faults(value) -> list[dict]:
    """``fail_mutation`` as a list of ``{"name", "times" (None: every time), "status"}``."""
    if value is None:
        return []
    specs = value if isinstance(value, list) else [value]
    out = []
    for spec in specs:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise ValueError('fail_mutation takes {"name", "times"?, "status"?} or a list of them')
        times = spec.get("times")
        out.append({"name": spec["name"], "times": None if times is None else int(times),
                    "status": int(spec.get("status") or 503)})
    return out
