"""Public keys for signed installs: fetched by validated kid with a short timeout, cached per kid.

Anyone can POST /installed with a made-up kid, so failures are remembered for a short while (the negative cache)
and only a few fetches run at once: a flood of unknown kids costs the key server a handful of requests.
"""
from __future__ import annotations

import logging
import re
import threading
import time
from typing import Callable

import requests
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from .jwt import InvalidKeyId, KeyUnavailable

logger = logging.getLogger(__name__)

# Letters, digits, '-', '_' and '/' separated segments: no '..', no '%', no '?', '#', ':' or '@'.
_KID = re.compile(r"^[A-Za-z0-9_\-]+(?:/[A-Za-z0-9_\-]+)*$")
KID_MAX_LENGTH = 128
FETCH_TIMEOUT = (2.0, 3.0)  # connect, read: at most 5 s in all for a server that stops answering
MAX_KEY_BYTES = 16 * 1024
NEGATIVE_TTL = 60.0        # seconds a kid the key server did not serve stays refused without a new fetch
MAX_CONCURRENT_FETCHES = 4
MAX_NEGATIVE_ENTRIES = 10_000

def validate_kid(kid: object) -> str:
    """Return the kid if it is safe to put in a URL, else raise InvalidKeyId."""
    if not isinstance(kid, str) or not kid or len(kid) > KID_MAX_LENGTH or not _KID.match(kid):
        raise InvalidKeyId()
    return kid


class InstallKeyFetcher:
    """Callable kid → PEM for `verify_install`; keys never change for a kid, so each fetcher caches them.

    The app holds one fetcher (app/services.py), so the cache lives as long as the process.
    """

    def __init__(self, keys_url: str, *, timeout: tuple[float, float] = FETCH_TIMEOUT,
                 session: requests.Session | None = None, negative_ttl: float = NEGATIVE_TTL,
                 max_concurrent: int = MAX_CONCURRENT_FETCHES, clock: Callable[[], float] = time.monotonic):
        self.keys_url = keys_url.rstrip("/")
        self.timeout = timeout
        self._session = session or requests
        self._cache: dict[str, str] = {}
        self._refused: dict[str, float] = {}  # kid -> monotonic time until which it is refused without a fetch
        self._negative_ttl, self._clock = negative_ttl, clock
        self._slots = threading.BoundedSemaphore(max_concurrent)
        self._lock = threading.Lock()

    def __call__(self, kid: str) -> str:
        kid = validate_kid(kid)
        with self._lock:
            cached = self._cache.get(kid)
            refused_until = self._refused.get(kid)
        if cached is not None:
            return cached
        if refused_until is not None and refused_until > self._clock():
            raise KeyUnavailable()
        # Never queue behind a flood: when every slot is busy, fail closed now (Atlassian retries installs).
        if not self._slots.acquire(blocking=False):
            logger.warning("install key %s: too many key fetches in flight; refused without fetching", kid)
            raise KeyUnavailable()
        try:
            pem = self._fetch(kid)
        except KeyUnavailable:
            with self._lock:
                if len(self._refused) >= MAX_NEGATIVE_ENTRIES:
                    self._refused.clear()
                self._refused[kid] = self._clock() + self._negative_ttl
            raise
        finally:
            self._slots.release()
        with self._lock:
            self._cache[kid] = pem
            self._refused.pop(kid, None)
        return pem

    def _fetch(self, kid: str) -> str:
        url = f"{self.keys_url}/{kid}"
        deadline = time.monotonic() + sum(self.timeout)
        try:
            response = self._session.get(url, timeout=self.timeout, stream=True, allow_redirects=False)
            try:
                if response.status_code != 200:
                    logger.warning("install key %s: key server answered HTTP %s", kid, response.status_code)
                    raise KeyUnavailable()
                body = b""
                while True:
                    # read1 returns what has arrived: a server trickling bytes cannot outlast the budget.
                    chunk = response.raw.read1(4096)
                    if not chunk:
                        break
                    body += chunk
                    if len(body) > MAX_KEY_BYTES or time.monotonic() > deadline:
                        break
                if time.monotonic() > deadline:
                    logger.warning("install key %s: key server too slow", kid)
                    raise KeyUnavailable()
            finally:
                response.close()
        except requests.RequestException as exc:
            logger.warning("install key %s: key server unreachable (%s)", kid, type(exc).__name__)
            raise KeyUnavailable() from None
        except OSError as exc:  # read timeouts surface from the raw stream
            logger.warning("install key %s: reading the key failed (%s)", kid, type(exc).__name__)
            raise KeyUnavailable() from None
        if len(body) > MAX_KEY_BYTES:
            raise KeyUnavailable("The public key for this JWT is implausibly large.")
        try:
            key = load_pem_public_key(body)
        except (ValueError, TypeError):
            raise KeyUnavailable("The key server did not return a PEM public key.") from None
        if not isinstance(key, RSAPublicKey):
            raise KeyUnavailable("The key server did not return an RSA public key.")
        return body.decode("ascii")
