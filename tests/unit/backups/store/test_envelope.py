"""The chunked AES-256-GCM envelope: round trips, and every way of cutting, reordering or moving chunks fails."""
from __future__ import annotations

import io
import os

import pytest

from app.backups.store.envelope import (
    HEADER_SIZE,
    NONCE_SIZE,
    TAG_SIZE,
    EncryptingReader,
    EnvelopeError,
    decrypt_bytes,
    decrypt_chunks,
    encrypt_chunks,
    encrypted_size,
)

CHUNK = 64  # small chunks make multi-chunk files cheap to test
BLOCK = NONCE_SIZE + CHUNK + TAG_SIZE
KEY = bytes(range(32))
CONTEXT = "tenants/0123/run1/tests.jsonl.gz"


def seal(data: bytes, context: str = CONTEXT, key: bytes = KEY) -> bytes:
    return b"".join(encrypt_chunks(io.BytesIO(data), key, context, chunk_size=CHUNK))


def open_(sealed: bytes, context: str = CONTEXT, key: bytes = KEY) -> bytes:
    return b"".join(decrypt_chunks(io.BytesIO(sealed), key, context))


def chunks_of(sealed: bytes) -> tuple[bytes, list[bytes]]:
    body = sealed[HEADER_SIZE:]
    return sealed[:HEADER_SIZE], [body[i:i + BLOCK] for i in range(0, len(body), BLOCK)]


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 5])
def test_any_size_round_trips_and_has_the_predicted_stored_size(size):
    data = os.urandom(size)
    sealed = seal(data)
    assert open_(sealed) == data
    assert len(sealed) == encrypted_size(size, CHUNK)


def test_the_same_plaintext_encrypts_differently_each_time_and_never_in_clear():
    data = b"secret test step: log in as admin " * 20
    one, two = seal(data), seal(data)
    assert one != two
    assert b"secret test step" not in one


def test_a_flipped_bit_anywhere_fails():
    sealed = seal(os.urandom(2 * CHUNK + 7))
    for position in range(len(sealed)):
        tampered = bytearray(sealed)
        tampered[position] ^= 0x80
        with pytest.raises(EnvelopeError):
            open_(bytes(tampered))


def test_reordered_chunks_fail():
    header, chunks = chunks_of(seal(os.urandom(3 * CHUNK)))
    with pytest.raises(EnvelopeError, match="chunk 0"):
        open_(header + chunks[1] + chunks[0] + chunks[2])


@pytest.mark.parametrize("keep", [1, 2])
def test_truncation_at_a_chunk_boundary_fails(keep):
    header, chunks = chunks_of(seal(os.urandom(3 * CHUNK)))
    with pytest.raises(EnvelopeError):
        open_(header + b"".join(chunks[:keep]))


def test_a_dropped_middle_chunk_fails():
    header, chunks = chunks_of(seal(os.urandom(3 * CHUNK)))
    with pytest.raises(EnvelopeError):
        open_(header + chunks[0] + chunks[2])


def test_appended_data_fails():
    sealed = seal(os.urandom(2 * CHUNK))
    _, chunks = chunks_of(sealed)
    with pytest.raises(EnvelopeError):
        open_(sealed + chunks[-1])
    with pytest.raises(EnvelopeError):
        open_(sealed + b"x")


def test_a_file_cut_inside_its_header_or_emptied_fails():
    sealed = seal(b"data")
    for cut in (0, 3, HEADER_SIZE, HEADER_SIZE + NONCE_SIZE):
        with pytest.raises(EnvelopeError):
            open_(sealed[:cut])


def test_chunks_cannot_move_between_files_even_under_the_same_key():
    one = seal(os.urandom(2 * CHUNK), context="tenants/0123/run1/tests.jsonl.gz")
    two = seal(os.urandom(2 * CHUNK), context="tenants/0123/run1/test_runs.jsonl.gz")
    header_two, chunks_two = chunks_of(two)
    _, chunks_one = chunks_of(one)
    with pytest.raises(EnvelopeError):
        open_(header_two + chunks_one[0] + chunks_two[1], context="tenants/0123/run1/test_runs.jsonl.gz")


def test_a_whole_file_cannot_be_replayed_under_another_path_or_snapshot():
    sealed = seal(b"tests of run 1")
    with pytest.raises(EnvelopeError, match="tenants/0123/run2/tests.jsonl.gz"):
        open_(sealed, context="tenants/0123/run2/tests.jsonl.gz")


def test_another_key_fails():
    with pytest.raises(EnvelopeError, match="wrong data key"):
        open_(seal(b"data"), key=os.urandom(32))


def test_a_forged_header_with_an_absurd_chunk_size_is_refused_before_reading():
    sealed = bytearray(seal(b"data"))
    sealed[4:8] = (2**31).to_bytes(4, "big")
    with pytest.raises(EnvelopeError, match="chunk size"):
        open_(bytes(sealed))


def test_decryption_streams_one_chunk_at_a_time():
    data = os.urandom(10 * CHUNK)
    pieces = list(decrypt_chunks(io.BytesIO(seal(data)), KEY, CONTEXT))
    assert len(pieces) == 10 and all(len(p) == CHUNK for p in pieces)


def test_the_encrypting_reader_gives_full_reads_and_counts_both_sides():
    data = os.urandom(5 * CHUNK + 3)
    reader = EncryptingReader(io.BytesIO(data), KEY, CONTEXT, chunk_size=CHUNK)
    first = reader.read(100)
    assert len(first) == 100  # uploaders treat a short read as the end of the stream
    sealed = first + b"".join(iter(lambda: reader.read(7), b""))
    assert open_(sealed) == data
    assert reader.plain_size == len(data) and reader.stored_size == len(sealed)
    import hashlib

    assert reader.plain_sha256 == hashlib.sha256(data).hexdigest()
    assert reader.stored_sha256 == hashlib.sha256(sealed).hexdigest()


def test_small_values_round_trip_whole():
    assert decrypt_bytes(b"".join(encrypt_chunks(io.BytesIO(b"{}"), KEY, "m")), KEY, "m") == b"{}"


def test_a_data_key_must_be_32_bytes():
    with pytest.raises(ValueError):
        seal(b"x", key=b"short")
