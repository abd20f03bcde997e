"""What a record's content is, for comparing two snapshots: a digest of the whole and of each named part. Pure.

Two records are the same item when their ids match; the item is modified when its content digest differs. The
content is the record as stored, minus what is not content: `lastModified` (it moves with the content, and an edit
undone leaves the item as it was), `downloadLink` (a transport detail: the file is named by its id and its bytes are
compared through the attachments index) and a child connection's paging fields (`start`, `limit`). A relation change
(a test joining a set) changes the connection's `results`, so it counts.

Parts say, for a modified issue, what changed in words an admin reads. Names are stable: extend, never rename.
"""
from __future__ import annotations

import hashlib
import json

IGNORED_KEYS = frozenset({"lastModified", "downloadLink"})
PAGING_KEYS = frozenset({"start", "limit"})
_ENCODE = json.JSONEncoder(sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str).encode

# Top-level record keys -> the part an admin sees. A key not listed here is the part "other".
PARTS = {
    "jira": "fields",
    "steps": "steps",
    "gherkin": "definition", "scenarioType": "definition", "unstructured": "definition", "definition": "definition",
    "testType": "type", "preconditionType": "type",
    "preconditions": "preconditions",
    "folder": "folder", "folders": "folders",
    "dataset": "dataset",
    "tests": "tests",
    "testExecutions": "testExecutions",
    "testEnvironments": "testEnvironments",
    "projectId": "project",
}
# The order parts are reported in (the most telling first).
PART_ORDER = ("fields", "steps", "definition", "type", "preconditions", "folder", "folders", "dataset", "tests",
              "testExecutions", "testEnvironments", "project", "other")


def content(value):
    """The value with what is not content removed, at any depth. (Rebuilding is cheaper than it looks: a regular
    expression over the encoded text, tried instead, was slower and harder to trust.)"""
    if isinstance(value, dict):
        is_connection = "results" in value and "total" in value
        return {k: content(v) for k, v in value.items()
                if k not in IGNORED_KEYS and not (is_connection and k in PAGING_KEYS)}
    if isinstance(value, list):
        return [content(v) for v in value]
    return value


def canonical(value) -> str:
    """The value's content as canonical JSON text (sorted keys, no spaces)."""
    return _ENCODE(content(value))


PART_DIGEST = 8  # bytes per part: only compared between two versions of one item, never looked up


def _digest(value, size: int = 16) -> bytes:
    return hashlib.blake2b(canonical(value).encode("utf-8", "surrogatepass"), digest_size=size).digest()


def digest(record: dict) -> bytes:
    """A 16-byte digest of the record's content."""
    return _digest(record)


_ENCODE_AS_IS = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


def quick_digest(record: dict) -> bytes:
    """A digest of the record exactly as stored (keys in their order, nothing removed): equal quick digests mean the
    same content, so the slower canonical comparison runs only for the few records whose quick digests differ."""
    return hashlib.blake2b(_ENCODE_AS_IS(record).encode("utf-8", "surrogatepass"), digest_size=16).digest()


def parts_vector(record: dict) -> bytes:
    """One short digest per part in PART_ORDER (zeros for a part the record does not have): two versions of an issue
    differ exactly when their vectors do. Compact on purpose: one is held per issue of the older snapshot."""
    grouped: dict[str, dict] = {}
    for key, value in record.items():
        if key != "issueId" and key not in IGNORED_KEYS:
            grouped.setdefault(PARTS.get(key, "other"), {})[key] = value
    return b"".join(_digest(grouped[name], PART_DIGEST) if name in grouped else bytes(PART_DIGEST)
                    for name in PART_ORDER)


def changed_parts(old: bytes, new: bytes) -> list[str]:
    """The parts whose digests differ between two parts vectors, in PART_ORDER."""
    return [name for i, name in enumerate(PART_ORDER)
            if old[i * PART_DIGEST:(i + 1) * PART_DIGEST] != new[i * PART_DIGEST:(i + 1) * PART_DIGEST]]
