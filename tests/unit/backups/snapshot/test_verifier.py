"""The xray-backup/1 writer and verifier, on disk, without the app."""
from __future__ import annotations

import gzip
import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from app.backups.snapshot.format import ATTACHMENTS_INDEX, ENTITY_NAMES, FORMAT, attachment_path
from app.backups.snapshot.verifier import verify_snapshot
from app.backups.snapshot.writer import SnapshotError, SnapshotWriter


def write_sample(root: Path) -> dict:
    writer = SnapshotWriter(root, run_id="run1", started_at="2026-01-01T00:00:00Z", xray_api_url="http://x")
    writer.write("tests", {"issueId": "1", "jira": {"summary": "Ünïcode <b>html</b>"}, "steps": []})
    writer.write("tests", {"issueId": "2", "preconditions": {"total": 0, "results": []}})
    writer.write("test_runs", {"id": "abc", "test": {"issueId": "1"}, "testExecution": {"issueId": "9"}})
    with writer.attachment("0b7e-uuid", filename="a.png", owner={"type": "test_step", "issueId": "1"}) as fh:
        fh.write(b"\x89PNG" + bytes(range(256)) * 10)
    with writer.attachment("empty", filename="e.txt", owner={"type": "test_run", "testRunId": "abc"}) as fh:
        pass
    writer.add_warning("attachment X is stored in Jira")
    return writer.finish(finished_at="2026-01-01T00:01:00Z", requests=7, projects=[{"id": "10", "key": "P", "name": "P"}])


def test_written_snapshot_verifies_and_manifest_describes_files(tmp_path):
    root = tmp_path / "snap"
    manifest = write_sample(root)
    assert manifest["format"] == FORMAT
    assert set(manifest["entities"]) == set(ENTITY_NAMES)
    tests_meta = manifest["entities"]["tests"]
    data = (root / "tests.jsonl.gz").read_bytes()
    assert tests_meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert tests_meta["bytes"] == len(data)
    lines = gzip.decompress(data).decode().splitlines()
    assert [json.loads(x)["issueId"] for x in lines] == ["1", "2"]
    assert manifest["attachments"]["count"] == 2
    assert manifest["attachments"]["bytes"] == 2564
    on_disk = json.loads((root / "manifest.json").read_text())
    assert on_disk == manifest
    result = verify_snapshot(root)
    assert result.problems == []
    assert result.counts["tests"] == 2 and result.counts["attachments"] == 2


def every_file(root: Path):
    return sorted(p for p in root.rglob("*") if p.is_file())


def test_any_single_altered_byte_fails_verification(tmp_path):
    root = tmp_path / "snap"
    write_sample(root)
    for path in every_file(root):
        original = path.read_bytes()
        if not original:
            continue
        for position in {0, len(original) // 2, len(original) - 1}:
            changed = bytearray(original)
            changed[position] ^= 0x01
            path.write_bytes(bytes(changed))
            result = verify_snapshot(root)
            assert not result.ok, f"flipping byte {position} of {path.name} went unnoticed"
            path.write_bytes(original)
    assert verify_snapshot(root).ok


def test_missing_extra_and_truncated_files_are_reported(tmp_path):
    root = tmp_path / "snap"
    write_sample(root)
    (root / attachment_path("empty")).unlink()
    (root / "stray.txt").write_text("x")
    data = (root / "test_runs.jsonl.gz").read_bytes()
    (root / "test_runs.jsonl.gz").write_bytes(data[:-5])
    problems = "\n".join(verify_snapshot(root).problems)
    assert "attachments/empty is missing" in problems
    assert "stray.txt: not listed in the manifest" in problems
    assert "test_runs.jsonl.gz" in problems


def test_snapshot_without_manifest_is_incomplete(tmp_path):
    root = tmp_path / "snap"
    writer = SnapshotWriter(root, run_id="r", started_at="s", xray_api_url="u")
    writer.write("tests", {"issueId": "1"})
    result = verify_snapshot(root)
    assert any("manifest.json is missing" in p for p in result.problems)
    writer.abort()
    assert not root.exists()


def test_line_count_mismatch_is_reported_even_with_matching_hash(tmp_path):
    root = tmp_path / "snap"
    write_sample(root)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["entities"]["tests"]["count"] = 3
    (root / "manifest.json").write_text(json.dumps(manifest))
    assert any("2 lines, manifest says 3" in p for p in verify_snapshot(root).problems)


def test_zip_with_files_at_root_or_in_one_folder_verifies(tmp_path):
    root = tmp_path / "snap"
    write_sample(root)
    for prefix in ("", "snap/"):
        archive = tmp_path / f"s{len(prefix)}.zip"
        with zipfile.ZipFile(archive, "w") as zf:
            for path in every_file(root):
                zf.write(path, prefix + path.relative_to(root).as_posix())
        assert verify_snapshot(archive).problems == []
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("snap/attachments/intruder", b"x")
    assert any("intruder" in p for p in verify_snapshot(archive).problems)


def test_unsafe_attachment_ids_never_escape_the_folder(tmp_path):
    assert attachment_path("../../etc/passwd") == "attachments/..%2F..%2Fetc%2Fpasswd"
    assert attachment_path("..") != "attachments/.."
    writer = SnapshotWriter(tmp_path / "s", run_id="r", started_at="s", xray_api_url="u")
    with writer.attachment("../x", filename="x", owner={}) as fh:
        fh.write(b"1")
    with pytest.raises(SnapshotError):
        with writer.attachment("../x", filename="x", owner={}):
            pass
    writer.finish(finished_at="f", requests=0)
    assert not (tmp_path / "x").exists()
    assert verify_snapshot(tmp_path / "s").ok


def test_failed_attachment_write_leaves_no_file_and_no_index_line(tmp_path):
    writer = SnapshotWriter(tmp_path / "s", run_id="r", started_at="s", xray_api_url="u")
    with pytest.raises(RuntimeError):
        with writer.attachment("a1", filename="x", owner={}) as fh:
            fh.write(b"partial")
            raise RuntimeError("connection dropped")
    assert not writer.has_attachment("a1")
    manifest = writer.finish(finished_at="f", requests=0)
    assert manifest["attachments"]["count"] == 0
    assert verify_snapshot(tmp_path / "s").ok
    assert gzip.decompress((tmp_path / "s" / ATTACHMENTS_INDEX).read_bytes()) == b""


# ---- security round 2 (finding 11): symlinks, huge lines, long attachment ids


def test_symlinked_files_are_refused_and_never_followed(tmp_path):
    root = tmp_path / "snap"
    write_sample(root)
    outside = tmp_path / "outside.jsonl.gz"
    (root / "tests.jsonl.gz").rename(outside)  # the right bytes, but through a link
    (root / "tests.jsonl.gz").symlink_to(outside)
    result = verify_snapshot(root)
    assert not result.ok
    assert any("tests.jsonl.gz" in p and "symbolic link" in p for p in result.problems)


def test_a_symlinked_folder_is_refused_and_not_descended(tmp_path):
    root = tmp_path / "snap"
    write_sample(root)
    moved = tmp_path / "elsewhere"
    (root / "attachments").rename(moved)
    (root / "attachments").symlink_to(moved, target_is_directory=True)
    result = verify_snapshot(root)
    assert any(p.startswith("attachments:") and "symbolic link" in p for p in result.problems)


def _snapshot_with_one_huge_line(root: Path, line_bytes: int) -> None:
    write_sample(root)
    record = b'{"issueId": "1", "padding": "' + b"x" * line_bytes + b'"}\n'
    data = gzip.compress(record, compresslevel=9)
    (root / "tests.jsonl.gz").write_bytes(data)
    manifest = json.loads((root / "manifest.json").read_text())
    manifest["entities"]["tests"].update(sha256=hashlib.sha256(data).hexdigest(), bytes=len(data), count=1)
    (root / "manifest.json").write_text(json.dumps(manifest))


def test_a_line_decompressing_past_the_bound_is_refused_without_holding_it(tmp_path):
    import tracemalloc

    from app.backups.snapshot import verifier

    root = tmp_path / "snap"
    _snapshot_with_one_huge_line(root, 120 * 1024 * 1024)  # a 120 MB line in a file of about 120 KB
    assert (root / "tests.jsonl.gz").stat().st_size < 1024 * 1024
    tracemalloc.start()
    try:
        result = verify_snapshot(root)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert any("tests.jsonl.gz: line 1 is longer than" in p for p in result.problems)
    assert peak < 3 * verifier.MAX_LINE_BYTES


def test_lines_within_the_bound_still_verify(tmp_path):
    root = tmp_path / "snap"
    _snapshot_with_one_huge_line(root, 2 * 1024 * 1024)
    assert verify_snapshot(root).problems == []


@pytest.mark.parametrize("attachment_id", ["a" * 300, "é" * 200, "id/with/slashes-" * 30, "😀" * 100])
def test_long_attachment_ids_are_stored_under_a_safe_name_with_the_id_in_the_index(tmp_path, attachment_id):
    root = tmp_path / "snap"
    writer = SnapshotWriter(root, run_id="run1", started_at="2026-01-01T00:00:00Z", xray_api_url="http://x")
    with writer.attachment(attachment_id, filename="long.txt", owner={"type": "test_run", "testRunId": "r"}) as fh:
        fh.write(b"long id bytes")
    writer.finish(finished_at="2026-01-01T00:01:00Z", requests=1)
    name = attachment_path(attachment_id)
    assert len(name.split("/", 1)[1].encode()) <= 255 and (root / name).read_bytes() == b"long id bytes"
    index = [json.loads(line) for line in gzip.decompress((root / ATTACHMENTS_INDEX).read_bytes()).splitlines()]
    assert [entry["id"] for entry in index] == [attachment_id]
    assert verify_snapshot(root).problems == []


def test_a_hashed_name_never_collides_with_an_escaped_id():
    long_id = "b" * 300
    hashed = attachment_path(long_id).split("/", 1)[1]
    assert "+" in hashed and attachment_path(hashed) != attachment_path(long_id)
    assert "+" not in attachment_path("short+id").split("/", 1)[1]
