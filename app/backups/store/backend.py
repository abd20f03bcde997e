"""The blob backend interface every storage location implements, and the storage errors.

A backend is deliberately dumb (restic's model): it stores, reads, lists and deletes opaque blobs by key. It
knows nothing of snapshots, tenants or encryption — `repository.SnapshotStore` owns those, once, above it.
Keys are relative POSIX paths of safe characters (the repository builds them).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO, Iterable, Iterator


class StorageError(Exception):
    """Snapshot storage failed; the message says what an operator can do about it."""


class StorageUnavailable(StorageError):
    """The storage could not be reached or written (endpoint down, permissions, disk error)."""


class SnapshotNotFound(StorageError):
    """No complete snapshot exists under this key."""


class SnapshotIntegrityError(StorageError):
    """A stored snapshot failed authentication: tampered, truncated, moved, or its data key was shredded."""


class BlobNotFound(StorageError):
    """No blob is stored under the key (the repository turns this into what it means for a snapshot)."""


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    modified: datetime  # aware, UTC


class BlobBackend(ABC):
    """Where blobs live. Implementations: `file.FileBackend`, `s3.S3Backend`."""

    url: str  # for messages: never holds credentials

    @abstractmethod
    def put(self, key: str, stream: BinaryIO) -> None:
        """Store a blob from a stream, atomically: readers see all of it or nothing."""

    @abstractmethod
    def put_if_absent(self, key: str, data: bytes) -> bool:
        """Store a small blob only if none exists under the key; False when one does (the reveal of a publish)."""

    @abstractmethod
    def open(self, key: str, offset: int = 0) -> BinaryIO:
        """A readable stream of a blob from `offset` on (`read(n)`, `close()`; empty past the end); BlobNotFound
        when absent."""

    def read(self, key: str) -> bytes | None:
        """A small blob whole, or None when absent."""
        try:
            stream = self.open(key)
        except BlobNotFound:
            return None
        try:
            return stream.read()
        finally:
            stream.close()

    @abstractmethod
    def size(self, key: str) -> int | None:
        """The stored size of a blob, or None when absent."""

    @abstractmethod
    def list(self, prefix: str) -> Iterator[BlobInfo]:
        """Every blob whose key starts with `prefix` (a folder-like prefix ending in '/')."""

    @abstractmethod
    def children(self, prefix: str) -> list[str]:
        """The immediate 'folder' names under a prefix ending in '/' (cheap: no recursive listing)."""

    @abstractmethod
    def delete(self, keys: Iterable[str]) -> None:
        """Remove blobs; keys that are already gone are not an error."""

    @abstractmethod
    def abort_stale(self, older_than: datetime) -> None:
        """Remove the backend's own leftovers of interrupted writes started before `older_than`."""

    @abstractmethod
    def probe(self) -> None:
        """A cheap check that the storage is reachable and usable (readiness); StorageUnavailable otherwise."""
