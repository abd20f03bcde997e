"""Verifying an `xray-backup/1` snapshot on disk (a folder or a zip): re-read everything, report every problem.

Pure: no Flask, no database, no network. `verify_snapshot` returns the problems it found (none: the snapshot is
sound).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from .format import ATTACHMENTS_INDEX, CHUNK, ENTITY_NAMES, FORMAT, MANIFEST, attachment_path, entity_file

# One JSON line is one Xray object; a longer line is refused before it is held in memory (a zip of a few MB can
# otherwise decompress one line of hundreds).
MAX_LINE_BYTES = 16 * 1024 * 1024

class _Source:
    """Read access to a snapshot's files, in a folder or in a zip."""

    def names(self) -> set[str]: ...
    def open(self, name: str) -> IO[bytes]: ...
    def close(self) -> None: ...


class _FolderSource(_Source):
    """A snapshot folder; symbolic links inside it are listed as such and never followed."""

    def __init__(self, root: Path):
        self.root = root
        self.symlinks: list[str] = []

    def names(self) -> set[str]:
        found: set[str] = set()
        self.symlinks = []
        for folder, dirs, files in os.walk(self.root, followlinks=False):
            for entry in dirs + files:
                path = Path(folder, entry)
                relative = path.relative_to(self.root).as_posix()
                if path.is_symlink():
                    self.symlinks.append(relative)
                elif entry in files and path.is_file():
                    found.add(relative)
        self.symlinks.sort()
        return found

    def open(self, name: str) -> IO[bytes]:
        # O_NOFOLLOW: a file swapped for a link after listing is still not followed.
        return os.fdopen(os.open(self.root / name, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb")

    def close(self) -> None:
        pass


class _ZipSource(_Source):
    def __init__(self, path: Path):
        self.zip = zipfile.ZipFile(path)
        names = [n for n in self.zip.namelist() if not n.endswith("/")]
        self.prefix = ""
        if MANIFEST not in names:
            # Also accept a zip holding the snapshot folder itself: `<folder>/manifest.json`.
            tops = {n.split("/", 1)[0] for n in names}
            if len(tops) == 1 and f"{next(iter(tops))}/{MANIFEST}" in names:
                self.prefix = next(iter(tops)) + "/"
        self._names = {n[len(self.prefix):] for n in names if n.startswith(self.prefix)}

    def names(self) -> set[str]:
        return set(self._names)

    def open(self, name: str) -> IO[bytes]:
        return self.zip.open(self.prefix + name)

    def close(self) -> None:
        self.zip.close()


@dataclass
class Verification:
    problems: list[str] = field(default_factory=list)
    manifest: dict | None = None
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_snapshot(path: Path | str) -> Verification:
    """Re-read every file of a snapshot (folder or zip): hashes, sizes, line counts, JSON, manifest, attachments."""
    path = Path(path)
    result = Verification()
    if path.is_dir():
        source: _Source = _FolderSource(path)
    elif path.is_file() and zipfile.is_zipfile(path):
        try:
            source = _ZipSource(path)
        except (zipfile.BadZipFile, OSError) as exc:
            result.problems.append(f"{path}: not a readable zip ({exc})")
            return result
    else:
        result.problems.append(f"{path}: neither a snapshot folder nor a zip file")
        return result
    try:
        _verify(source, result)
    finally:
        source.close()
    return result


def _verify(source: _Source, result: Verification) -> None:
    problems = result.problems
    names = source.names()
    for link in getattr(source, "symlinks", []):
        problems.append(f"{link}: a symbolic link (refused: a snapshot holds only regular files)")
    if MANIFEST not in names:
        problems.append(f"{MANIFEST} is missing (the snapshot was never completed)")
        return
    try:
        with source.open(MANIFEST) as fh:
            manifest = json.loads(fh.read().decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        problems.append(f"{MANIFEST} is not valid JSON: {exc}")
        return
    if not isinstance(manifest, dict):
        problems.append(f"{MANIFEST} is not a JSON object")
        return
    result.manifest = manifest
    if manifest.get("format") != FORMAT:
        problems.append(f"{MANIFEST}: format is {manifest.get('format')!r}, expected {FORMAT!r}")
    for key in ("runId", "startedAt", "finishedAt", "xrayApiUrl", "projects", "entities", "attachments",
                "requests", "warnings"):
        if key not in manifest:
            problems.append(f"{MANIFEST}: {key!r} is missing")
    entities = manifest.get("entities") if isinstance(manifest.get("entities"), dict) else {}
    expected = {MANIFEST}
    for name in ENTITY_NAMES:
        meta = entities.get(name)
        if not isinstance(meta, dict):
            problems.append(f"{MANIFEST}: entity {name!r} is missing")
            continue
        filename = meta.get("file")
        if filename != entity_file(name):
            problems.append(f"{MANIFEST}: entity {name!r} names file {filename!r}, expected {entity_file(name)!r}")
            continue
        expected.add(filename)
        if filename not in names:
            problems.append(f"{filename} is missing")
            continue
        lines = _check_jsonl(source, filename, meta.get("sha256"), meta.get("bytes"), problems)
        if lines is not None:
            result.counts[name] = lines
            if lines != meta.get("count"):
                problems.append(f"{filename}: {lines} lines, manifest says {meta.get('count')}")
    for name in set(entities) - set(ENTITY_NAMES):
        problems.append(f"{MANIFEST}: unknown entity {name!r}")
    _verify_attachments(source, manifest.get("attachments"), names, expected, result)
    for extra in sorted(names - expected):
        problems.append(f"{extra}: not listed in the manifest")


def _check_jsonl(source: _Source, filename: str, sha256: str | None, size: int | None, problems: list[str],
                 on_record=None) -> int | None:
    """Hash the stored bytes and parse every line; return the line count (None when unreadable)."""
    digest = hashlib.sha256()
    stored = 0
    lines = 0
    with source.open(filename) as raw:
        hashing = _HashingReader(raw, digest)
        try:
            with gzip.GzipFile(fileobj=hashing, mode="rb") as gz:
                number = 0
                while line := gz.readline(MAX_LINE_BYTES + 1):
                    number += 1
                    if len(line) > MAX_LINE_BYTES:
                        problems.append(f"{filename}: line {number} is longer than "
                                        f"{MAX_LINE_BYTES // (1024 * 1024)} MiB (refused, not read further)")
                        return None
                    try:
                        record = json.loads(line)
                    except (ValueError, RecursionError) as exc:
                        problems.append(f"{filename}: line {number} is not valid JSON ({exc})")
                        return None
                    if not isinstance(record, dict):
                        problems.append(f"{filename}: line {number} is not a JSON object")
                        return None
                    if on_record is not None:
                        on_record(number, record)
                    lines += 1
            # Read whatever follows the gzip stream, so the hash covers the whole stored file.
            while hashing.read(CHUNK):
                pass
        except (OSError, EOFError, zlib.error) as exc:
            problems.append(f"{filename}: not a readable gzip file ({exc})")
            return None
        stored = hashing.bytes
    if sha256 is not None and digest.hexdigest() != sha256:
        problems.append(f"{filename}: sha256 {digest.hexdigest()} does not match the manifest ({sha256})")
    if size is not None and stored != size:
        problems.append(f"{filename}: {stored} bytes, manifest says {size}")
    return lines


class _HashingReader(io.RawIOBase):
    def __init__(self, fh: IO[bytes], digest):
        self._fh = fh
        self._digest = digest
        self.bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._fh.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        self._digest.update(data)
        self.bytes += n
        return n

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        self._digest.update(data)
        self.bytes += len(data)
        return data


def _verify_attachments(source: _Source, meta, names: set[str], expected: set[str], result: Verification) -> None:
    problems = result.problems
    if not isinstance(meta, dict):
        problems.append(f"{MANIFEST}: 'attachments' is missing or not an object")
        return
    expected.add(ATTACHMENTS_INDEX)
    if ATTACHMENTS_INDEX not in names:
        problems.append(f"{ATTACHMENTS_INDEX} is missing")
        return
    indexed: list[dict] = []

    def collect(number: int, record: dict) -> None:
        missing = [k for k in ("id", "filename", "size", "sha256", "owner") if k not in record]
        if missing:
            problems.append(f"{ATTACHMENTS_INDEX}: line {number} lacks {', '.join(missing)}")
            return
        # Only the id, size and hash are kept: the index of a large tenant stays small in memory.
        indexed.append({"id": str(record["id"]), "size": record["size"], "sha256": record["sha256"]})

    count = _check_jsonl(source, ATTACHMENTS_INDEX, meta.get("sha256"), meta.get("indexBytes"), problems, collect)
    if count is None:
        return
    result.counts["attachments"] = count
    if count != meta.get("count"):
        problems.append(f"{ATTACHMENTS_INDEX}: {count} attachments, manifest says {meta.get('count')}")
    total = 0
    seen: set[str] = set()
    for item in indexed:
        name = attachment_path(item["id"])
        if item["id"] in seen:
            problems.append(f"{ATTACHMENTS_INDEX}: attachment {item['id']} is listed twice")
        seen.add(item["id"])
        expected.add(name)
        if name not in names:
            problems.append(f"{name} is missing")
            continue
        digest = hashlib.sha256()
        size = 0
        with source.open(name) as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        total += size
        if size != item["size"]:
            problems.append(f"{name}: {size} bytes, the index says {item['size']}")
        if digest.hexdigest() != item["sha256"]:
            problems.append(f"{name}: sha256 does not match the index")
    if total != meta.get("bytes"):
        problems.append(f"attachments: {total} bytes in total, manifest says {meta.get('bytes')}")
