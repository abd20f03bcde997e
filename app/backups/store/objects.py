"""A tenant's shared objects: their names, and reading byte ranges out of packs. No Flask; storage through a backend.

    tenants/<tenant hash>/objects/blobs/<name>   one attachment, whole; name = HMAC-SHA256 of its plaintext under a
                                                 key derived from the tenant's data key (equal content, one object;
                                                 someone reading storage learns nothing of the content from it)
    tenants/<tenant hash>/objects/packs/<name>   gzip members (records) of one publish, concatenated; random name

Both are encrypted like every snapshot file (envelope.py), bound to their own storage key, so an object cannot be
swapped for another. A snapshot refers to them by `blobs/<name>` or `packs/<name>` in its marker's index.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections import OrderedDict
from typing import BinaryIO, Callable, Iterator

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .backend import StorageUnavailable
from .envelope import HEADER_SIZE, EnvelopeError, chunk_offset, decrypt_chunks, header_chunk_size, read_exactly

OBJECTS = "objects"
BLOBS = "blobs"
PACKS = "packs"
_REF = re.compile(r"^(blobs|packs)/[0-9a-f]{32,64}$")
_NAMES_INFO = b"xray-backup/object-names/1"
MAX_OPEN_PACKS = 32  # pack streams kept open while reading one snapshot (older ones are closed, reopened if needed)
# A publish reuses records from at most this many of the parent's packs, so no snapshot reads from more than
# MAX_OPEN_PACKS (its own new pack included): records left in the parent's smaller packs are written anew.
REUSED_PACKS = MAX_OPEN_PACKS - 1


def objects_prefix(tenant: str) -> str:
    """Where a tenant's shared objects live (tenant: its hash)."""
    return f"tenants/{tenant}/{OBJECTS}/"


def object_key(tenant: str, ref: str) -> str:
    """The storage key of an object reference (`blobs/…` or `packs/…`); also the object's encryption context."""
    if not is_ref(ref):
        raise ValueError(f"{ref!r} is not an object reference")
    return objects_prefix(tenant) + ref


def is_ref(ref) -> bool:
    return isinstance(ref, str) and bool(_REF.match(ref))


def name_key(data_key: bytes) -> bytes:
    """The key object names are computed with: derived from the data key, so shredding it shreds names too."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_NAMES_INFO).derive(data_key)


def content_hasher(data_key: bytes):
    """An HMAC whose hex digest names a blob of this content."""
    return hmac.new(name_key(data_key), digestmod=hashlib.sha256)


def blob_ref(hasher) -> str:
    return f"{BLOBS}/{hasher.hexdigest()}"


def new_pack_ref() -> str:
    return f"{PACKS}/{secrets.token_hex(16)}"


class PackReader:
    """Reads ranges of a tenant's packs, keeping one forward stream per pack.

    A range behind a pack's stream, or far ahead of it, reopens the pack at the chunk holding the range (chunks have
    a fixed stored size), so no range costs more than one chunk of decryption besides its own bytes; a stream that
    drops (an idle connection) is reopened where it was, once. Every chunk is authenticated as it is decrypted
    (EnvelopeError otherwise); a missing pack raises what `open_blob` raises for it (the backend's BlobNotFound).
    """

    def __init__(self, tenant: str, data_key: bytes, open_blob: Callable[[str, int], BinaryIO]):
        self._tenant, self._data_key, self._open = tenant, data_key, open_blob
        self._cursors: OrderedDict[str, _PackCursor] = OrderedDict()

    def read(self, ref: str, offset: int, length: int) -> Iterator[bytes]:
        cursor = self._cursors.pop(ref, None)
        if cursor is None:
            cursor = _PackCursor(object_key(self._tenant, ref), self._data_key, self._open)
        self._cursors[ref] = cursor  # most recently used last
        while len(self._cursors) > MAX_OPEN_PACKS:
            _, oldest = self._cursors.popitem(last=False)
            oldest.close()
        return cursor.read(offset, length)

    def close(self) -> None:
        for cursor in self._cursors.values():
            cursor.close()
        self._cursors.clear()


class _PackCursor:
    """One pack's decrypted stream and how far it has been read."""

    SKIP_CHUNKS = 4  # further ahead than this many chunks, reopening beats decrypting through

    def __init__(self, key: str, data_key: bytes, open_blob: Callable[[str, int], BinaryIO]):
        self.key, self._data_key, self._open = key, data_key, open_blob
        self._header: bytes | None = None
        self._chunk_size = 0
        self._stream: BinaryIO | None = None
        self._plain: Iterator[bytes] | None = None
        self._buffer = memoryview(b"")  # plaintext starting at `position`
        self.position = 0

    def _restart(self, offset: int) -> None:
        """Open the pack at the chunk holding `offset` (plaintext)."""
        self.close()
        if self._header is None:
            stream = self._open(self.key, 0)
            try:
                self._header = read_exactly(stream, HEADER_SIZE)
            finally:
                stream.close()
            self._chunk_size = header_chunk_size(self._header, self.key)
        index = offset // self._chunk_size
        self._stream = self._open(self.key, chunk_offset(index, self._chunk_size))
        self._plain = decrypt_chunks(self._stream, self._data_key, self.key, header=self._header, first_index=index)
        self.position = index * self._chunk_size

    def _next_chunk(self) -> bytes | None:
        try:
            return next(self._plain, None)
        except StorageUnavailable:  # a dropped connection: reopen where it was, once
            position = self.position
            self._restart(position)
            self._skip_to(position)
            return next(self._plain, None) if not self._buffer else bytes(self._buffer)

    def _skip_to(self, offset: int) -> None:
        while self.position < offset:
            if not self._buffer:
                chunk = next(self._plain, None)
                if chunk is None:
                    raise EnvelopeError(self.key, "the pack ends before a range that points into it")
                self._buffer = memoryview(chunk)
            skip = min(offset - self.position, len(self._buffer))
            self._buffer, self.position = self._buffer[skip:], self.position + skip

    def read(self, offset: int, length: int) -> Iterator[bytes]:
        far = self._chunk_size and offset - self.position > self.SKIP_CHUNKS * self._chunk_size
        if self._plain is None or offset < self.position or far:
            self._restart(offset)
        self._skip_to(offset)
        remaining = length
        while remaining:
            if not self._buffer:
                chunk = self._next_chunk()
                if chunk is None:
                    raise EnvelopeError(self.key, "the pack ends before a range that points into it")
                self._buffer = memoryview(chunk)
            take = min(remaining, len(self._buffer))
            piece = bytes(self._buffer[:take])
            # State moves before the piece leaves: a reader that stops here leaves the cursor consistent.
            self._buffer, self.position, remaining = self._buffer[take:], self.position + take, remaining - take
            yield piece

    def close(self) -> None:
        if self._plain is not None:
            self._plain.close()
        if self._stream is not None:
            self._stream.close()
        self._stream, self._plain, self._buffer, self.position = None, None, memoryview(b""), 0
