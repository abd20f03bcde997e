"""Reading a stored snapshot (restore, the explorer, "What changed"): only through `SnapshotStore`, streamed,
never whole.

Records come one at a time from the gzip JSON-lines files (decrypted and checked by the store as they are read);
attachment bytes are read one file at a time.
"""
from __future__ import annotations

import gzip
import io
import json
from typing import Iterator

from .format import ATTACHMENTS_INDEX, FORMAT, MANIFEST, attachment_path, entity_file


class SnapshotUnreadable(Exception):
    """The snapshot is not an `xray-backup/1` snapshot this code can read; the message says why."""


class _ChunkReader(io.RawIOBase):
    """A file-like view of an iterator of byte chunks (what the store yields)."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._pending:
            try:
                self._pending = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n


class SnapshotSource:
    """One stored snapshot, opened with the tenant's data key."""

    def __init__(self, store, snapshot_key: str, data_key: bytes):
        self.store, self.snapshot_key, self._data_key = store, snapshot_key, data_key
        self._manifest: dict | None = None

    def _chunks(self, path: str) -> Iterator[bytes]:
        return self.store.read_file(self.snapshot_key, self._data_key, path)

    def manifest(self) -> dict:
        """The snapshot's manifest (read once)."""
        if self._manifest is None:
            try:
                manifest = json.loads(b"".join(self._chunks(MANIFEST)).decode("utf-8"))
            except ValueError:
                raise SnapshotUnreadable(f"{MANIFEST} is not valid JSON") from None
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
                raise SnapshotUnreadable(f"{MANIFEST} does not describe an {FORMAT} snapshot")
            self._manifest = manifest
        return self._manifest

    def projects(self) -> list[dict]:
        """The snapshot's projects, `{"id", "key", "name"}`."""
        return [p for p in self.manifest().get("projects") or [] if isinstance(p, dict)]

    def records(self, entity: str) -> Iterator[dict]:
        """Every record of an entity, in the snapshot's order, one at a time."""
        return self._lines(entity_file(entity))

    def attachment_index(self) -> Iterator[dict]:
        """The attachments index: `{"id", "filename", "size", "sha256", "owner"}` per stored file."""
        return self._lines(ATTACHMENTS_INDEX)

    def attachment(self, attachment_id: str) -> bytes:
        """The bytes of one stored attachment."""
        return b"".join(self._chunks(attachment_path(attachment_id)))

    def _lines(self, path: str) -> Iterator[dict]:
        reader = io.BufferedReader(_ChunkReader(self._chunks(path)), buffer_size=256 * 1024)
        with gzip.GzipFile(fileobj=reader, mode="rb") as lines:
            for line in lines:
                if line.strip():
                    yield json.loads(line)
