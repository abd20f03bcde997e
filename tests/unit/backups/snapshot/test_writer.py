"""The writer's entity files: one gzip member per record, byte-for-byte reproducible, readable by every gzip reader."""
from __future__ import annotations

import gzip
import json
import subprocess
import zlib

from app.backups.snapshot.verifier import verify_snapshot
from app.backups.snapshot.writer import SnapshotWriter, record_member


def _write(root, records):
    writer = SnapshotWriter(root, run_id="run1", started_at="2026-01-01T00:00:00Z", xray_api_url="http://x")
    for record in records:
        writer.write("tests", record)
    writer.finish(finished_at="2026-01-01T00:01:00Z", requests=1)
    return root / "tests.jsonl.gz"


def _members(data: bytes) -> list[bytes]:
    found = []
    while data:
        inflater = zlib.decompressobj(31)
        inflater.decompress(data)
        assert inflater.eof
        found.append(data[: len(data) - len(inflater.unused_data)])
        data = inflater.unused_data
    return found


RECORDS = [{"issueId": str(i), "summary": f"test {i} " + "x" * i} for i in range(50)]


def test_each_record_is_its_own_gzip_member_and_the_file_reads_whole(tmp_path):
    path = _write(tmp_path / "s", RECORDS)
    data = path.read_bytes()
    members = _members(data)
    assert len(members) == len(RECORDS)
    assert members[7] == record_member(json.dumps(RECORDS[7], separators=(",", ":")).encode() + b"\n")
    lines = gzip.decompress(data).decode().splitlines()
    assert [json.loads(line) for line in lines] == RECORDS
    assert subprocess.run(["zcat", str(path)], capture_output=True, check=True).stdout == gzip.decompress(data)
    assert verify_snapshot(tmp_path / "s").problems == []


def test_the_same_records_give_the_same_bytes(tmp_path):
    one = _write(tmp_path / "a", RECORDS).read_bytes()
    two = _write(tmp_path / "b", RECORDS[:10] + [{"issueId": "new"}] + RECORDS[11:]).read_bytes()
    assert one == _write(tmp_path / "c", RECORDS).read_bytes()
    shared = set(_members(one)) & set(_members(two))
    assert len(shared) == len(RECORDS) - 1


def test_an_empty_entity_file_is_still_a_gzip_file(tmp_path):
    path = _write(tmp_path / "s", [])
    assert gzip.decompress(path.read_bytes()) == b""
    assert subprocess.run(["zcat", str(path)], capture_output=True, check=True).stdout == b""
    assert verify_snapshot(tmp_path / "s").problems == []
