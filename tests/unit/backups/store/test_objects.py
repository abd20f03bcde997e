"""The pure parts of shared storage: splitting gzip members, planning recipes, bounding packs, and reading pack
ranges in any order without decrypting a pack from its start each time."""
from __future__ import annotations

import io
import os
import random
import zlib

import pytest

from app.backups.store.backend import StorageUnavailable
from app.backups.store.envelope import EncryptingReader, EnvelopeError
from app.backups.store.members import NotGzip, iter_members, merge_ranges
from app.backups.store.objects import PackReader, object_key
from app.backups.store.packing import PackPlan, index_members, limit_packs, plan_recipe

KEY = bytes(range(32))
TENANT = "0" * 32


def member(data: bytes) -> bytes:
    return zlib.compress(data, 6, 31)


def test_members_are_split_whatever_the_chunking_and_a_broken_stream_is_refused():
    members = [member(os.urandom(n) + b"a" * n * 500) for n in (0, 1, 7, 300, 4000)]
    data = b"".join(members)
    for size in (1, 13, 4096, len(data)):
        assert list(iter_members(data[i:i + size] for i in range(0, len(data), size))) == members
    assert list(iter_members([])) == []
    for broken in (data[:-2], b"not gzip at all", data + b"\x1f"):
        with pytest.raises(NotGzip):
            list(iter_members([broken]))


def test_adjacent_ranges_merge():
    assert merge_ranges([("p", 0, 5), ("p", 5, 3), ("q", 8, 1), ("p", 9, 1), ("p", 10, 2)]) == [
        ["p", 0, 8], ["q", 8, 1], ["p", 9, 3]]


def test_a_recipe_reuses_known_members_and_packs_each_new_one_once(tmp_path):
    one, two, three = member(b"one\n"), member(b"two\n"), member(b"three\n")
    path = tmp_path / "tests.jsonl.gz"
    path.write_bytes(one + two + three + two)
    known = {}
    pack = PackPlan("packs/" + "a" * 32)
    first = plan_recipe(path, known, pack)
    assert first.size == path.stat().st_size and pack.size == len(one + two + three)
    assert first.ranges == [[pack.ref, 0, len(one + two + three)], [pack.ref, len(one), len(two)]]
    # The parent's members, learnt from its recipe, are referenced where they are by the next publish.
    learnt = {}
    index_members(first.ranges, [path.read_bytes()], learnt)
    assert len(learnt) == 3
    path.write_bytes(three + member(b"four\n") + one)
    nxt = PackPlan("packs/" + "b" * 32)
    second = plan_recipe(path, learnt, nxt)
    assert nxt.size == len(member(b"four\n"))
    assert second.ranges == [[pack.ref, len(one + two), len(three)], [nxt.ref, 0, nxt.size], [pack.ref, 0, len(one)]]
    with nxt.open() as src:
        assert src.read() == member(b"four\n")


def test_only_the_heaviest_packs_are_reused():
    known = {b"a": ("packs/1", 0, 50), b"b": ("packs/2", 0, 10), b"c": ("packs/3", 0, 30), b"d": ("packs/3", 30, 30)}
    assert limit_packs(known, 3) == known
    assert limit_packs(known, 2) == {b"a": ("packs/1", 0, 50), b"c": ("packs/3", 0, 30), b"d": ("packs/3", 30, 30)}


class Opens:
    """Pack blobs in memory, counting opens and the stored bytes read."""

    def __init__(self):
        self.blobs, self.opens, self.read_bytes, self.drop_after = {}, 0, 0, None

    def add(self, ref: str, plain: bytes, chunk_size: int = 64) -> None:
        key = object_key(TENANT, ref)
        self.blobs[key] = EncryptingReader(io.BytesIO(plain), KEY, key, chunk_size=chunk_size).read()

    def open(self, key: str, offset: int = 0):
        self.opens += 1
        return _Counting(self, self.blobs[key][offset:])


class _Counting(io.BytesIO):
    def __init__(self, owner, data):
        super().__init__(data)
        self.owner = owner

    def read(self, size=-1):
        if self.owner.drop_after is not None and self.owner.read_bytes >= self.owner.drop_after:
            self.owner.drop_after = None
            raise StorageUnavailable("the connection dropped")
        data = super().read(size)
        self.owner.read_bytes += len(data)
        return data


def test_pack_ranges_read_in_any_order_cost_at_most_a_chunk_besides_themselves():
    plain = os.urandom(64 * 200)
    store = Opens()
    store.add("packs/" + "c" * 32, plain)
    reader = PackReader(TENANT, KEY, store.open)
    rng = random.Random(3)
    for _ in range(100):
        offset = rng.randrange(len(plain) - 40)
        length = rng.randrange(1, 40)
        before = store.read_bytes
        assert b"".join(reader.read("packs/" + "c" * 32, offset, length)) == plain[offset:offset + length]
        assert store.read_bytes - before <= 6 * (64 + 28) + 40  # never the pack from its start
    sequential_opens = store.opens
    for offset in range(0, len(plain), 50):  # forward: one stream
        assert b"".join(reader.read("packs/" + "c" * 32, offset, 10)) == plain[offset:offset + 10]
    assert store.opens == sequential_opens + 1
    reader.close()


def test_a_dropped_stream_is_reopened_where_it_was_and_a_short_pack_is_an_integrity_error():
    plain = os.urandom(64 * 50)
    store = Opens()
    store.add("packs/" + "d" * 32, plain)
    reader = PackReader(TENANT, KEY, store.open)
    store.drop_after = 1000
    assert b"".join(reader.read("packs/" + "d" * 32, 10, 3000)) == plain[10:3010]
    key = object_key(TENANT, "packs/" + "d" * 32)
    store.blobs[key] = store.blobs[key][: len(store.blobs[key]) // 2]
    fresh = PackReader(TENANT, KEY, store.open)
    with pytest.raises(EnvelopeError):
        b"".join(fresh.read("packs/" + "d" * 32, 3000, 100))
