"""Reading one stored file back, wherever its bytes are — the snapshot's own file, a shared blob, or ranges of packs
— and checking it against the marker's index (size and SHA-256 of the plaintext). Storage through a backend.
"""
from __future__ import annotations

import hashlib
from typing import Iterator

from .backend import BlobBackend, BlobNotFound, SnapshotIntegrityError
from .envelope import EnvelopeError, decrypt_chunks
from .marker import StoredFile, file_context
from .objects import PackReader, object_key

LEGACY_ATTEMPT = ".tmp-"  # the file store's layout before attempts: files directly in `<runId>/`


def stored_path(snapshot_key: str, attempt: str, rel: str) -> str:
    """Where a snapshot's own file is stored."""
    if attempt.startswith(LEGACY_ATTEMPT):
        return f"{snapshot_key}/{rel}"
    return f"{snapshot_key}/{attempt}/{rel}"


def open_file(backend: BlobBackend, snapshot_key: str, attempt: str, entry: StoredFile, data_key: bytes,
              packs: PackReader | None = None) -> Iterator[bytes]:
    """A file's decrypted chunks; SnapshotIntegrityError, by its last chunk, unless they are exactly the indexed file.

    `packs`: a reader shared by the files read in a row (each pack then streams forward once); else one of its own.
    """
    tenant = snapshot_key.split("/")[1]
    if entry.ranges is not None:
        own = PackReader(tenant, data_key, backend.open) if packs is None else None
        return _checked(snapshot_key, entry, _ranges(entry, packs or own), own)
    if entry.object is not None:
        blob = object_key(tenant, entry.object)
        return _checked(snapshot_key, entry, _envelope(backend, blob, blob, data_key))
    return _checked(snapshot_key, entry, _envelope(backend, stored_path(snapshot_key, attempt, entry.path),
                                                   file_context(snapshot_key, entry.path), data_key))


def _envelope(backend: BlobBackend, blob: str, context: str, data_key: bytes) -> Iterator[bytes]:
    stream = backend.open(blob)
    try:
        yield from decrypt_chunks(stream, data_key, context)
    finally:
        stream.close()


def _ranges(entry: StoredFile, packs: PackReader) -> Iterator[bytes]:
    for ref, offset, length in entry.ranges:
        yield from packs.read(ref, offset, length)


def _checked(snapshot_key: str, entry: StoredFile, chunks: Iterator[bytes],
             owned: PackReader | None = None) -> Iterator[bytes]:
    """Pass chunks through, failing with SnapshotIntegrityError unless they are exactly the indexed file."""
    digest, size = hashlib.sha256(), 0
    try:
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            yield chunk
    except BlobNotFound:
        raise SnapshotIntegrityError(f"snapshot {snapshot_key}: {entry.path} is missing from storage") from None
    except EnvelopeError as exc:
        raise SnapshotIntegrityError(f"snapshot {snapshot_key}: {exc}") from None
    finally:
        chunks.close()
        if owned is not None:
            owned.close()
    if size != entry.size or digest.hexdigest() != entry.sha256:
        raise SnapshotIntegrityError(f"snapshot {snapshot_key}: {entry.path} does not match its index")
