"""Seal and open per-tenant secrets with the key ring; the tenant and field are bound as associated data."""
from __future__ import annotations

from .crypto import KeyRing


def _aad(client_key: str, field: str) -> bytes:
    # A ciphertext copied to another tenant's row, or to another column, fails to decrypt.
    return f"{client_key}\x1f{field}".encode()


class Sealer:
    """The key ring bound to tenant-and-field associated data: what the app uses to store secrets."""

    def __init__(self, ring: KeyRing):
        self.ring = ring

    def seal(self, client_key: str, field: str, plaintext: str | bytes) -> str:
        """Encrypt a tenant's secret value for storage under the primary key."""
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        return self.ring.encrypt(data, _aad(client_key, field))

    def open_bytes(self, client_key: str, field: str, sealed: str) -> bytes:
        """Decrypt a value sealed for this tenant and field (app.crypto.DecryptionError otherwise)."""
        return self.ring.decrypt(sealed, _aad(client_key, field))

    def open_text(self, client_key: str, field: str, sealed: str) -> str:
        return self.open_bytes(client_key, field, sealed).decode()

    def needs_rotation(self, sealed: str) -> bool:
        return self.ring.needs_rotation(sealed)
