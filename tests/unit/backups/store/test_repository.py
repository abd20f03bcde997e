"""One contract for snapshot storage, run against the file store and against S3 over real HTTP (moto's server)."""
from __future__ import annotations

import os
import shutil
import socket
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from app.backups.store.backend import SnapshotIntegrityError, SnapshotNotFound, StorageError, StorageUnavailable
from app.backups.store.file import FileBackend
from app.backups.store.marker import MARKER
from app.backups.store.registry import open_store
from app.backups.store.s3 import S3Backend, make_s3_client
from app.crypto import tenant_hash
from tests.support.storage import (
    S3_CREDENTIALS,
    SECRET_MARK,
    S3Server,
    file_store,
    s3_store,
    sample_files,
    write_snapshot_folder,
)

CLIENT_KEY = "jira:7e0b3c1e-client-key-of-acme"
OTHER_CLIENT_KEY = "jira:0c54d2aa-client-key-of-globex"


def now() -> datetime:
    return datetime.now(timezone.utc)


class RawFiles:
    """Direct access to what the file store wrote, bypassing it."""

    def __init__(self, store):
        self.store, self.root = store, store.backend.root

    def keys(self) -> list[str]:
        return sorted(p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file())

    def read(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def write(self, key: str, data: bytes) -> None:
        (self.root / key).write_bytes(data)

    def remove(self, key: str) -> None:
        (self.root / key).unlink()

    def interrupt_delete(self, snapshot_key: str) -> None:
        """What a deleter killed halfway leaves: its journal entry, the marker gone, some files still there."""
        _, tenant, run = snapshot_key.split("/")
        journal = self.root / "pending" / tenant / run / "deleting"
        journal.parent.mkdir(parents=True, exist_ok=True)
        journal.write_bytes(b"")
        (self.root / snapshot_key / MARKER).unlink()
        self.remove(next(k for k in self.keys() if k.startswith(snapshot_key) and k.endswith("manifest.json")))


class RawObjects:
    """Direct access to the bucket the S3 store wrote, bypassing it."""

    def __init__(self, store):
        self.store, self.client, self.bucket = store.backend, store.backend.client, store.backend.bucket

    def keys(self) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket)
        return sorted(o["Key"] for page in pages for o in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        return self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read()

    def write(self, key: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data)

    def remove(self, key: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=key)

    def interrupt_delete(self, snapshot_key: str) -> None:
        """What a deleter killed halfway leaves: its journal entry, the marker gone, some files still there."""
        _, tenant, run = snapshot_key.split("/")
        prefix = f"{self.store.prefix}/" if self.store.prefix else ""  # self.store: the S3 backend
        self.write(f"{prefix}pending/{tenant}/{run}/deleting", b"")
        self.remove(f"{prefix}{snapshot_key}/{MARKER}")
        self.remove(next(k for k in self.keys() if k.startswith(prefix + snapshot_key) and k.endswith("manifest.json")))


@pytest.fixture(params=["file", "s3"])
def backend(request, tmp_path):
    """(store, raw access) for each backend."""
    if request.param == "file":
        store = file_store(tmp_path / "store")
        return store, RawFiles(store)
    store = request.getfixturevalue("s3_store_factory")()
    return store, RawObjects(store)


@pytest.fixture
def data_key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def folder(tmp_path) -> Path:
    return write_snapshot_folder(tmp_path / "local-snapshot", sample_files())


def read_all(store, key, data_key) -> dict[str, bytes]:
    return {path: b"".join(chunks) for path, chunks in store.iter_files(key, data_key)}


def test_published_snapshot_reads_back_every_file_byte_for_byte(backend, folder, data_key):
    store, _ = backend
    key = store.publish(CLIENT_KEY, "run1", folder, data_key)
    assert key == f"tenants/{tenant_hash(CLIENT_KEY)}/run1"
    assert read_all(store, key, data_key) == sample_files_from(folder)


def sample_files_from(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_one_file_is_read_on_its_own_and_checked_against_the_index(backend, folder, data_key):
    store, raw = backend
    key = store.publish(CLIENT_KEY, "run1", folder, data_key)
    files = sample_files_from(folder)
    for path, content in files.items():
        assert b"".join(store.read_file(key, data_key, path)) == content
    with pytest.raises(SnapshotNotFound):
        store.read_file(key, data_key, "attachments/not-there")
    victim = next(k for k in raw.keys() if k.endswith("tests.jsonl.gz"))
    original = bytearray(raw.read(victim))
    original[len(original) // 2] ^= 0x01
    raw.write(victim, bytes(original))
    with pytest.raises(SnapshotIntegrityError):
        b"".join(store.read_file(key, data_key, "tests.jsonl.gz"))


def test_stored_paths_never_show_the_client_key(backend, folder, data_key):
    store, raw = backend
    store.publish(CLIENT_KEY, "run1", folder, data_key)
    assert raw.keys()
    assert not [k for k in raw.keys() if "client-key" in k or "jira:" in k]


def test_stored_objects_never_contain_the_plaintext(backend, folder, data_key):
    store, raw = backend
    store.publish(CLIENT_KEY, "run1", folder, data_key)
    assert SECRET_MARK in (folder / "manifest.json").read_bytes()
    for key in raw.keys():
        content = raw.read(key)
        assert SECRET_MARK not in content, key
        assert b'"format": "xray-backup/1"' not in content, key


def test_a_flipped_byte_in_any_stored_object_makes_reading_fail(backend, folder, data_key):
    store, raw = backend
    key = store.publish(CLIENT_KEY, "run1", folder, data_key)
    for stored_key in raw.keys():
        original = raw.read(stored_key)
        for position in {len(original) // 2, len(original) - 1}:
            tampered = bytearray(original)
            tampered[position] ^= 0x01
            raw.write(stored_key, bytes(tampered))
            with pytest.raises(SnapshotIntegrityError):
                read_all(store, key, data_key)
        raw.write(stored_key, original)
    assert read_all(store, key, data_key) == sample_files_from(folder)


def test_a_file_removed_from_storage_makes_reading_fail(backend, folder, data_key):
    store, raw = backend
    key = store.publish(CLIENT_KEY, "run1", folder, data_key)
    victim = next(k for k in raw.keys() if k.endswith("tests.jsonl.gz"))
    raw.remove(victim)
    with pytest.raises(SnapshotIntegrityError, match="missing"):
        read_all(store, key, data_key)


def test_a_file_swapped_between_snapshots_makes_reading_fail(backend, tmp_path, data_key):
    store, raw = backend
    one = store.publish(CLIENT_KEY, "run1", write_snapshot_folder(tmp_path / "a", {"tests.jsonl.gz": b"old"}), data_key)
    two = store.publish(CLIENT_KEY, "run2", write_snapshot_folder(tmp_path / "b", {"tests.jsonl.gz": b"new"}), data_key)
    stored_one = next(k for k in raw.keys() if "/run1/" in k and k.endswith("tests.jsonl.gz"))
    stored_two = next(k for k in raw.keys() if "/run2/" in k and k.endswith("tests.jsonl.gz"))
    raw.write(stored_two, raw.read(stored_one))  # same tenant, same key, same file name: only the binding differs
    assert read_all(store, one, data_key) == {"tests.jsonl.gz": b"old"}
    with pytest.raises(SnapshotIntegrityError):
        read_all(store, two, data_key)


def test_another_data_key_cannot_read_the_snapshot(backend, folder, data_key):
    store, _ = backend
    key = store.publish(CLIENT_KEY, "run1", folder, data_key)
    with pytest.raises(SnapshotIntegrityError, match="data key"):
        read_all(store, key, os.urandom(32))


def test_publishing_the_same_run_twice_keeps_one_snapshot(backend, folder, tmp_path, data_key):
    store, raw = backend
    first = store.publish(CLIENT_KEY, "run1", folder, data_key)
    before = {k: raw.read(k) for k in raw.keys()}
    other = write_snapshot_folder(tmp_path / "other", {"manifest.json": b"{}"})
    assert store.publish(CLIENT_KEY, "run1", other, data_key) == first
    assert {k: raw.read(k) for k in raw.keys()} == before
    assert store.list_snapshots(CLIENT_KEY) == [first]


def test_concurrent_publishers_of_one_run_leave_one_whole_snapshot(backend, tmp_path, data_key):
    store, raw = backend
    folders = [write_snapshot_folder(tmp_path / f"p{i}", sample_files(256 * 1024)) for i in range(2)]
    barrier, keys, errors = threading.Barrier(2), [], []

    def publish(folder):
        barrier.wait()
        try:
            keys.append(store.publish(CLIENT_KEY, "run1", folder, data_key))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=publish, args=(f,)) for f in folders]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert not errors and len(set(keys)) == 1
    assert read_all(store, keys[0], data_key) in [sample_files_from(f) for f in folders]
    store.cleanup_incomplete(now() + timedelta(seconds=5))
    store.sweep(CLIENT_KEY, now() + timedelta(seconds=5), data_key)
    # One snapshot: its marker, its own manifest.json and tests.jsonl.gz (not gzip: stored whole), the attachment's
    # blob; its empty attachments.jsonl.gz is a recipe of no ranges.
    assert len(raw.keys()) == 4
    assert store.list_snapshots(CLIENT_KEY) == keys[:1]


def test_exists_list_and_size_see_complete_snapshots_per_tenant(backend, folder, data_key):
    store, raw = backend
    assert store.list_snapshots(CLIENT_KEY) == []
    one = store.publish(CLIENT_KEY, "run1", folder, data_key)
    two = store.publish(CLIENT_KEY, "run2", folder, data_key)
    theirs = store.publish(OTHER_CLIENT_KEY, "run3", folder, data_key)
    assert store.list_snapshots(CLIENT_KEY) == sorted([one, two])
    assert store.list_snapshots(OTHER_CLIENT_KEY) == [theirs]
    assert store.exists(one) and store.exists(theirs)
    assert not store.exists(f"tenants/{tenant_hash(CLIENT_KEY)}/run9")
    # Its size counts what it references: its own files and marker, and the attachment blob it shares with run2.
    stored_one = [k for k in raw.keys() if f"/{one.split('/')[-1]}/" in k or "/objects/" in k and "/blobs/" in k
                  and tenant_hash(CLIENT_KEY) in k]
    assert store.size(one) == sum(len(raw.read(k)) for k in stored_one)
    assert store.size(one) > sum(len(v) for v in sample_files_from(folder).values())


def test_delete_removes_one_snapshot_and_is_idempotent(backend, folder, data_key):
    store, raw = backend
    one = store.publish(CLIENT_KEY, "run1", folder, data_key)
    two = store.publish(CLIENT_KEY, "run2", folder, data_key)
    store.delete(one)
    store.delete(one)
    assert not store.exists(one) and store.list_snapshots(CLIENT_KEY) == [two]
    assert not [k for k in raw.keys() if "/run1/" in k or k.endswith("/run1")]
    with pytest.raises(SnapshotNotFound):
        read_all(store, one, data_key)
    assert read_all(store, two, data_key) == sample_files_from(folder)


def test_delete_tenant_removes_only_that_tenant(backend, folder, data_key):
    store, raw = backend
    store.publish(CLIENT_KEY, "run1", folder, data_key)
    theirs = store.publish(OTHER_CLIENT_KEY, "run2", folder, data_key)
    store.delete_tenant(CLIENT_KEY)
    store.delete_tenant(CLIENT_KEY)
    assert store.list_snapshots(CLIENT_KEY) == []
    assert not [k for k in raw.keys() if tenant_hash(CLIENT_KEY) in k]
    assert read_all(store, theirs, data_key) == sample_files_from(folder)


@pytest.mark.parametrize("key", ["tenants/abc/run1", "../etc/passwd", "", "tenants/" + "0" * 32 + "/run1"])
def test_unknown_or_malformed_keys_are_not_found(backend, data_key, key):
    store, _ = backend
    assert store.exists(key) is False
    with pytest.raises(SnapshotNotFound):
        read_all(store, key, data_key)
    with pytest.raises(SnapshotNotFound):
        store.size(key)


def test_a_crashed_publisher_leaves_nothing_visible_and_cleanup_waits_for_the_cutoff(backend, folder, data_key):
    store, raw = backend
    pid = os.fork()
    if pid == 0:  # the publisher "process", killed outright after its manifest: no cleanup runs
        try:
            child = _fresh_store(store)
            child.publish(CLIENT_KEY, "run1", folder, data_key,
                          progress=lambda rel, n: os._exit(0) if rel == "manifest.json" else None)
        finally:
            os._exit(1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    leftovers = raw.keys()
    assert leftovers  # the crash left temporary data behind ...
    assert not store.exists(f"tenants/{tenant_hash(CLIENT_KEY)}/run1")  # ... that nobody can see
    assert store.list_snapshots(CLIENT_KEY) == []
    assert store.cleanup_incomplete(now() - timedelta(minutes=10)) == 0  # might be a publisher still at work
    assert raw.keys() == leftovers
    assert store.cleanup_incomplete(now() + timedelta(seconds=5)) == 1
    assert [k for k in raw.keys() if "/objects/" not in k] == []  # the uploaded blob waits for the sweep
    assert store.sweep(CLIENT_KEY, now() - timedelta(minutes=10), data_key) == (0, 0)  # might be in use soon
    assert store.sweep(CLIENT_KEY, now() + timedelta(seconds=5), data_key)[0] == 1
    assert raw.keys() == []
    key = store.publish(CLIENT_KEY, "run1", folder, data_key)
    assert read_all(store, key, data_key) == sample_files_from(folder)
    assert store.cleanup_incomplete(now() + timedelta(seconds=5)) == 0
    assert store.exists(key)


def test_an_interrupted_delete_is_finished_by_cleanup(backend, folder, data_key):
    store, raw = backend
    doomed = store.publish(CLIENT_KEY, "run1", folder, data_key)
    kept = store.publish(CLIENT_KEY, "run2", folder, data_key)
    raw.interrupt_delete(doomed)
    assert not store.exists(doomed) and store.list_snapshots(CLIENT_KEY) == [kept]
    assert [k for k in raw.keys() if "run1" in k]
    assert store.cleanup_incomplete(now() + timedelta(seconds=5)) == 1
    assert not [k for k in raw.keys() if "run1" in k]
    assert read_all(store, kept, data_key) == sample_files_from(folder)


def test_cleanup_needs_an_aware_cutoff(backend):
    store, _ = backend
    with pytest.raises(ValueError):
        store.cleanup_incomplete(datetime.now())


def _fresh_store(store):
    """The same storage through a new client (a forked child must not reuse the parent's connections)."""
    backend = store.backend
    if isinstance(backend, FileBackend):
        return file_store(backend.root)
    endpoint = backend.client.meta.endpoint_url
    return s3_store(backend.bucket, backend.prefix, client=make_s3_client(endpoint, **S3_CREDENTIALS))


def test_a_file_store_failing_mid_publish_raises_and_publishes_nothing(tmp_path, folder, data_key):
    store = file_store(tmp_path / "store")

    run_folder = tmp_path / "store" / "tenants" / tenant_hash(CLIENT_KEY) / "run1"

    def lose_the_disk(rel, size):  # the run's folder turns unusable under the publisher, as on a failing disk
        if rel == "manifest.json":
            shutil.rmtree(run_folder)
            run_folder.write_bytes(b"")

    with pytest.raises(StorageUnavailable, match="writable"):
        store.publish(CLIENT_KEY, "run1", folder, data_key, progress=lose_the_disk)
    assert store.list_snapshots(CLIENT_KEY) == []
    run_folder.unlink()
    assert [k for k in RawFiles(store).keys() if "/objects/" not in k] == []
    store.sweep(CLIENT_KEY, now() + timedelta(seconds=5), data_key)
    assert RawFiles(store).keys() == []


def test_s3_going_down_mid_publish_raises_and_publishes_nothing(folder, data_key):
    server = S3Server()  # its own server: this test stops it
    bucket = server.new_bucket()
    store = s3_store(bucket, "backups", client=server.client(max_attempts=1))
    stopped = []

    def stop_server(rel, size):
        if not stopped:
            server.stop()
            stopped.append(rel)

    with pytest.raises(StorageUnavailable, match="unreachable") as failure:
        store.publish(CLIENT_KEY, "run1", folder, data_key, progress=stop_server)
    assert "S3_ENDPOINT_URL" in str(failure.value)
    assert stopped
    # moto keeps its state in this process: a second server shows what the first one stored.
    revived = S3Server()
    try:
        after = s3_store(bucket, "backups", client=revived.client())
        assert after.list_snapshots(CLIENT_KEY) == []
        assert not after.exists(f"tenants/{tenant_hash(CLIENT_KEY)}/run1")
        assert not [k for k in RawObjects(after).keys() if k.endswith(MARKER)]
        after.cleanup_incomplete(now() + timedelta(seconds=5))
        after.sweep(CLIENT_KEY, now() + timedelta(seconds=5), data_key)
        assert RawObjects(after).keys() == []
    finally:
        revived.stop()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("kind", ["file", "s3"])
def test_unreachable_storage_raises_an_actionable_storage_error(kind, tmp_path, folder, data_key):
    if kind == "file":
        not_a_folder = tmp_path / "store"
        not_a_folder.write_text("a file where the storage folder should be")
        store, hint = file_store(not_a_folder), "Check that the folder exists"
    else:
        endpoint = f"http://127.0.0.1:{_closed_port()}"
        store = s3_store("snapshots", "p", client=make_s3_client(endpoint, max_attempts=1, **S3_CREDENTIALS))
        hint = f"s3://snapshots/p \\(endpoint {endpoint}\\) is unreachable .* Check S3_ENDPOINT_URL"
    for call in (
        lambda: store.publish(CLIENT_KEY, "run1", folder, data_key),
        lambda: store.exists(f"tenants/{tenant_hash(CLIENT_KEY)}/run1"),
        lambda: store.list_snapshots(CLIENT_KEY),
        lambda: store.cleanup_incomplete(now()),
    ):
        with pytest.raises(StorageUnavailable, match=hint) as failure:
            call()
        assert isinstance(failure.value, StorageError)
        assert CLIENT_KEY not in str(failure.value)


def test_a_missing_bucket_is_named_in_the_error(s3_server, folder, data_key):
    store = s3_store("no-such-bucket-here", "p", client=s3_server.client(max_attempts=1))
    with pytest.raises(StorageUnavailable, match="no-such-bucket-here does not exist"):
        store.publish(CLIENT_KEY, "run1", folder, data_key)


def test_s3_cleanup_cost_does_not_grow_with_the_number_of_snapshots(s3_store_factory, folder, data_key):
    store = s3_store_factory()
    for run in range(6):
        store.publish(CLIENT_KEY, f"run{run}", folder, data_key)
    calls = []
    store.backend.client.meta.events.register("before-call.s3", lambda model, **_: calls.append(model.name))
    assert store.cleanup_incomplete(now() + timedelta(seconds=5)) == 0
    assert sorted(calls) == ["ListMultipartUploads", "ListObjectsV2"]  # the journal only, never every snapshot


def test_large_files_go_up_in_parts_and_come_back_whole(s3_store_factory, tmp_path, data_key):
    store = s3_store_factory(part_size=5 * 1024 * 1024)
    big = os.urandom(1024 * 1024) * 12
    key = store.publish(CLIENT_KEY, "run1", write_snapshot_folder(tmp_path / "big", {"attachments/a": big}), data_key)
    stored = next(k for k in RawObjects(store).keys() if "/objects/blobs/" in k)
    assert store.backend.client.head_object(Bucket=store.backend.bucket, Key=stored)["ETag"].strip('"').endswith("-3")
    assert read_all(store, key, data_key) == {"attachments/a": big}


def test_open_store_picks_the_backend_from_the_configuration(make_config, tmp_path, s3_server, monkeypatch, folder,
                                                             data_key):
    on_disk = open_store(make_config(BACKUP_STORAGE_URL=(tmp_path / "snapshots").as_uri()))
    assert isinstance(on_disk.backend, FileBackend) and on_disk.backend.root == tmp_path / "snapshots"

    bucket = s3_server.new_bucket()
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_CREDENTIALS["aws_secret_access_key"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    in_s3 = open_store(make_config(BACKUP_STORAGE_URL=f"s3://{bucket}/xray/backups", S3_ENDPOINT_URL=s3_server.url))
    assert isinstance(in_s3.backend, S3Backend) and in_s3.backend.prefix == "xray/backups"
    key = in_s3.publish(CLIENT_KEY, "run1", folder, data_key)
    assert all(k.startswith("xray/backups/tenants/") for k in RawObjects(in_s3).keys())
    assert read_all(in_s3, key, data_key) == sample_files_from(folder)
