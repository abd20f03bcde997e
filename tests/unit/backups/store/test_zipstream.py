"""Snapshot downloads as a zip stream: decrypted on the fly, files at the zip root, memory flat, tampering loud."""
from __future__ import annotations

import os
import shutil
import subprocess
import tracemalloc
import zipfile
from pathlib import Path

import pytest

from app.backups.store.backend import SnapshotIntegrityError, SnapshotNotFound
from app.crypto import tenant_hash
from app.backups.store.zipstream import zip_stream
from tests.support.storage import file_store, sample_files, write_snapshot_folder

CLIENT_KEY = "jira:acme"
KEY = os.urandom(32)


@pytest.fixture
def store(tmp_path) :
    return file_store(tmp_path / "store")


def publish(store, tmp_path, files, run_id="run1") -> str:
    return store.publish(CLIENT_KEY, run_id, write_snapshot_folder(tmp_path / f"local-{run_id}", files), KEY)


def save(chunks, path: Path) -> Path:
    with path.open("wb") as fh:
        for chunk in chunks:
            fh.write(chunk)
    return path


def test_the_zip_holds_every_file_at_its_root_byte_for_byte(store, tmp_path):
    files = sample_files()
    key = publish(store, tmp_path, files)
    archive = save(zip_stream(store, key, KEY, "xray-backup-acme-2026-11-28"), tmp_path / "download.zip")
    with zipfile.ZipFile(archive) as zf:
        assert zf.testzip() is None
        assert sorted(zf.namelist()) == sorted(files)
        assert {name: zf.read(name) for name in zf.namelist()} == files
        assert zf.getinfo("manifest.json").compress_type == zipfile.ZIP_DEFLATED
        assert zf.getinfo("tests.jsonl.gz").compress_type == zipfile.ZIP_STORED
        assert zf.comment == b"xray-backup-acme-2026-11-28"


@pytest.mark.skipif(shutil.which("unzip") is None, reason="Info-ZIP unzip is not installed")
def test_a_common_unzip_tool_accepts_the_streamed_zip(store, tmp_path):
    key = publish(store, tmp_path, sample_files())
    archive = save(zip_stream(store, key, KEY, "x"), tmp_path / "download.zip")
    result = subprocess.run(["unzip", "-t", str(archive)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No errors detected" in result.stdout


def test_a_large_snapshot_streams_in_small_pieces_with_flat_memory(store, tmp_path):
    size = 24 * 1024 * 1024
    files = {"manifest.json": b"{}", "attachments/big": os.urandom(1024 * 1024) * (size // (1024 * 1024))}
    key = publish(store, tmp_path, files)
    del files
    tracemalloc.start()
    try:
        largest, total = 0, 0
        for chunk in zip_stream(store, key, KEY, "x"):
            largest, total = max(largest, len(chunk)), total + len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total > size
    assert largest <= 2 * 1024 * 1024
    assert peak < 12 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB while streaming {size / 2**20:.0f} MiB"


def test_a_missing_snapshot_or_wrong_key_fails_before_the_first_byte(store, tmp_path):
    key = publish(store, tmp_path, sample_files(1024))
    with pytest.raises(SnapshotNotFound):
        next(zip_stream(store, f"tenants/{tenant_hash(CLIENT_KEY)}/nope", KEY, "x"))
    with pytest.raises(SnapshotIntegrityError):
        next(zip_stream(store, key, os.urandom(32), "x"))


def test_a_tampered_file_breaks_the_stream_instead_of_completing_the_zip(store, tmp_path):
    files = {"a-first.json": b"{}" * 1000, "attachments/evidence": os.urandom(3 * 1024 * 1024)}
    key = publish(store, tmp_path, files)
    (stored,) = (store.backend.root / key).parent.glob("objects/blobs/*")  # attachments are shared blobs
    data = bytearray(stored.read_bytes())
    data[-5] ^= 0x01  # in the last chunk: earlier chunks decrypt and stream first
    stored.write_bytes(bytes(data))
    received = []
    with pytest.raises(SnapshotIntegrityError):
        for chunk in zip_stream(store, key, KEY, "x"):
            received.append(chunk)
    assert received, "the good leading part streamed before the failure was found"


def test_the_zip_streams_from_s3_too(s3_store_factory, tmp_path):
    store = s3_store_factory()
    files = sample_files(512 * 1024)
    key = publish(store, tmp_path, files)
    with zipfile.ZipFile(save(zip_stream(store, key, KEY, "x"), tmp_path / "s3.zip")) as zf:
        assert {name: zf.read(name) for name in zf.namelist()} == files
