"""Snapshot storage: one small interface over `file://` and `s3://`, encrypted at rest, published atomically.

Layout (both backends): `tenants/<sha256(clientKey)[:32]>/<runId>/…` plus a `COMPLETE` marker. Readers and listings
ignore a snapshot without its marker. The marker is one plaintext JSON line (what cleanup needs without a key)
followed by the encrypted index of the snapshot's files (path, size, sha256); the index is authenticated with the
tenant's data key, so a file removed, added, replaced or moved in storage makes reading fail.

The file backend writes into a hidden temporary folder, marker included, and `os.rename`s it into place: the
rename is what makes it visible. The S3 backend uploads under `<runId>/<attempt>/…`, checks what was stored,
then writes the `<runId>/COMPLETE` marker naming that attempt last.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO, Callable, Iterator
from urllib.parse import unquote, urlsplit

from .envelope import EnvelopeError, decrypt_bytes, decrypt_chunks, encrypt_bytes

MARKER = "COMPLETE"
STORE_FORMAT = "xray-backup-store/1"
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SNAPSHOT_KEY = re.compile(r"^tenants/([0-9a-f]{32})/([A-Za-z0-9_-]{1,64})$")

_STORES: dict[tuple, "SnapshotStore"] = {}
_STORES_LOCK = threading.Lock()

Progress = Callable[[str, int], None]  # (relative path just stored, its plaintext bytes)


class StorageError(Exception):
    """Snapshot storage failed; the message says what an operator can do about it."""


class StorageUnavailable(StorageError):
    """The storage could not be reached or written (endpoint down, permissions, disk error)."""


class SnapshotNotFound(StorageError):
    """No complete snapshot exists under this key."""


class SnapshotIntegrityError(StorageError):
    """A stored snapshot failed authentication: tampered, truncated, moved, or its data key was shredded."""


def tenant_hash(client_key: str) -> str:
    """The folder name of a tenant: clientKeys never appear in storage paths."""
    return hashlib.sha256(client_key.encode("utf-8")).hexdigest()[:32]


def snapshot_key_for(client_key: str, run_id: str) -> str:
    if not _RUN_ID.match(run_id or ""):
        raise ValueError("a run id may only hold letters, digits, '-' and '_' (at most 64)")
    return f"tenants/{tenant_hash(client_key)}/{run_id}"


def parse_snapshot_key(snapshot_key: str) -> tuple[str, str]:
    """Split a snapshot key into (tenant hash, run id); a malformed key is simply not found."""
    match = _SNAPSHOT_KEY.match(snapshot_key or "")
    if not match:
        raise SnapshotNotFound(f"{snapshot_key!r} is not a snapshot key")
    return match.group(1), match.group(2)


@dataclass(frozen=True)
class StoredFile:
    path: str  # relative, POSIX
    size: int  # plaintext bytes
    sha256: str  # plaintext
    stored: int  # encrypted bytes in storage


def local_files(local_dir: Path) -> list[tuple[str, Path]]:
    """The regular files of a local snapshot folder as (relative POSIX path, path), sorted; no symlinks."""
    local_dir = Path(local_dir)
    if not local_dir.is_dir():
        raise StorageError(f"the local snapshot folder {local_dir} does not exist")
    found = []
    for path in sorted(local_dir.rglob("*")):
        if path.is_symlink():
            raise StorageError(f"the local snapshot folder holds a symbolic link ({path.name}); refusing to follow it")
        if path.is_file():
            rel = path.relative_to(local_dir).as_posix()
            if rel == MARKER:
                raise StorageError(f"a snapshot may not contain a top-level file named {MARKER}")
            found.append((rel, path))
    if not found:
        raise StorageError(f"the local snapshot folder {local_dir} is empty")
    return found


def file_context(snapshot_key: str, rel_path: str) -> str:
    """What each file's chunks are bound to: the snapshot and the file's path in it."""
    return f"{snapshot_key}/{rel_path}"


def build_marker(snapshot_key: str, attempt: str, files: list[StoredFile], data_key: bytes, now: datetime) -> bytes:
    header = {
        "format": STORE_FORMAT,
        "attempt": attempt,
        "createdAt": now.isoformat(),
        "files": len(files),
        "storedBytes": sum(f.stored for f in files),
    }
    index = {"snapshot": snapshot_key, "attempt": attempt, "files": [asdict(f) for f in files]}
    line = json.dumps(header)
    sealed = encrypt_bytes(json.dumps(index).encode(), data_key, _marker_context(snapshot_key, line))
    return line.encode() + b"\n" + sealed


def _marker_context(snapshot_key: str, header_line: str) -> str:
    # The plaintext header is bound too: editing it (say, to point at another attempt) fails authentication.
    return f"{file_context(snapshot_key, MARKER)}\n{header_line}"


def marker_header(raw: bytes) -> dict:
    """The plaintext part of a marker (readable without the data key)."""
    line, _, _ = raw.partition(b"\n")
    try:
        header = json.loads(line)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") != STORE_FORMAT:
        raise SnapshotIntegrityError("the snapshot's COMPLETE marker is unreadable")
    return header


def open_marker(raw: bytes, snapshot_key: str, data_key: bytes) -> tuple[str, list[StoredFile]]:
    """Authenticate a marker and return (attempt, files); raise SnapshotIntegrityError when it does not hold."""
    header = marker_header(raw)
    line, _, sealed = raw.partition(b"\n")
    try:
        index = json.loads(decrypt_bytes(sealed, data_key, _marker_context(snapshot_key, line.decode())))
    except EnvelopeError:
        raise SnapshotIntegrityError(
            f"the snapshot {snapshot_key} cannot be decrypted: its data key was deleted or does not match, "
            "or the stored marker was tampered with"
        ) from None
    if index.get("snapshot") != snapshot_key or index.get("attempt") != header.get("attempt"):
        raise SnapshotIntegrityError(f"the marker of snapshot {snapshot_key} does not belong to it")
    files = [StoredFile(**entry) for entry in index["files"]]
    for entry in files:
        parts = PurePosixPath(entry.path).parts
        if not parts or entry.path.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise SnapshotIntegrityError(f"the marker of snapshot {snapshot_key} names an unsafe path")
    return header["attempt"], files


class SnapshotStore(ABC):
    """Where snapshots live. Implementations: FileSnapshotStore, S3SnapshotStore."""

    url: str  # for messages: never holds credentials

    @abstractmethod
    def publish(self, tenant_key: str, run_id: str, local_dir: Path, data_key: bytes, *,
                progress: Progress | None = None) -> str:
        """Encrypt, store, verify and then atomically reveal a local snapshot folder; return its snapshot key.

        Publishing a run that is already published returns the existing snapshot's key unchanged.
        """

    @abstractmethod
    def exists(self, snapshot_key: str) -> bool:
        """Tell whether a complete snapshot is stored under this key."""

    @abstractmethod
    def delete(self, snapshot_key: str) -> None:
        """Remove a snapshot (a missing one is not an error); it stops being visible first."""

    @abstractmethod
    def list_snapshots(self, tenant_key: str) -> list[str]:
        """The keys of a tenant's complete snapshots, sorted."""

    @abstractmethod
    def delete_tenant(self, tenant_key: str) -> None:
        """Remove everything stored for a tenant."""

    @abstractmethod
    def cleanup_incomplete(self, older_than: datetime) -> int:
        """Remove leftovers of crashed publishers last written before `older_than`; return how many were removed."""

    @abstractmethod
    def size(self, snapshot_key: str) -> int:
        """The bytes a complete snapshot occupies in storage."""

    @abstractmethod
    def _read_marker(self, snapshot_key: str) -> bytes:
        """The raw marker; SnapshotNotFound when absent."""

    @abstractmethod
    def _open_stored(self, snapshot_key: str, attempt: str, rel_path: str) -> BinaryIO:
        """A readable stream of one stored (encrypted) file; SnapshotIntegrityError when it is missing."""

    def iter_files(self, snapshot_key: str, data_key: bytes) -> Iterator[tuple[str, Iterator[bytes]]]:
        """Yield (relative path, decrypted chunks) for every file; consume each file's chunks before the next."""
        parse_snapshot_key(snapshot_key)
        attempt, files = open_marker(self._read_marker(snapshot_key), snapshot_key, data_key)
        for entry in files:
            chunks = self._decrypted(snapshot_key, attempt, entry, data_key)
            try:
                yield entry.path, chunks
            finally:
                chunks.close()

    def _decrypted(self, snapshot_key: str, attempt: str, entry: StoredFile, data_key: bytes) -> Iterator[bytes]:
        stream = self._open_stored(snapshot_key, attempt, entry.path)
        digest, size = hashlib.sha256(), 0
        try:
            for chunk in decrypt_chunks(stream, data_key, file_context(snapshot_key, entry.path)):
                digest.update(chunk)
                size += len(chunk)
                yield chunk
        except EnvelopeError as exc:
            raise SnapshotIntegrityError(f"snapshot {snapshot_key}: {exc}") from None
        finally:
            stream.close()
        if size != entry.size or digest.hexdigest() != entry.sha256:
            raise SnapshotIntegrityError(f"snapshot {snapshot_key}: {entry.path} does not match its index")


def open_store(config) -> SnapshotStore:
    """The store BACKUP_STORAGE_URL names (`file:///abs/path` or `s3://bucket/prefix`)."""
    url = config.backup_storage_url
    parts = urlsplit(url)
    if parts.scheme == "file":
        from .storage_file import FileSnapshotStore

        return FileSnapshotStore(Path(unquote(parts.path)))
    if parts.scheme == "s3":
        from .storage_s3 import S3SnapshotStore

        # boto3 clients are thread-safe but slow to build: one per process and storage location.
        cache_key = (os.getpid(), url, config.s3_endpoint_url)
        with _STORES_LOCK:
            store = _STORES.get(cache_key)
            if store is None:
                store = _STORES[cache_key] = S3SnapshotStore(
                    parts.netloc, parts.path.strip("/"), endpoint_url=config.s3_endpoint_url
                )
        return store
    raise StorageError(f"BACKUP_STORAGE_URL must be file:///path or s3://bucket/prefix, got {parts.scheme}://")


def __getattr__(name: str):
    # The backends import this module; re-export them lazily so `from .storage import S3SnapshotStore` works.
    if name == "FileSnapshotStore":
        from .storage_file import FileSnapshotStore

        return FileSnapshotStore
    if name == "S3SnapshotStore":
        from .storage_s3 import S3SnapshotStore

        return S3SnapshotStore
    raise AttributeError(name)
