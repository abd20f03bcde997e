"""Forge's signing keys: the JWKS at FORGE_JWKS_URL, fetched within a budget, cached, refetched on an unknown kid.

The app holds one `ForgeKeySet` (app/services.py), the `key_for` of `verify_invocation`. Keys are read only from
the configured URL, never from a token. An unknown `kid` triggers one refetch (Forge rotates keys), at most
`max_refetches` a minute so a stream of made-up kids cannot turn every call into a fetch; a failed fetch keeps
the keys already known.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from typing import Callable

import requests
import urllib3
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import RSAAlgorithm
from jwt.exceptions import InvalidKeyError

from .forge import UnknownKeyId
from .jwt import KeyUnavailable

logger = logging.getLogger(__name__)

# connect, read (per wait): with the deadline below a fetch costs at most ~3.5 s of Forge's 5 s event budget.
FETCH_TIMEOUT = (1.0, 1.0)
FETCH_DEADLINE_SECONDS = 2.5
MAX_JWKS_BYTES = 64 * 1024
MAX_AGE_SECONDS = 600.0  # a key Forge withdrew stops verifying within this long
MAX_REFETCHES_PER_MINUTE = 10
STALE_RETRY_SECONDS = 30.0  # after a failed refresh, known keys serve this long before the next try


def parse_jwks(body: bytes) -> dict[str, RSAPublicKey]:
    """The RS256 signing keys of a JWKS document by kid; KeyUnavailable when it is not one."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise KeyUnavailable("Forge's key set is not JSON.") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise KeyUnavailable("Forge's key set has no keys.")
    keys: dict[str, RSAPublicKey] = {}
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA" or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", "RS256") != "RS256":
            continue
        try:
            # Only the public numbers: a document that also carried private ones must not yield a private key.
            key = RSAAlgorithm.from_jwk({"kty": "RSA", "n": entry.get("n"), "e": entry.get("e")})
        except (InvalidKeyError, ValueError, TypeError, KeyError):
            continue  # one unusable entry does not spoil the others
        if isinstance(key, RSAPublicKey):
            keys[entry["kid"]] = key
    return keys


class ForgeKeySet:
    """Callable kid → RSA public key over one JWKS URL, cached for the life of the process."""

    def __init__(self, jwks_url: str, *, timeout: tuple[float, float] = FETCH_TIMEOUT,
                 deadline: float = FETCH_DEADLINE_SECONDS, max_age: float = MAX_AGE_SECONDS,
                 max_refetches: int = MAX_REFETCHES_PER_MINUTE, session: requests.Session | None = None,
                 clock: Callable[[], float] = time.monotonic):
        self.jwks_url = jwks_url
        self.timeout = timeout
        self.deadline = deadline
        self.max_age = max_age
        self.max_refetches = max_refetches
        self._session = session or requests
        self._clock = clock
        self._keys: dict[str, RSAPublicKey] = {}
        self._fetched_at: float | None = None
        self._generation = 0
        self._refetches: deque[float] = deque()
        self._paused_since: float | None = None
        self._lock = threading.Lock()
        self._fetch_lock = threading.Lock()  # one fetch at a time; callers waiting on it reuse its result

    def __call__(self, kid: str) -> RSAPublicKey:
        with self._lock:
            key = self._keys.get(kid)
            fresh = self._fetched_at is not None and self._clock() - self._fetched_at < self.max_age
            generation = self._generation
            never_fetched = self._fetched_at is None
        if key is not None and fresh:
            return key
        if key is None and not never_fetched and not self._may_refetch():
            raise UnknownKeyId()
        self._refresh(generation, keep_on_failure=key is not None)
        with self._lock:
            key = self._keys.get(kid)
        if key is None:
            raise UnknownKeyId()
        return key

    def _may_refetch(self) -> bool:
        now = self._clock()
        with self._lock:
            while self._refetches and now - self._refetches[0] >= 60.0:
                self._refetches.popleft()
            if len(self._refetches) >= self.max_refetches:
                if self._paused_since is None or now - self._paused_since >= 60.0:
                    self._paused_since = now  # once a minute, not once per refused call
                    logger.warning("Forge JWKS: unknown key ids keep arriving; refetches paused for up to a minute")
                return False
            self._refetches.append(now)
            return True

    def _refresh(self, seen_generation: int, *, keep_on_failure: bool) -> None:
        with self._fetch_lock:
            with self._lock:
                if self._generation != seen_generation:
                    return  # another caller fetched while this one waited
            try:
                keys = parse_jwks(self._fetch())
            except KeyUnavailable:
                if not keep_on_failure:
                    raise
                # A stale key beats refusing every call while the CDN hiccups; try again in a while, not on
                # every call (each would wait out the fetch budget), and let the callers queued here go.
                with self._lock:
                    self._fetched_at = self._clock() - self.max_age + STALE_RETRY_SECONDS
                    self._generation += 1
                return
            with self._lock:
                self._keys = keys
                self._fetched_at = self._clock()
                self._generation += 1

    def _fetch(self) -> bytes:
        started = time.monotonic()
        try:
            # identity: the size cap then counts the bytes that arrive (a CDN may still compress; decoded below).
            response = self._session.get(self.jwks_url, timeout=self.timeout, stream=True, allow_redirects=False,
                                         headers={"Accept-Encoding": "identity"})
            try:
                if response.status_code != 200:
                    logger.warning("Forge JWKS: %s answered HTTP %s", self.jwks_url, response.status_code)
                    raise KeyUnavailable("Forge's key set could not be fetched.")
                body = b""
                while True:
                    # read1 returns what has arrived: a server trickling bytes cannot outlast the deadline.
                    chunk = response.raw.read1(8192, decode_content=True)
                    if not chunk:
                        break
                    body += chunk
                    if len(body) > MAX_JWKS_BYTES:
                        raise KeyUnavailable("Forge's key set is implausibly large.")
                    if time.monotonic() - started > self.deadline:
                        logger.warning("Forge JWKS: %s too slow", self.jwks_url)
                        raise KeyUnavailable("Forge's key set could not be fetched in time.")
            finally:
                response.close()
        except requests.RequestException as exc:
            logger.warning("Forge JWKS: %s unreachable (%s)", self.jwks_url, type(exc).__name__)
            raise KeyUnavailable("Forge's key set could not be fetched.") from None
        except (OSError, urllib3.exceptions.HTTPError) as exc:  # read timeouts surface from the raw stream
            logger.warning("Forge JWKS: reading %s failed (%s)", self.jwks_url, type(exc).__name__)
            raise KeyUnavailable("Forge's key set could not be fetched.") from None
        return body
