"""Incremental-backup test helpers: compare snapshot folders by record id, change a dataset as users would."""
from __future__ import annotations

import hashlib
from pathlib import Path

from app.backups.export.parent import ParentSnapshot, load_parent
from app.backups.snapshot.format import ENTITY_NAMES, attachment_path
from tests.support.backups import expected_snapshot, read_snapshot


def record_id(entity: str, record: dict) -> str:
    if entity == "test_runs":
        return record["id"]
    if entity in ("folders", "project_settings"):
        return record["projectId"]
    return record["issueId"]


def by_id(entity: str, records: list[dict]) -> dict[str, dict]:
    out = {record_id(entity, r): r for r in records}
    assert len(out) == len(records), f"{entity}: duplicate ids"
    return out


def assert_same_data(got: dict[str, list[dict]], want: dict[str, list[dict]]) -> None:
    """Every entity holds the same records by id (order aside)."""
    for name in ENTITY_NAMES:
        a, b = by_id(name, got[name]), by_id(name, want[name])
        assert set(a) == set(b), f"{name}: missing {sorted(set(b) - set(a))[:5]} extra {sorted(set(a) - set(b))[:5]}"
        for key in a:
            if a[key] != b[key]:
                fields = sorted(k for k in set(a[key]) | set(b[key]) if a[key].get(k) != b[key].get(k))
                raise AssertionError(f"{name} {key} differs in {fields}")


def assert_matches_truth(root: Path, ds, base_url: str) -> None:
    """The snapshot folder holds exactly the dataset's records (by id) and every stored attachment's bytes."""
    got = read_snapshot(root)
    assert_same_data(got, expected_snapshot(ds, base_url))
    stored = {a["id"] for a in ds.attachments.values() if not a["storedInJira"]}
    assert {a["id"] for a in got["attachments"]} == stored
    for att_id in stored:
        data = (root / attachment_path(att_id)).read_bytes()
        assert data == ds.attachment_bytes(att_id), f"attachment {att_id} differs"
    for entry in got["attachments"]:
        assert entry["sha256"] == hashlib.sha256(ds.attachment_bytes(entry["id"])).hexdigest()


def local_parent(snapshot: Path, work: Path) -> ParentSnapshot:
    """A snapshot folder on disk as a parent (reads as the store's read_file would, without the encryption)."""

    def read(path: str):
        target = snapshot / path
        yield target.read_bytes()

    return load_parent(read, work)
