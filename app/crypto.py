"""AES-256-GCM encryption with a key ring: the first key encrypts, every key decrypts. No Flask, no DB."""
from __future__ import annotations

import base64
import hashlib
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_KID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_PREFIX = "v1"


class KeyRingError(ValueError):
    """ENCRYPTION_KEYS is malformed."""


class DecryptionError(Exception):
    """A ciphertext cannot be decrypted: unknown key, tampering, or bound to other associated data."""

    def __init__(self, reason: str):
        super().__init__(f"cannot decrypt: {reason}")


def generate_key() -> str:
    """Return a new random 32-byte key, base64url-encoded without padding."""
    return base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class KeyRing:
    keys: tuple[tuple[str, bytes], ...]

    @classmethod
    def parse(cls, raw: str) -> "KeyRing":
        """Parse `kid:base64url-key,kid:key`; raise KeyRingError naming the bad entry's position."""
        entries = [e.strip() for e in raw.split(",") if e.strip()]
        if not entries:
            raise KeyRingError("needs at least one kid:key entry")
        keys: list[tuple[str, bytes]] = []
        for position, entry in enumerate(entries, start=1):
            kid, sep, encoded = entry.partition(":")
            if not sep or not _KID.match(kid):
                raise KeyRingError(f"entry {position} must look like kid:base64url-key (kid: letters, digits, - or _)")
            try:
                key = _b64decode(encoded.strip())
            except (ValueError, base64.binascii.Error):
                raise KeyRingError(f"entry {position} ({kid}) is not valid base64url") from None
            if len(key) != 32:
                raise KeyRingError(f"entry {position} ({kid}) must decode to 32 bytes, got {len(key)}")
            if any(kid == k for k, _ in keys):
                raise KeyRingError(f"entry {position} repeats key id {kid}")
            keys.append((kid, key))
        return cls(tuple(keys))

    @property
    def primary_kid(self) -> str:
        return self.keys[0][0]

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(kid for kid, _ in self.keys)

    def _key(self, kid: str) -> bytes:
        for k, key in self.keys:
            if k == kid:
                return key
        raise DecryptionError(f"key {kid!r} is not in ENCRYPTION_KEYS")

    def encrypt(self, plaintext: bytes, aad: bytes) -> str:
        """Encrypt under the primary key; the result names the key id used."""
        kid, key = self.keys[0]
        nonce = os.urandom(12)
        sealed = AESGCM(key).encrypt(nonce, plaintext, aad)
        return f"{_PREFIX}:{kid}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, aad: bytes) -> bytes:
        """Decrypt a value produced by encrypt with the same associated data."""
        try:
            prefix, kid, body = token.split(":", 2)
        except ValueError:
            raise DecryptionError("not an encrypted value") from None
        if prefix != _PREFIX:
            raise DecryptionError("unknown format")
        raw = _b64decode(body)
        try:
            return AESGCM(self._key(kid)).decrypt(raw[:12], raw[12:], aad)
        except InvalidTag:
            raise DecryptionError("authentication failed (wrong key or wrong owner)") from None

    def needs_rotation(self, token: str) -> bool:
        """Tell whether a value is encrypted under another key than the primary one."""
        return token.split(":", 2)[1:2] != [self.primary_kid]



def tenant_hash(client_key: str) -> str:
    """The opaque name of a tenant where clientKeys must not appear (storage paths, shared pacing tables)."""
    return hashlib.sha256(client_key.encode("utf-8")).hexdigest()[:32]
