"""Streamed, chunked AES-256-GCM encryption of snapshot files under a tenant's data key. Pure: no Flask, no I/O.

Layout of one encrypted file::

    header  = b"XBE1" | chunk size (u32, big endian) | salt (16 random bytes)
    chunk i = nonce (12 random bytes) | AES-GCM(ciphertext of up to `chunk size` bytes | 16-byte tag)

Each file gets its own key, HKDF-SHA256(data key, salt), so nonces never repeat across files of a tenant.
Every chunk's associated data binds the header, the chunk index, a final-chunk flag and the file's context
(its storage path), so chunks cannot be reordered, dropped, truncated at a chunk boundary, extended, or swapped
between files or snapshots without decryption failing. An empty file is one empty final chunk.
"""
from __future__ import annotations

import hashlib
import io
import os
import struct
from typing import BinaryIO, Iterable, Iterator

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"XBE1"
_HEADER = struct.Struct("!4sI16s")
HEADER_SIZE = _HEADER.size
NONCE_SIZE = 12
TAG_SIZE = 16
CHUNK_SIZE = 1024 * 1024
MIN_CHUNK_SIZE = 16
MAX_CHUNK_SIZE = 16 * 1024 * 1024
_INFO = b"xray-backup/envelope/1"


class EnvelopeError(ValueError):
    """An encrypted file cannot be opened: wrong data key, tampering, truncation, or bound to another path."""

    def __init__(self, context: str, reason: str):
        self.context = context
        super().__init__(f"cannot decrypt {context}: {reason}")


def encrypted_size(plain_size: int, chunk_size: int = CHUNK_SIZE) -> int:
    """The stored size of a file of `plain_size` bytes."""
    chunks = max(1, -(-plain_size // chunk_size))
    return HEADER_SIZE + plain_size + chunks * (NONCE_SIZE + TAG_SIZE)


def _file_key(data_key: bytes, salt: bytes) -> AESGCM:
    if len(data_key) != 32:
        raise ValueError("a data key must be 32 bytes")
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=_INFO).derive(data_key)
    return AESGCM(key)


def _aad(header: bytes, index: int, final: bool, context: str) -> bytes:
    return header + struct.pack("!QB", index, 1 if final else 0) + context.encode("utf-8")


def read_exactly(src: BinaryIO, size: int) -> bytes:
    """Read exactly `size` bytes, fewer only at end of stream (raw streams may return short reads)."""
    parts = []
    remaining = size
    while remaining:
        part = src.read(remaining)
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def encrypt_chunks(src: BinaryIO, data_key: bytes, context: str, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """Yield the encrypted form of `src` piece by piece: the header, then one piece per chunk."""
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise ValueError(f"chunk size must be between {MIN_CHUNK_SIZE} and {MAX_CHUNK_SIZE} bytes")
    salt = os.urandom(16)
    header = _HEADER.pack(MAGIC, chunk_size, salt)
    aead = _file_key(data_key, salt)
    yield header
    index = 0
    current = read_exactly(src, chunk_size)
    while True:
        # Read one chunk ahead: only then is it known whether the current chunk is the last.
        following = read_exactly(src, chunk_size) if len(current) == chunk_size else b""
        final = not following
        nonce = os.urandom(NONCE_SIZE)
        yield nonce + aead.encrypt(nonce, current, _aad(header, index, final, context))
        if final:
            return
        current, index = following, index + 1


def header_chunk_size(header: bytes, context: str) -> int:
    """The chunk size a file's header names; EnvelopeError when it is not a sound header."""
    if len(header) < HEADER_SIZE:
        raise EnvelopeError(context, "the stored file is shorter than its header")
    magic, chunk_size, _ = _HEADER.unpack(header[:HEADER_SIZE])
    if magic != MAGIC:
        raise EnvelopeError(context, "not an encrypted snapshot file")
    if not MIN_CHUNK_SIZE <= chunk_size <= MAX_CHUNK_SIZE:
        raise EnvelopeError(context, "the header names an impossible chunk size")
    return chunk_size


def chunk_offset(index: int, chunk_size: int) -> int:
    """Where encrypted chunk `index` starts in the stored file (chunks have a fixed stored size but the last)."""
    return HEADER_SIZE + index * (NONCE_SIZE + chunk_size + TAG_SIZE)


def decrypt_chunks(src: BinaryIO, data_key: bytes, context: str, *, header: bytes | None = None,
                   first_index: int = 0) -> Iterator[bytes]:
    """Yield the plaintext of an encrypted stream chunk by chunk; raise EnvelopeError on any mismatch.

    Random access: with the file's `header` already read, `src` may start at chunk `first_index`'s offset
    (`chunk_offset`); every chunk is still authenticated with its index and whether it is the last.
    """
    if header is None:
        header = read_exactly(src, HEADER_SIZE)
    chunk_size = header_chunk_size(header, context)
    aead = _file_key(data_key, _HEADER.unpack(header)[2])
    block = NONCE_SIZE + chunk_size + TAG_SIZE
    index = first_index
    current = read_exactly(src, block)
    while True:
        if len(current) < NONCE_SIZE + TAG_SIZE:
            raise EnvelopeError(context, f"chunk {index} is truncated")
        following = read_exactly(src, block) if len(current) == block else b""
        final = not following
        try:
            plain = aead.decrypt(current[:NONCE_SIZE], current[NONCE_SIZE:], _aad(header, index, final, context))
        except InvalidTag:
            raise EnvelopeError(
                context, f"chunk {index} failed authentication (wrong data key, tampered, truncated or moved)"
            ) from None
        yield plain
        if final:
            return
        current, index = following, index + 1


def encrypt_bytes(plaintext: bytes, data_key: bytes, context: str) -> bytes:
    """Encrypt a small value whole (the same format as a file)."""
    return b"".join(encrypt_chunks(io.BytesIO(plaintext), data_key, context))


def decrypt_bytes(sealed: bytes, data_key: bytes, context: str) -> bytes:
    """Decrypt a small value whole."""
    return b"".join(decrypt_chunks(io.BytesIO(sealed), data_key, context))


class IterStream(io.RawIOBase):
    """A read-only file over an iterator of byte strings (for APIs that want `read`)."""

    def __init__(self, pieces: Iterable[bytes]):
        self._pieces = iter(pieces)
        self._buffer = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, target) -> int:
        while not self._buffer:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._buffer = memoryview(piece)
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size


class EncryptingReader(io.RawIOBase):
    """A read-only file yielding the encryption of `src`; counts and hashes plaintext and ciphertext on the way."""

    def __init__(self, src: BinaryIO, data_key: bytes, context: str, chunk_size: int = CHUNK_SIZE):
        self.plain_size = 0
        self.stored_size = 0
        self._plain_hash = hashlib.sha256()
        self._stored_hash = hashlib.sha256()
        self._inner = IterStream(encrypt_chunks(_CountingReader(src, self), data_key, context, chunk_size))

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        """Read `size` bytes, fewer only at the end: uploaders take a short read for the end of the stream."""
        if size is None or size < 0:
            return self.readall()
        buffer = bytearray(size)
        view, filled = memoryview(buffer), 0
        while filled < size:
            got = self.readinto(view[filled:])
            if not got:
                break
            filled += got
        return bytes(buffer[:filled])

    def readinto(self, target) -> int:
        size = self._inner.readinto(target)
        if size:
            self._stored_hash.update(memoryview(target)[:size])
            self.stored_size += size
        return size

    @property
    def plain_sha256(self) -> str:
        return self._plain_hash.hexdigest()

    @property
    def stored_sha256(self) -> str:
        return self._stored_hash.hexdigest()


class _CountingReader:
    def __init__(self, src: BinaryIO, owner: EncryptingReader):
        self._src = src
        self._owner = owner

    def read(self, size: int) -> bytes:
        data = self._src.read(size)
        self._owner.plain_size += len(data)
        self._owner._plain_hash.update(data)
        return data
