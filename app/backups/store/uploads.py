"""Uploading one file of a publish where it belongs: the snapshot's own file, a shared blob (only when not stored
yet), or the publish's pack; each checked to be stored whole. Storage through a backend; the repository decides.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from .backend import BlobBackend, StorageError, StorageUnavailable
from .envelope import EncryptingReader, encrypted_size
from .marker import StoredFile
from .objects import blob_ref, content_hasher, object_key
from .packing import PackPlan

_READ = 1024 * 1024


def store_own(backend: BlobBackend, key: str, context: str, rel: str, source: Path, data_key: bytes) -> StoredFile:
    """Encrypt and upload a file of the snapshot's own (the repository verifies them together afterwards)."""
    with source.open("rb") as src:
        reader = EncryptingReader(src, data_key, context)
        backend.put(key, reader)
    return StoredFile(rel, reader.plain_size, reader.plain_sha256, reader.stored_size)


def store_blob(backend: BlobBackend, tenant: str, rel: str, source: Path, data_key: bytes) -> tuple[StoredFile, int]:
    """An attachment as a blob named by its content, uploaded only when no whole blob of it is stored yet.

    Returns its index entry and the bytes added to storage (0 when it was there already).
    """
    named, digest, size = content_hasher(data_key), hashlib.sha256(), 0
    with source.open("rb") as src:
        while chunk := src.read(_READ):
            named.update(chunk)
            digest.update(chunk)
            size += len(chunk)
    ref = blob_ref(named)
    blob, expected = object_key(tenant, ref), encrypted_size(size)
    entry = StoredFile(rel, size, digest.hexdigest(), expected, object=ref)
    if backend.size(blob) == expected:
        return entry, 0
    with source.open("rb") as src:
        reader = EncryptingReader(src, data_key, blob)  # bound to its own key: it cannot pass for another blob
        backend.put(blob, reader)
    if reader.plain_sha256 != entry.sha256:
        raise StorageError(f"{rel} changed while it was being stored; nothing was published")
    check_stored(backend, blob, reader.stored_size, rel)
    return entry, reader.stored_size


def store_pack(backend: BlobBackend, tenant: str, pack: PackPlan, data_key: bytes) -> int:
    """Upload the publish's new records as its pack (when there are any); return the bytes added."""
    if not pack.size:
        return 0
    key = object_key(tenant, pack.ref)
    with pack.open() as src:
        reader = EncryptingReader(src, data_key, key)
        backend.put(key, reader)
    if reader.plain_size != pack.size:
        raise StorageError("a local snapshot file changed while it was being stored; nothing was published")
    check_stored(backend, key, reader.stored_size, "the new records")
    return reader.stored_size


def check_stored(backend: BlobBackend, key: str, sent: int, what: str) -> None:
    kept = backend.size(key)
    if kept != sent:
        raise StorageUnavailable(f"snapshot storage {backend.url} did not keep {what} as sent "
                                 f"({kept} bytes stored, {sent} sent); nothing was published.")
