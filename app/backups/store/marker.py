"""The COMPLETE marker that makes a stored snapshot visible. Pure: no storage, no Flask.

One plaintext JSON line (what cleanup needs without a key) followed by the encrypted index of the snapshot's
files (path, size, sha256); the index is authenticated with the tenant's data key, so a file removed, added,
replaced or moved in storage makes reading fail.

Format 2 (shared objects) adds, per file, where its bytes are when they are not the snapshot's own file: `object`
(a blob holding it whole) or `ranges` (a recipe of pack ranges); and to the header `storedBytes` (every byte the
snapshot references, shared ones included) and `addedBytes` (what its publish added to storage besides the marker).
Format 1 markers, written before, are read as they are: every file is the snapshot's own.
"""
from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import PurePosixPath

from .backend import SnapshotIntegrityError
from .envelope import EnvelopeError, decrypt_bytes, encrypt_bytes
from .objects import is_ref

MARKER = "COMPLETE"
STORE_FORMAT = "xray-backup-store/2"
LEGACY_FORMAT = "xray-backup-store/1"
FORMATS = (STORE_FORMAT, LEGACY_FORMAT)


@dataclass(frozen=True)
class StoredFile:
    path: str  # relative, POSIX
    size: int  # plaintext bytes
    sha256: str  # plaintext
    stored: int  # bytes in storage it references: encrypted size of its own file or blob, or its ranges' length
    object: str | None = None  # "blobs/<name>": a shared blob holds the file whole
    ranges: list | None = None  # [["packs/<name>", offset, length], ...]: the file is these pack bytes in order

    @property
    def refs(self) -> set[str]:
        """The shared objects this file needs."""
        if self.object is not None:
            return {self.object}
        return {r[0] for r in self.ranges} if self.ranges else set()

    def as_index(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def file_context(snapshot_key: str, rel_path: str) -> str:
    """What each file's chunks are bound to: the snapshot and the file's path in it."""
    return f"{snapshot_key}/{rel_path}"


def _marker_context(snapshot_key: str, header_line: str) -> str:
    # The plaintext header is bound too: editing it (say, to point at another attempt) fails authentication.
    return f"{file_context(snapshot_key, MARKER)}\n{header_line}"


def build_marker(snapshot_key: str, attempt: str, files: list[StoredFile], data_key: bytes, now: datetime, *,
                 added_bytes: int = 0) -> bytes:
    """The marker of a publish; `added_bytes`: what it added to storage besides the marker itself."""
    header = {
        "format": STORE_FORMAT,
        "attempt": attempt,
        "createdAt": now.isoformat(),
        "files": len(files),
        "storedBytes": sum(f.stored for f in files),
        "addedBytes": added_bytes,
    }
    index = {"snapshot": snapshot_key, "attempt": attempt, "files": [f.as_index() for f in files]}
    line = json.dumps(header)
    # Compressed: an index names every attachment blob and pack range, and is written by every publish.
    packed = zlib.compress(json.dumps(index, separators=(",", ":")).encode(), 6)
    sealed = encrypt_bytes(packed, data_key, _marker_context(snapshot_key, line))
    return line.encode() + b"\n" + sealed


def marker_header(raw: bytes) -> dict:
    """The plaintext part of a marker (readable without the data key)."""
    line, _, _ = raw.partition(b"\n")
    try:
        header = json.loads(line)
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("format") not in FORMATS:
        raise SnapshotIntegrityError("the snapshot's COMPLETE marker is unreadable")
    return header


def open_marker(raw: bytes, snapshot_key: str, data_key: bytes) -> tuple[str, list[StoredFile]]:
    """Authenticate a marker and return (attempt, files); raise SnapshotIntegrityError when it does not hold."""
    header = marker_header(raw)
    line, _, sealed = raw.partition(b"\n")
    try:
        plain = decrypt_bytes(sealed, data_key, _marker_context(snapshot_key, line.decode()))
        # Authenticated before it is inflated: only the holder of the data key could have written it.
        index = json.loads(zlib.decompress(plain) if header["format"] == STORE_FORMAT else plain)
    except (EnvelopeError, zlib.error):
        raise SnapshotIntegrityError(
            f"the snapshot {snapshot_key} cannot be decrypted: its data key was deleted or does not match, "
            "or the stored marker was tampered with"
        ) from None
    if index.get("snapshot") != snapshot_key or index.get("attempt") != header.get("attempt"):
        raise SnapshotIntegrityError(f"the marker of snapshot {snapshot_key} does not belong to it")
    try:
        files = [StoredFile(**entry) for entry in index["files"]]
    except (TypeError, KeyError):
        raise SnapshotIntegrityError(f"the marker of snapshot {snapshot_key} is not a snapshot index") from None
    for entry in files:
        parts = PurePosixPath(entry.path).parts
        if not parts or entry.path.startswith("/") or any(p in ("", ".", "..") for p in parts):
            raise SnapshotIntegrityError(f"the marker of snapshot {snapshot_key} names an unsafe path")
        if not all(is_ref(ref) for ref in entry.refs) or not _ranges_sound(entry):
            raise SnapshotIntegrityError(f"the marker of snapshot {snapshot_key} names an unknown object")
    return header["attempt"], files


def _ranges_sound(entry: StoredFile) -> bool:
    if entry.ranges is None:
        return True
    return all(
        isinstance(r, list) and len(r) == 3 and all(isinstance(n, int) and n >= 0 for n in r[1:]) for r in entry.ranges
    ) and sum(r[2] for r in entry.ranges) == entry.size
