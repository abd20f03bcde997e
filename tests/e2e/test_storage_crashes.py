"""A publish or a sweep of shared objects killed with SIGKILL at any storage write — or in the middle of uploading
one — leaves every kept snapshot whole (read back, every file checked), and the next cleanup and sweep finish the
work: the republished snapshot reads whole and storage holds exactly what the kept snapshots reference.

The killed process is a real child (`python -m tests.e2e.test_storage_crashes …`) that kills itself with SIGKILL
at the chosen write; the storage — a file store, or a bucket of the loopback S3 server — is copied afresh for each
kill point.
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from app.backups.snapshot.writer import SnapshotWriter
from app.backups.store.marker import MARKER, open_marker
from app.backups.store.s3 import make_s3_client
from app.crypto import tenant_hash
from tests.support.storage import S3_CREDENTIALS, file_store, s3_store

CLIENT_KEY = "jira:crash-test-tenant"
DATA_KEY = bytes(range(32))
ROOT = Path(__file__).resolve().parents[2]
NEVER = 10 ** 6


def make_folder(root: Path, tests: list[dict], attachments: dict[str, bytes]) -> Path:
    writer = SnapshotWriter(root, run_id=root.name, started_at="2026-01-01T00:00:00Z", xray_api_url="http://x")
    for record in tests:
        writer.write("tests", record)
    for attachment_id, content in attachments.items():
        with writer.attachment(attachment_id, filename=None, owner={}) as fh:
            fh.write(content)
    writer.finish(finished_at="2026-01-01T00:01:00Z", requests=1)
    return root


def record_list(count: int, seed: int) -> list[dict]:
    rng = random.Random(seed)
    return [{"issueId": str(i), "summary": "".join(rng.choices("abcdef ", k=200))} for i in range(count)]


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def read_all(store, key) -> dict[str, bytes]:
    return {path: b"".join(chunks) for path, chunks in store.iter_files(key, DATA_KEY)}


def later() -> datetime:
    return datetime.now(timezone.utc) + timedelta(seconds=5)


# -- the child -----------------------------------------------------------------------------------------------------

class DiesAtWrite:
    """A backend that kills its process with SIGKILL at its n-th write, before it or halfway through its upload."""

    def __init__(self, backend, at: int, midway: bool):
        self._backend, self._at, self._midway, self.writes = backend, at, midway, 0

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def _write(self) -> bool:
        self.writes += 1
        if self.writes == self._at and not self._midway:
            os.kill(os.getpid(), signal.SIGKILL)
        return self.writes == self._at

    def put(self, key, stream):
        if self._write():  # midway: half the blob is sent, then the process dies
            stream = _DiesHalfway(stream)
        return self._backend.put(key, stream)

    def put_if_absent(self, key, data):
        self._write()
        return self._backend.put_if_absent(key, data)

    def delete(self, keys):
        keys = list(keys)
        if self._write() and len(keys) > 1:
            self._backend.delete(keys[: len(keys) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        return self._backend.delete(keys)


class _DiesHalfway:
    def __init__(self, stream):
        self._stream, self._sent = stream, 0

    def read(self, size=-1):
        if self._sent:
            os.kill(os.getpid(), signal.SIGKILL)
        data = self._stream.read(size)
        self._sent += len(data)
        return data


def open_location(location: str):
    """A store from its location: a folder, or `s3 <endpoint> <bucket>`."""
    if location.startswith("s3 "):
        _, endpoint, bucket = location.split(" ")
        return s3_store(bucket, "p", client=make_s3_client(endpoint, max_attempts=2, **S3_CREDENTIALS))
    return file_store(Path(location))


def child(root: str, action: str, at: int, midway: bool, folder: str, parent: str) -> None:
    store = open_location(root)
    store.backend = DiesAtWrite(store.backend, at, midway)
    if action == "publish":
        store.publish(CLIENT_KEY, "run3", Path(folder), DATA_KEY, parent_key=parent)
    else:
        store.sweep(CLIENT_KEY, later(), DATA_KEY)
    print(json.dumps({"writes": store.backend.writes}))


def run_child(root: str, action: str, at: int, midway: bool, folder: Path, parent: str):
    return subprocess.run([sys.executable, "-m", "tests.e2e.test_storage_crashes", root, action, str(at),
                           "1" if midway else "0", str(folder), parent], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


# -- the test ------------------------------------------------------------------------------------------------------

class Locations:
    """Fresh copies of a template storage: folders, or buckets of the loopback S3 server."""

    def __init__(self, kind: str, base: Path, s3_server=None):
        self.kind, self.base, self.server, self.count = kind, base, s3_server, 0
        self.template = self.new()

    def new(self) -> str:
        self.count += 1
        if self.kind == "file":
            return str(self.base / f"store-{self.count}")
        return f"s3 {self.server.url} {self.server.new_bucket()}"

    def copy(self) -> str:
        location = self.new()
        if self.kind == "file":
            shutil.copytree(self.template, location)
        else:
            client, source, target = self.server.client(), self.template.split(" ")[2], location.split(" ")[2]
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=source):
                for item in page.get("Contents", []):
                    client.copy_object(Bucket=target, Key=item["Key"],
                                       CopySource={"Bucket": source, "Key": item["Key"]})
        return location


@pytest.fixture(params=["file", "s3"])
def template(request, tmp_path):
    """Storage with a deleted parent (garbage to sweep) and its kept child; and the folder of a third snapshot."""
    base = tmp_path
    locations = Locations(request.param, base, request.getfixturevalue("s3_server") if request.param == "s3" else None)
    store = open_location(locations.template)
    one = make_folder(base / "one", record_list(60, 1), {"a": os.urandom(40_000), "b": os.urandom(30_000)})
    two = make_folder(base / "two", record_list(60, 1)[:50] + record_list(5, 2),
                      {"b": files_of(one)["attachments/b"], "c": os.urandom(20_000)})
    three = make_folder(base / "three", record_list(60, 1)[:30] + record_list(8, 3),
                        {"c": files_of(two)["attachments/c"], "d": os.urandom(25_000)})
    first = store.publish(CLIENT_KEY, "run1", one, DATA_KEY)
    second = store.publish(CLIENT_KEY, "run2", two, DATA_KEY, parent_key=first)
    store.delete(first)
    return {"locations": locations, "second": second, "two": files_of(two), "three": three}


def referenced(store) -> set[str]:
    refs = set()
    for key in store.list_snapshots(CLIENT_KEY):
        _, files = open_marker(store.backend.read(f"{key}/{MARKER}"), key, DATA_KEY)
        refs |= set().union(*(f.refs for f in files))
    return refs


def stored_objects(store) -> set[str]:
    prefix = f"tenants/{tenant_hash(CLIENT_KEY)}/objects/"
    return {info.key[len(prefix):] for info in store.backend.list(prefix)}


def kill_points(template, action: str) -> list[tuple[int, bool]]:
    done = run_child(template["locations"].copy(), action, NEVER, False, template["three"], template["second"])
    assert done.returncode == 0, done.stderr
    writes = json.loads(done.stdout.strip().splitlines()[-1])["writes"]
    assert writes >= 3
    return [(at, midway) for at in range(1, writes + 1) for midway in (False, True)]


@pytest.mark.parametrize("action", ["publish", "sweep"])
def test_a_process_killed_at_any_write_leaves_every_kept_snapshot_whole_and_the_next_pass_finishes(
        template, tmp_path, action):
    outcomes = set()
    for at, midway in kill_points(template, action):
        root = template["locations"].copy()
        result = run_child(root, action, at, midway, template["three"], template["second"])
        outcomes.add(result.returncode)
        assert result.returncode in (-signal.SIGKILL, 0), result.stderr
        store = open_location(root)
        # Right after the crash: the kept snapshot is whole; a third one is either invisible or whole.
        assert read_all(store, template["second"]) == template["two"], (at, midway)
        third = f"tenants/{tenant_hash(CLIENT_KEY)}/run3"
        if store.exists(third):
            assert read_all(store, third) == files_of(template["three"]), (at, midway)
        # The next passes finish: cleanup, sweep, and the publish again (a run retried) — all whole.
        store.cleanup_incomplete(later())
        store.sweep(CLIENT_KEY, later(), DATA_KEY)
        assert read_all(store, template["second"]) == template["two"], (at, midway)
        # A killed sweep's entry holds a publish back until it is old enough to be dead: time passes in the waits.
        clock = [0.0]
        store.clock, store.sleep = (lambda: clock[0]), (lambda seconds: clock.__setitem__(0, clock[0] + seconds))
        key = store.publish(CLIENT_KEY, "run3", template["three"], DATA_KEY, parent_key=template["second"])
        assert read_all(store, key) == files_of(template["three"]), (at, midway)
        store.sweep(CLIENT_KEY, later(), DATA_KEY)
        assert stored_objects(store) == referenced(store), (at, midway)  # no garbage left, nothing missing
        # Only a killed sweep's own entry may remain: publishes ignore it once it is old, a later sweep removes it.
        assert all("/sweep-" in info.key for info in store.backend.list("pending/")), (at, midway)
    assert -signal.SIGKILL in outcomes


if __name__ == "__main__":
    child(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4] == "1", sys.argv[5], sys.argv[6])
