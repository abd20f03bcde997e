"""The one Xray Cloud client: authentication with a cached token, GraphQL, downloads, retries, pacing.

Every request goes through ``_attempts``: the tenant's pacer first (so the client does not cause
429s itself), then one HTTP attempt, then a verdict — done, retry after a delay, re-authenticate once,
or fail with a typed error. Retries are bounded by ``max_attempts`` per call and by a total retry
budget in seconds (pacer waits do not count), so a permanently failing Xray gives up in minutes.
"""
from __future__ import annotations

import hashlib
import itertools
import json
import logging
import random
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Callable
from urllib.parse import urljoin

import requests

from ..urls import UrlPolicy
from .downloads import STRICT_DOWNLOADS, DownloadHops
from .errors import (XrayAuthError, XrayDownloadRefused, XrayNotFound, XrayQueryError, XrayUnavailable,
                     XrayUncertain)
from .pacer import Pacer
from .responses import error_messages, origin, parse_wait, take, throttle_body, token_lifetime
from .tally import requests_by_outcome

logger = logging.getLogger(__name__)

DEFAULT_RATE_LIMIT = 300
RETRYABLE_STATUSES = {500, 502, 503, 504}
REJECTED_MESSAGE = "Xray rejected the Client ID or secret, or the Xray licence is not valid."
MAX_REDIRECTS = 5
CHUNK = 64 * 1024
THROTTLE_SNIFF_BYTES = 16 * 1024
MIN_THROTTLE_WAIT = 1.0       # even "Retry-After: 0" waits a second: hammering a throttled tenant helps nobody
MAX_THROTTLES_PER_CALL = 20


@dataclass
class ClientStats:
    requests: int = 0            # HTTP attempts sent (every retry and authentication included)
    retries: int = 0             # attempts repeated after a failure
    rate_limit_waits: int = 0    # times the client waited for the rate limit (its pacer or Xray's 429)
    throttled: int = 0           # 429s and throttling bodies Xray answered
    waited_seconds: float = 0.0  # seconds slept for pacing, throttling and backoff
    reauthentications: int = 0   # tokens fetched again after a 401 or before expiry
    downloaded_bytes: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


class _Retry(Exception):
    """One attempt failed in a way worth repeating."""

    def __init__(self, reason: str, *, status: int | None = None, wait: float | None = None,
                 throttled: bool = False):
        self.reason, self.status, self.wait, self.throttled = reason, status, wait, throttled
        super().__init__(reason)


class _Reauthenticate(Exception):
    """The token was refused: fetch a new one and try again (once per call)."""


class XrayClient:
    """Talks to one Xray Cloud tenant with one API key; see the module docstring for the policy."""

    def __init__(self, base_url: str, client_id: str, client_secret: str, *, pacer: Pacer | None = None,
                 timeout: tuple[float, float] = (5, 60), max_attempts: int = 6, sleep=time.sleep,
                 clock=time.monotonic, rng: random.Random | None = None,
                 on_event: Callable[[str, dict], None] | None = None, session: requests.Session | None = None,
                 retry_budget: float = 360.0, backoff_base: float = 1.0, backoff_cap: float = 30.0,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 download_policy: UrlPolicy = STRICT_DOWNLOADS):
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self._secret = client_secret
        self.pacer = pacer or Pacer(DEFAULT_RATE_LIMIT, clock=clock, sleep=sleep)
        self.timeout, self.max_attempts = timeout, max(1, max_attempts)
        self.retry_budget, self.backoff_base, self.backoff_cap = retry_budget, backoff_base, backoff_cap
        self._sleep, self._clock, self._wall = sleep, clock, wall_clock
        self._rng = rng or random.Random()
        self._on_event = on_event
        self.session = session or requests.Session()
        self._hops = DownloadHops(self.base_url, download_policy)
        self._token: str | None = None
        self._token_refresh_at = 0.0
        self.stats = ClientStats()

    def __repr__(self) -> str:  # never the secret or the token
        return f"XrayClient({self.base_url!r}, client_id={self.client_id!r})"

    def close(self) -> None:
        self.session.close()
        self._hops.close()

    def __enter__(self) -> "XrayClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- public calls ---------------------------------------------------------------------------

    def authenticate(self) -> str:
        """Fetch a new token (normally implicit); raise XrayAuthError if Xray rejects the key."""

        def attempt():
            response = self.session.post(f"{self.base_url}/api/v2/authenticate", timeout=self.timeout,
                                         json={"client_id": self.client_id, "client_secret": self._secret})
            if response.status_code in (401, 403):
                raise XrayAuthError(REJECTED_MESSAGE)
            if response.status_code == 400:
                raise XrayAuthError("Xray refused the authentication request as malformed; check the Client ID.")
            self._check_transient(response)
            try:
                token = response.json()
            except ValueError:
                raise _Retry("a truncated or non-JSON authentication answer") from None
            if throttle_body(token):
                raise self._throttled(response, throttle_body(token))
            if not isinstance(token, str) or token.count(".") != 2:
                raise _Retry("an authentication answer without a token")
            return token

        token = self._attempts("authenticate", attempt, authenticated=False)
        lifetime = token_lifetime(token)
        self._token = token
        self._token_refresh_at = self._clock() + max(0.0, lifetime - min(3600.0, lifetime * 0.1))
        return token

    def graphql(self, name: str, query: str, variables: dict | None = None, *, write: bool = False) -> dict:
        """Run a named GraphQL document and return its ``data``; raise a typed XrayError on failure.

        ``write``: the document creates something, so an attempt that may have been applied is not repeated
        (``XrayUncertain``); throttling and refused tokens, which Xray answers before doing anything, still are.
        """
        body = {"query": query, "variables": variables or {}}

        def attempt():
            response = self.session.post(f"{self.base_url}/api/v2/graphql", json=body, timeout=self.timeout,
                                         headers=self._auth_header())
            self._check_admitted(response, "Xray refused access to this data (HTTP 403): ")
            if response.status_code == 400:
                raise XrayQueryError(name, error_messages(response), status=400)
            payload = self._payload(response)
            if response.status_code != 200:
                raise XrayQueryError(name, error_messages(response), status=response.status_code)
            if not isinstance(payload, dict):
                raise _Retry("an answer that is not a JSON object")
            if payload.get("errors"):
                problems = [str(e.get("message") if isinstance(e, dict) else e) for e in payload["errors"]]
                raise XrayQueryError(name, problems, status=200)
            if payload.get("data") is None:
                raise XrayQueryError(name, ["the answer holds no data"], status=200)
            return payload["data"]

        return self._attempts(name, attempt, write=write)

    def send(self, name: str, method: str, path: str, *, body=None, params: dict | None = None,
             write: bool = False):
        """Call one of Xray's REST endpoints (the imports and their job status); return its JSON answer.

        ``write`` as for ``graphql``. A refusal (HTTP 400) is an XrayQueryError with Xray's text, a 404 XrayNotFound.
        """
        url = f"{self.base_url}/{path.lstrip('/')}"

        def attempt():
            response = self.session.request(method, url, json=body, params=params, timeout=self.timeout,
                                            headers=self._auth_header())
            self._check_admitted(response, "Xray refused access (HTTP 403): ")
            if response.status_code == 404:
                raise XrayNotFound(name, error_messages(response), status=404)
            payload = self._payload(response)
            if response.status_code != 200:
                raise XrayQueryError(name, error_messages(response), status=response.status_code)
            return payload

        return self._attempts(name, attempt, write=write)

    def download(self, url: str, fh) -> tuple[int, str]:
        """Stream an attachment into ``fh``; return (size, sha256 hex). Retries rewind ``fh``."""
        if not self._hops.is_xray(url):
            raise XrayDownloadRefused("The attachment link points outside Xray (or is not a URL the app accepts); "
                                      "the API token is not sent there.")
        try:
            start = fh.tell()
        except (AttributeError, OSError):
            start = None

        def attempt():
            if start is not None:
                fh.seek(start)
                fh.truncate()
            elif attempts_made[0]:
                raise XrayUnavailable("A download failed and its destination cannot be rewound.")
            attempts_made[0] += 1
            return self._download_once(url, fh)

        attempts_made = [0]
        size, digest = self._attempts("download", attempt)
        self.stats.downloaded_bytes += size
        return size, digest

    # ---- one download attempt, redirects followed by hand ---------------------------------------

    def _download_once(self, url: str, fh) -> tuple[int, str]:
        current, send_token = url, True
        for _ in range(MAX_REDIRECTS + 1):
            response = self._hops.open(current, self.session, self._auth_header if send_token else dict,
                                       self.timeout)
            with response:
                if response.is_redirect:
                    target = urljoin(current, response.headers["Location"])
                    # The Bearer token is for Xray: a signed URL on another origin gets no credentials.
                    send_token = send_token and origin(target) is not None and origin(target) == origin(current)
                    current = target
                    continue
                if response.status_code == 401 and send_token:
                    raise _Reauthenticate()
                if response.status_code == 404:
                    raise XrayNotFound("download", ["the attachment is not there (HTTP 404)"], status=404)
                self._check_transient(response)
                if response.status_code != 200:
                    raise XrayQueryError("download", [f"HTTP {response.status_code}"], status=response.status_code)
                digest, size = hashlib.sha256(), 0
                chunks = response.iter_content(CHUNK)
                if response.headers.get("Content-Type", "").startswith("application/json"):
                    # Xray may answer a throttled download with its throttling body and a 200.
                    head = b"".join(take(chunks, THROTTLE_SNIFF_BYTES))
                    if len(head) < THROTTLE_SNIFF_BYTES:
                        try:
                            throttle = throttle_body(json.loads(head))
                        except ValueError:
                            throttle = None
                        if throttle:
                            raise self._throttled(response, throttle)
                    chunks = itertools.chain([head], chunks)
                for chunk in chunks:
                    fh.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
                expected = response.headers.get("Content-Length")
                if expected is not None and expected.isdigit() and int(expected) != size:
                    raise _Retry("a download shorter than announced")
                return size, digest.hexdigest()
        raise XrayQueryError("download", [f"more than {MAX_REDIRECTS} redirects"])

    # ---- the retry loop -------------------------------------------------------------------------

    def _auth_header(self) -> dict:
        if self._token is None or self._clock() >= self._token_refresh_at:
            if self._token is not None:
                self.stats.reauthentications += 1
                self._event("reauthenticate", {"reason": "token about to expire"})
            self.authenticate()
        return {"Authorization": f"Bearer {self._token}"}

    def _check_admitted(self, response, forbidden: str) -> None:
        """The checks every API answer passes first: a refused token (401: authenticate again), 403, outages."""
        if response.status_code == 401:
            raise _Reauthenticate()
        if response.status_code == 403:
            raise XrayAuthError(forbidden + REJECTED_MESSAGE)
        self._check_transient(response)

    def _payload(self, response):
        """The answer's JSON; a truncated answer is retried, throttling announced in a 200 body waited out."""
        try:
            payload = response.json()
        except ValueError:
            raise _Retry("a truncated or non-JSON answer", status=response.status_code) from None
        throttle = throttle_body(payload)
        if throttle:
            raise self._throttled(response, throttle)
        return payload

    def _check_transient(self, response) -> None:
        if response.status_code == 429:
            try:
                throttle = throttle_body(response.json())
            except ValueError:
                throttle = None
            raise self._throttled(response, throttle)
        if response.status_code in RETRYABLE_STATUSES:
            raise _Retry(f"HTTP {response.status_code}", status=response.status_code)

    def _throttled(self, response, throttle: dict | None) -> _Retry:
        now = self._wall()
        wait = parse_wait(response.headers.get("Retry-After"), now)
        if wait is None and throttle:
            wait = parse_wait(str(throttle.get("nextValidRequestDate") or ""), now)
        if wait is not None and wait <= 0:
            wait = None  # "now" or a date already past (clocks differ): back off instead of hammering
        return _Retry("rate limited by Xray", status=response.status_code, wait=wait, throttled=True)

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def _attempts(self, name: str, attempt: Callable, *, authenticated: bool = True, write: bool = False):
        attempts, failures, throttles, spent, reauthenticated = 0, 0, 0, 0.0, False
        while True:
            with self._paced() as waited:  # the slot counts until the answer is back
                if waited > 0:
                    self.stats.rate_limit_waits += 1
                    self.stats.waited_seconds += waited
                    self._event("rate_limit_wait", {"seconds": waited, "source": "pacer", "query": name})
                attempts += 1
                self.stats.requests += 1
                started = self._clock()
                outcome = "error"
                try:
                    answer = attempt()
                    outcome = "ok"
                    return answer
                except _Reauthenticate:
                    if reauthenticated or not authenticated:
                        raise XrayAuthError(REJECTED_MESSAGE + " (the API token was refused; check the region too)") \
                            from None
                    reauthenticated = True
                    self._token = None
                    self.stats.reauthentications += 1
                    self._event("reauthenticate", {"reason": "token refused", "query": name})
                    continue
                except requests.exceptions.RequestException as exc:
                    failure = _Retry(f"a network failure ({type(exc).__name__})")
                except _Retry as exc:
                    failure = exc
                    outcome = "throttled" if exc.throttled else "error"
                finally:
                    requests_by_outcome.add(outcome)
            spent += self._clock() - started
            if write and not failure.throttled:
                logger.warning("xray %s: the write may or may not have been applied (%s)", name, failure.reason)
                raise XrayUncertain(f"Xray did not confirm {name} ({failure.reason}); it may or may not have "
                                    "been applied.", status=failure.status, attempts=attempts)
            if failure.throttled:
                self.stats.throttled += 1
                throttles += 1
                delay = failure.wait if failure.wait is not None else self._backoff(throttles)
                delay = max(MIN_THROTTLE_WAIT, delay) + self._rng.uniform(0, 0.25)
            else:
                failures += 1
                delay = self._backoff(failures)
            if (failures >= self.max_attempts or throttles > MAX_THROTTLES_PER_CALL
                    or spent + delay > self.retry_budget):
                logger.warning("xray %s gave up after %d attempts: %s", name, attempts, failure.reason)
                raise XrayUnavailable(
                    f"Xray kept failing for {name} ({failure.reason}) after {attempts} attempts.",
                    status=failure.status, attempts=attempts)
            logger.info("xray %s attempt %d failed (%s); retrying in %.1fs", name, attempts, failure.reason, delay)
            if failure.throttled:
                self.stats.rate_limit_waits += 1
                self._event("rate_limit_wait", {"seconds": delay, "source": "xray", "query": name})
            else:
                self._event("retry", {"query": name, "attempt": attempts, "reason": failure.reason, "delay": delay})
            self.stats.retries += 1
            self.stats.waited_seconds += delay
            spent += delay
            self._sleep(delay)

    def _paced(self):
        slot = getattr(self.pacer, "slot", None)
        return slot() if slot is not None else _acquired(self.pacer)

    def _event(self, kind: str, info: dict) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(kind, info)
        except Exception:  # a progress display must not break a backup
            logger.exception("xray on_event callback failed")


@contextmanager
def _acquired(pacer):
    """For a pacer that only offers acquire()."""
    yield pacer.acquire()
