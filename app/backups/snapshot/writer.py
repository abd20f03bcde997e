"""Writing an `xray-backup/1` snapshot folder: records and attachments streamed in, every file fsynced, manifest last.

Each gzip JSON-lines file is a sequence of gzip members, one per record (still one valid gzip file: Python's gzip,
zcat and the verifier read every member). The same record always compresses to the same bytes (zlib's gzip header
has mtime 0 and no name; the level is fixed), so storage can recognise a record it already holds and keep it once
(see app/backups/store/packing.py). An empty file is one empty member, so it is still a gzip file.

Pure: no Flask, no database, no network.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import zlib
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

from ...fsutil import fsync_dir
from .format import ATTACHMENTS_DIR, ATTACHMENTS_INDEX, CHUNK, ENTITY_NAMES, FORMAT, MANIFEST, attachment_path, \
    entity_file


class SnapshotError(Exception):
    """The snapshot could not be written as asked."""


class _HashingFile(io.RawIOBase):
    """A write-only file that hashes and counts what passes through to the real file."""

    def __init__(self, fh: IO[bytes]):
        self._fh = fh
        self.sha256 = hashlib.sha256()
        self.bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        view = memoryview(data)
        self._fh.write(view)
        self.sha256.update(view)
        self.bytes += len(view)
        return len(view)


COMPRESS_LEVEL = 6


def record_member(line: bytes) -> bytes:
    """One gzip member holding one line: mtime 0, no file name, a fixed level, so the same line gives the same bytes."""
    return zlib.compress(line, level=COMPRESS_LEVEL, wbits=31)


class _JsonLinesFile:
    """One gzip JSON-lines file being written, one gzip member per record: lines counted, compressed bytes hashed."""

    def __init__(self, path: Path):
        self.path = path
        self._raw = open(path, "wb")
        self._hashing = _HashingFile(self._raw)
        self.count = 0
        self.closed = False

    def write(self, record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), sort_keys=False)
        self._hashing.write(record_member(line.encode("utf-8") + b"\n"))
        self.count += 1

    def close(self) -> dict:
        if not self.closed:
            if not self.count:
                self._hashing.write(record_member(b""))  # an empty file is still a gzip file
            self._raw.flush()
            os.fsync(self._raw.fileno())
            self._raw.close()
            self.closed = True
        return {"file": self.path.name, "count": self.count, "sha256": self._hashing.sha256.hexdigest(),
                "bytes": self._hashing.bytes}

    def discard(self) -> None:
        if not self.closed:
            self._raw.close()
            self.closed = True


@dataclass
class AttachmentResult:
    id: str
    size: int
    sha256: str


class SnapshotWriter:
    """Stream records and attachments into a snapshot folder; `finish` fsyncs and writes the manifest last."""

    def __init__(self, root: Path | str, *, run_id: str, started_at: str, xray_api_url: str):
        self.root = Path(root)
        if self.root.exists() and any(self.root.iterdir()):
            raise SnapshotError(f"{self.root} is not empty")
        (self.root / ATTACHMENTS_DIR).mkdir(parents=True, exist_ok=True)
        self.run_id = run_id
        self.started_at = started_at
        self.xray_api_url = xray_api_url
        self.warnings: list[str] = []
        self.projects: list[dict] = []
        self._files = {name: _JsonLinesFile(self.root / entity_file(name)) for name in ENTITY_NAMES}
        self._index = _JsonLinesFile(self.root / ATTACHMENTS_INDEX)
        self._attachment_ids: set[str] = set()
        self._attachment_bytes = 0
        self.last_attachment: AttachmentResult | None = None
        self.finished = False

    # -- records -------------------------------------------------------------------------------
    def write(self, entity: str, record: dict) -> None:
        """Append one record (one JSON line) to an entity's file."""
        try:
            target = self._files[entity]
        except KeyError:
            raise SnapshotError(f"unknown entity {entity!r}") from None
        target.write(record)

    def count(self, entity: str) -> int:
        return self._files[entity].count

    def counts(self) -> dict[str, int]:
        result = {name: f.count for name, f in self._files.items()}
        result["attachments"] = len(self._attachment_ids)
        return result

    @property
    def attachment_bytes(self) -> int:
        return self._attachment_bytes

    def add_warning(self, text: str) -> None:
        self.warnings.append(text)

    # -- attachments ---------------------------------------------------------------------------
    def has_attachment(self, attachment_id: str) -> bool:
        return str(attachment_id) in self._attachment_ids

    @contextmanager
    def attachment(self, attachment_id: str, *, filename: str | None, owner: dict) -> Iterator[IO[bytes]]:
        """Open `attachments/<id>` for writing; on a clean exit it is fsynced, hashed from disk and indexed.

        The caller gets a real file, so a download that restarts may seek and truncate it.
        """
        attachment_id = str(attachment_id)
        if attachment_id in self._attachment_ids:
            raise SnapshotError(f"attachment {attachment_id} written twice")
        path = self.root / attachment_path(attachment_id)
        raw = open(path, "w+b")
        try:
            yield raw
            raw.flush()
            os.fsync(raw.fileno())
            raw.seek(0)
            digest = hashlib.sha256()
            size = 0
            while chunk := raw.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        except BaseException:
            raw.close()
            path.unlink(missing_ok=True)
            raise
        raw.close()
        self.last_attachment = AttachmentResult(attachment_id, size, digest.hexdigest())
        self._attachment_ids.add(attachment_id)
        self._attachment_bytes += size
        self._index.write({"id": attachment_id, "filename": filename, "size": size,
                           "sha256": digest.hexdigest(), "owner": owner})

    # -- completion ----------------------------------------------------------------------------
    def finish(self, *, finished_at: str, requests: int, projects: list[dict] | None = None,
               extra: dict | None = None) -> dict:
        """Close and fsync every file, then write and fsync the manifest; return it."""
        entities = {name: f.close() for name, f in self._files.items()}
        index = self._index.close()
        manifest = {
            "format": FORMAT,
            "runId": self.run_id,
            "startedAt": self.started_at,
            "finishedAt": finished_at,
            "xrayApiUrl": self.xray_api_url,
            "projects": list(projects if projects is not None else self.projects),
            "entities": entities,
            "attachments": {"count": len(self._attachment_ids), "bytes": self._attachment_bytes,
                            "file": index["file"], "sha256": index["sha256"], "indexBytes": index["bytes"]},
            "requests": requests,
            "warnings": list(self.warnings),
        }
        if extra:
            manifest.update(extra)
        fsync_dir(self.root / ATTACHMENTS_DIR)
        tmp = self.root / (MANIFEST + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, ensure_ascii=False, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.root / MANIFEST)
        fsync_dir(self.root)
        self.finished = True
        return manifest

    def abort(self) -> None:
        """Close what is open and remove the folder."""
        for f in self._files.values():
            f.discard()
        self._index.discard()
        shutil.rmtree(self.root, ignore_errors=True)
