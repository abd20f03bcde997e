"""Seal and open per-tenant secrets with the key ring; the tenant and field are bound as associated data."""
from __future__ import annotations

from flask import current_app

from .crypto import KeyRing


def _aad(client_key: str, field: str) -> bytes:
    # A ciphertext copied to another tenant's row, or to another column, fails to decrypt.
    return f"{client_key}\x1f{field}".encode()


def keyring() -> KeyRing:
    return current_app.extensions["xray_backup_config"].keyring


def seal(client_key: str, field: str, plaintext: str | bytes, ring: KeyRing | None = None) -> str:
    """Encrypt a tenant's secret value for storage."""
    data = plaintext.encode() if isinstance(plaintext, str) else plaintext
    return (ring or keyring()).encrypt(data, _aad(client_key, field))


def open_bytes(client_key: str, field: str, sealed: str, ring: KeyRing | None = None) -> bytes:
    """Decrypt a value sealed for this tenant and field."""
    return (ring or keyring()).decrypt(sealed, _aad(client_key, field))


def open_text(client_key: str, field: str, sealed: str, ring: KeyRing | None = None) -> str:
    return open_bytes(client_key, field, sealed, ring).decode()


def sealed_columns():
    """Every encrypted column as (model, attribute, field name); key rotation walks this list."""
    from .models import Tenant, TenantDataKey, XrayCredential

    return [
        (Tenant, "shared_secret_enc", "connect_shared_secret"),
        (XrayCredential, "client_secret_enc", "xray_client_secret"),
        (TenantDataKey, "wrapped_key", "snapshot_data_key"),
    ]
