"""Shared, content-addressed storage per tenant: records and attachments stored once across snapshots, every file
still read back exactly and checked, deletion and sweep that never break a kept snapshot. File store and S3 alike."""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import os
import random
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from app.backups.snapshot.writer import SnapshotWriter, record_member
from app.backups.store import sweep as sweeping
from app.backups.store.backend import SnapshotIntegrityError, SnapshotNotFound, StorageError
from app.backups.store.envelope import EncryptingReader, encrypt_bytes, encrypted_size
from app.backups.store.marker import LEGACY_FORMAT, MARKER, StoredFile, _marker_context, file_context, open_marker
from app.backups.store.repository import snapshot_key_for
from app.crypto import tenant_hash
from tests.support.storage import file_store

CLIENT_KEY = "jira:7e0b3c1e-client-key-of-acme"
OTHER_CLIENT_KEY = "jira:0c54d2aa-client-key-of-globex"
TENANT = tenant_hash(CLIENT_KEY)
OBJECTS = f"tenants/{TENANT}/objects/"


def later() -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=5)


@pytest.fixture(params=["file", "s3"])
def store(request, tmp_path):
    if request.param == "file":
        return file_store(tmp_path / "store")
    return request.getfixturevalue("s3_store_factory")()


@pytest.fixture
def data_key() -> bytes:
    return os.urandom(32)


def records(count: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    return [{"issueId": str(10000 + i), "jira": {"key": f"CALC-{i}", "summary": f"test {i}"},
             "steps": [{"action": "".join(rng.choices("abcdefghij ", k=300))} for _ in range(2)]}
            for i in range(count)]


def write_folder(root: Path, tests: list[dict], attachments: dict[str, bytes] | None = None) -> Path:
    """A real snapshot folder (the writer's one-member-per-record files)."""
    writer = SnapshotWriter(root, run_id=root.name, started_at="2026-01-01T00:00:00Z", xray_api_url="http://x")
    for record in tests:
        writer.write("tests", record)
    for attachment_id, content in (attachments or {}).items():
        with writer.attachment(attachment_id, filename=f"{attachment_id}.txt", owner={"test": "1"}) as fh:
            fh.write(content)
    writer.finish(finished_at="2026-01-01T00:01:00Z", requests=1)
    return root


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def read_all(store, key, data_key) -> dict[str, bytes]:
    return {path: b"".join(chunks) for path, chunks in store.iter_files(key, data_key)}


def objects(store) -> dict[str, int]:
    return {info.key[len(OBJECTS):]: info.size for info in store.backend.list(OBJECTS)}


def own_bytes(store, key) -> int:
    """The marker and own files of a snapshot (what is not shared)."""
    return sum(info.size for info in store.backend.list(key + "/"))


def flip(store, blob: str, position: int = -20) -> bytes:
    original = store.backend.read(blob)
    tampered = bytearray(original)
    tampered[position] ^= 0x01
    store.backend.put(blob, io.BytesIO(bytes(tampered)))
    return original


def test_every_file_reads_back_exactly_with_and_without_a_parent(store, tmp_path, data_key):
    one = write_folder(tmp_path / "run1", records(120), {"att-1": os.urandom(300_000), "att-2": b"evidence"})
    two = write_folder(tmp_path / "run2", records(120)[:60] + records(5, seed=9) + records(120)[60:],
                       {"att-1": files_of(one)["attachments/att-1"], "att-3": b"new"})
    first = store.publish(CLIENT_KEY, "run1", one, data_key)
    second = store.publish(CLIENT_KEY, "run2", two, data_key, parent_key=first)
    assert read_all(store, first, data_key) == files_of(one)
    assert read_all(store, second, data_key) == files_of(two)
    for path, content in files_of(two).items():
        assert b"".join(store.read_file(second, data_key, path)) == content
    assert gzip.decompress(b"".join(store.read_file(second, data_key, "tests.jsonl.gz"))).count(b"\n") == 125
    assert len([k for k in objects(store) if k.startswith("packs/")]) == 2


def test_a_second_publish_of_the_same_folder_adds_almost_nothing(store, tmp_path, data_key):
    folder = write_folder(tmp_path / "run1", records(300), {"att-1": os.urandom(200_000)})
    first = store.publish(CLIENT_KEY, "run1", folder, data_key)
    before = objects(store)
    second = store.publish(CLIENT_KEY, "run2", folder, data_key, parent_key=first)
    assert objects(store) == before  # no new pack, no new blob
    assert store.added_bytes(second) == own_bytes(store, second)  # its marker and manifest.json only
    assert store.added_bytes(second) < 0.02 * store.added_bytes(first)
    assert store.added_bytes(first) == own_bytes(store, first) + sum(before.values())
    assert store.size(second) == store.size(first) - own_bytes(store, first) + own_bytes(store, second)
    assert read_all(store, second, data_key) == files_of(folder)


def test_changing_five_percent_of_records_adds_about_those_records_only(store, tmp_path, data_key):
    base = records(400)
    changed = [dict(r, jira=dict(r["jira"], summary="edited")) if i % 20 == 0 else r for i, r in enumerate(base)]
    first = store.publish(CLIENT_KEY, "run1", write_folder(tmp_path / "run1", base), data_key)
    folder = write_folder(tmp_path / "run2", changed)
    second = store.publish(CLIENT_KEY, "run2", folder, data_key, parent_key=first)
    new_members = sum(len(_member(r)) for i, r in enumerate(changed) if i % 20 == 0)
    added_objects = store.added_bytes(second) - own_bytes(store, second)
    assert added_objects == encrypted_size(new_members)  # exactly the 20 edited records, encrypted
    whole = (tmp_path / "run2" / "tests.jsonl.gz").stat().st_size
    assert added_objects < 0.07 * whole
    assert read_all(store, second, data_key) == files_of(folder)


def _member(record: dict) -> bytes:
    return record_member(json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode() + b"\n")


def test_an_attachment_is_stored_once_whatever_its_id_or_snapshot(store, tmp_path, data_key):
    content = os.urandom(100_000)
    first = store.publish(CLIENT_KEY, "run1", write_folder(tmp_path / "a", [], {"x1": content, "x2": content}),
                          data_key)
    second = store.publish(CLIENT_KEY, "run2", write_folder(tmp_path / "b", [], {"x9": content}), data_key)
    blobs = [k for k in objects(store) if k.startswith("blobs/")]
    assert len(blobs) == 1
    assert b"".join(store.read_file(second, data_key, "attachments/x9")) == content
    assert b"".join(store.read_file(first, data_key, "attachments/x2")) == content
    # Names leak nothing of the content, and another tenant's blob of the same content has another name.
    other_key = os.urandom(32)
    store.publish(OTHER_CLIENT_KEY, "run3", write_folder(tmp_path / "c", [], {"x1": content}), other_key)
    theirs = [info.key for info in store.backend.list(f"tenants/{tenant_hash(OTHER_CLIENT_KEY)}/objects/blobs/")]
    assert theirs and theirs[0].rsplit("/", 1)[1] != blobs[0].rsplit("/", 1)[1]
    assert hashlib.sha256(content).hexdigest() not in " ".join(blobs)


def test_tampering_with_a_shared_pack_or_blob_is_detected_on_read(store, tmp_path, data_key):
    first = store.publish(CLIENT_KEY, "run1", write_folder(tmp_path / "a", records(50), {"x1": b"evidence" * 999}),
                          data_key)
    second = store.publish(CLIENT_KEY, "run2", write_folder(tmp_path / "b", records(50), {"x1": b"evidence" * 999}),
                           data_key, parent_key=first)
    for ref in objects(store):
        original = flip(store, OBJECTS + ref)
        for key in (first, second):
            with pytest.raises(SnapshotIntegrityError):
                read_all(store, key, data_key)
        store.backend.put(OBJECTS + ref, io.BytesIO(original))
    pack = next(k for k in objects(store) if k.startswith("packs/"))
    store.backend.delete([OBJECTS + pack])
    with pytest.raises(SnapshotIntegrityError, match="missing"):
        read_all(store, second, data_key)


def test_a_blob_swapped_for_another_is_detected(store, tmp_path, data_key):
    key = store.publish(CLIENT_KEY, "run1", write_folder(tmp_path / "a", [], {"x1": b"one" * 500, "x2": b"two" * 500}),
                        data_key)
    one, two = sorted(k for k in objects(store) if k.startswith("blobs/"))
    store.backend.put(OBJECTS + one, io.BytesIO(store.backend.read(OBJECTS + two)))  # same size, other content
    with pytest.raises(SnapshotIntegrityError):
        read_all(store, key, data_key)


def test_deleting_a_parent_never_breaks_its_child_and_the_sweep_frees_exactly_the_unreferenced(store, tmp_path,
                                                                                                data_key):
    gone, kept = os.urandom(50_000), os.urandom(40_000)
    first = store.publish(CLIENT_KEY, "run1", write_folder(tmp_path / "a", records(80), {"g": gone, "k": kept}),
                          data_key)
    before = objects(store)
    child_folder = write_folder(tmp_path / "b", records(80)[:40] + records(3, seed=5), {"k": kept})
    child = store.publish(CLIENT_KEY, "run2", child_folder, data_key, parent_key=first)
    store.delete(first)
    assert not store.exists(first)
    assert objects(store).keys() >= before.keys()  # delete never removes shared objects
    assert read_all(store, child, data_key) == files_of(child_folder)
    removed = []
    assert store.sweep(CLIENT_KEY, datetime.now(timezone.utc) - timedelta(hours=1), data_key) == (0, 0)  # too young
    count, freed = store.sweep(CLIENT_KEY, later(), data_key, report=lambda *args: removed.append(args))
    gone_blob = [ref for ref in before if ref.startswith("blobs/") and ref not in _refs(store, child, data_key)]
    assert len(gone_blob) == 1 and count == 1 and freed == before[gone_blob[0]]
    assert gone_blob[0] not in objects(store) and removed
    assert read_all(store, child, data_key) == files_of(child_folder)
    assert store.sweep(CLIENT_KEY, later(), data_key) == (0, 0)
    remaining = len(objects(store))
    store.delete(child)
    assert store.sweep(CLIENT_KEY, later(), data_key)[0] == remaining
    assert objects(store) == {}


def _refs(store, key, data_key) -> set[str]:
    _, files = open_marker(store.backend.read(f"{key}/{MARKER}"), key, data_key)
    return set().union(*(f.refs for f in files))


def test_a_sweep_that_cannot_read_a_marker_removes_nothing(store, tmp_path, data_key, caplog):
    first = store.publish(CLIENT_KEY, "run1", write_folder(tmp_path / "a", records(10), {"x": b"1" * 100}), data_key)
    store.publish(CLIENT_KEY, "run2", write_folder(tmp_path / "b", records(10), {"y": b"2" * 100}), data_key)
    store.delete(first)
    garbage = dict(objects(store))
    with caplog.at_level(logging.WARNING):
        assert store.sweep(CLIENT_KEY, later(), os.urandom(32)) == (0, 0)  # a wrong (or shredded) data key
    assert "cannot be read" in caplog.text
    assert objects(store) == garbage
    assert store.sweep(CLIENT_KEY, later(), data_key)[0] == 2  # the right key: run1's blob and pack go
    assert not [info for info in store.backend.list("pending/")]


def test_a_sweep_between_reuse_and_reveal_makes_the_publish_fail_instead_of_revealing_a_broken_snapshot(
        store, tmp_path, data_key):
    shared = os.urandom(30_000)
    first = store.publish(CLIENT_KEY, "run1", write_folder(tmp_path / "a", records(5), {"s": shared}), data_key)
    store.delete(first)  # the blob is now garbage, old enough for the sweep below

    def sweep_now(rel, size):
        if rel == "attachments/s":  # the publish found the blob stored and decided to reuse it
            assert store.sweep(CLIENT_KEY, later(), data_key)[0] >= 1

    folder = write_folder(tmp_path / "b", records(5), {"s": shared})
    with pytest.raises(StorageError, match="removed by a concurrent storage sweep"):
        store.publish(CLIENT_KEY, "run2", folder, data_key, progress=sweep_now)
    assert store.list_snapshots(CLIENT_KEY) == []
    key = store.publish(CLIENT_KEY, "run2", folder, data_key)  # the retry stores the blob again
    assert read_all(store, key, data_key) == files_of(folder)


def test_a_publish_waits_for_a_live_sweep_and_not_for_a_dead_one(tmp_path, data_key):
    clock, slept = [0.0], []
    store = file_store(tmp_path / "store")
    store.clock = lambda: clock[0]
    sweep_entry = f"pending/{TENANT}/sweep-0123456789abcdef"

    def sweep_ends(seconds):
        slept.append(seconds)
        clock[0] += seconds
        store.backend.delete([sweep_entry])

    store.sleep = sweep_ends
    store.backend.put(sweep_entry, io.BytesIO(b""))
    key = store.publish(CLIENT_KEY, "run1", write_folder(tmp_path / "a", records(5)), data_key)
    assert slept == [sweeping.POLL] and store.exists(key)

    def time_passes(seconds):
        slept.append(seconds)
        clock[0] += seconds

    store.sleep, slept[:] = time_passes, []
    store.backend.put(sweep_entry, io.BytesIO(b""))  # a sweep that died: its entry never goes away
    key = store.publish(CLIENT_KEY, "run2", write_folder(tmp_path / "b", records(5)), data_key)
    assert store.exists(key) and sweeping.DEAD_AFTER - 60 <= sum(slept) <= sweeping.DEAD_AFTER + 1
    assert store.cleanup_incomplete(later()) == 0 and store.backend.size(sweep_entry) == 0  # cleanup leaves it


def test_a_sweep_removes_the_entries_of_sweeps_that_died_long_before(tmp_path, data_key):
    store = file_store(tmp_path / "store")
    store.publish(CLIENT_KEY, "run1", write_folder(tmp_path / "a", records(5)), data_key)
    dead, recent = f"pending/{TENANT}/sweep-00000000000000aa", f"pending/{TENANT}/sweep-00000000000000bb"
    for entry in (dead, recent):
        store.backend.put(entry, io.BytesIO(b""))
    old = (datetime.now(timezone.utc) - timedelta(seconds=sweeping.DEAD_AFTER + 60)).timestamp()
    os.utime(store.backend.root / dead, (old, old))
    store.sweep(CLIENT_KEY, later(), data_key)
    assert [info.key for info in store.backend.list("pending/")] == [recent]  # maybe a live sweep: kept


def test_a_parent_of_another_tenant_or_unreadable_gives_no_reuse_but_a_whole_snapshot(store, tmp_path, data_key):
    folder = write_folder(tmp_path / "a", records(30))
    theirs = store.publish(OTHER_CLIENT_KEY, "run1", folder, data_key)
    for parent in (theirs, f"tenants/{TENANT}/missing", "not a key"):
        key = store.publish(CLIENT_KEY, f"run-{abs(hash(parent)) % 1000}", folder, data_key, parent_key=parent)
        assert read_all(store, key, data_key) == files_of(folder)
    assert len([k for k in objects(store) if k.startswith("packs/")]) == 3


def test_a_run_cannot_be_called_objects():
    with pytest.raises(ValueError):
        snapshot_key_for(CLIENT_KEY, "objects")


# -- snapshots stored before shared objects (marker format 1) ---------------------------------------------------

def publish_legacy(store, tenant_key: str, run_id: str, folder: Path, data_key: bytes) -> str:
    """What the store wrote before shared objects: every file under the attempt, a format-1 marker."""
    key, attempt = snapshot_key_for(tenant_key, run_id), "a0123456789abcdef"
    stored = []
    for rel, content in sorted(files_of(folder).items()):
        reader = EncryptingReader(io.BytesIO(content), data_key, file_context(key, rel))
        store.backend.put(f"{key}/{attempt}/{rel}", reader)
        stored.append(StoredFile(rel, reader.plain_size, reader.plain_sha256, reader.stored_size))
    header = json.dumps({"format": LEGACY_FORMAT, "attempt": attempt, "createdAt": "2026-01-01T00:00:00+00:00",
                         "files": len(stored), "storedBytes": sum(f.stored for f in stored)})
    index = {"snapshot": key, "attempt": attempt,
             "files": [{"path": f.path, "size": f.size, "sha256": f.sha256, "stored": f.stored} for f in stored]}
    sealed = encrypt_bytes(json.dumps(index).encode(), data_key, _marker_context(key, header))
    assert store.backend.put_if_absent(f"{key}/{MARKER}", header.encode() + b"\n" + sealed)
    return key


def test_legacy_snapshots_read_measure_parent_and_delete_as_before(store, tmp_path, data_key):
    folder = write_folder(tmp_path / "old", records(40), {"x": b"old evidence" * 100})
    legacy = publish_legacy(store, CLIENT_KEY, "old", folder, data_key)
    assert read_all(store, legacy, data_key) == files_of(folder)
    assert b"".join(store.read_file(legacy, data_key, "attachments/x")) == b"old evidence" * 100
    assert store.size(legacy) == own_bytes(store, legacy) == store.added_bytes(legacy)
    child = store.publish(CLIENT_KEY, "new", folder, data_key, parent_key=legacy)  # no reuse, still whole
    assert read_all(store, child, data_key) == files_of(folder)
    assert store.sweep(CLIENT_KEY, later(), data_key) == (0, 0)  # legacy markers are readable: nothing to free
    flip(store, f"{legacy}/a0123456789abcdef/tests.jsonl.gz")
    with pytest.raises(SnapshotIntegrityError):
        read_all(store, legacy, data_key)
    store.delete(legacy)
    assert not store.exists(legacy) and not list(store.backend.list(legacy + "/"))
    with pytest.raises(SnapshotNotFound):
        store.size(legacy)
    assert read_all(store, child, data_key) == files_of(folder)


def test_a_long_chain_of_incremental_snapshots_reads_from_few_packs(tmp_path, data_key, monkeypatch):
    monkeypatch.setattr("app.backups.store.repository.REUSED_PACKS", 3)
    store = file_store(tmp_path / "store")
    current, parent, folders = records(100), None, {}
    for generation in range(8):
        current = [dict(r, summary=f"gen {generation}") if i % 10 == generation else r for i, r in enumerate(current)]
        folder = write_folder(tmp_path / f"g{generation}", current)
        parent = store.publish(CLIENT_KEY, f"g{generation}", folder, data_key, parent_key=parent)
        folders[parent] = files_of(folder)
        assert len({ref for ref in _refs(store, parent, data_key) if ref.startswith("packs/")}) <= 4
    for key, files in folders.items():
        assert read_all(store, key, data_key) == files


def test_a_marker_its_publisher_never_confirmed_is_confirmed_by_the_retry_not_by_cleanup(tmp_path, data_key):
    store = file_store(tmp_path / "store")
    folder = write_folder(tmp_path / "a", records(20), {"x": b"evidence" * 100})
    key = store.publish(CLIENT_KEY, "run1", folder, data_key)
    attempt = json.loads(store.backend.read(f"{key}/{MARKER}").split(b"\n", 1)[0])["attempt"]
    journal = f"pending/{TENANT}/run1/{attempt}"
    store.backend.put(journal, io.BytesIO(b""))  # what a publisher killed between its marker and its check leaves
    assert store.cleanup_incomplete(later()) == 0 and store.backend.size(journal) == 0  # it cannot confirm: kept
    blob = next(ref for ref in objects(store) if ref.startswith("blobs/"))
    store.backend.delete([OBJECTS + blob])  # a sweep that had missed the marker removed what it reuses
    with pytest.raises(SnapshotIntegrityError, match="concurrent storage sweep"):
        store.publish(CLIENT_KEY, "run1", folder, data_key)  # the run's retry checks before trusting the marker
    assert not store.exists(key)
    key = store.publish(CLIENT_KEY, "run1", folder, data_key)
    assert read_all(store, key, data_key) == files_of(folder)
    store.cleanup_incomplete(later())
    assert not list(store.backend.list("pending/"))
