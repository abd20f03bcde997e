"""The `xray-backup/1` snapshot format: a streaming writer (manifest last) and a verifier that re-reads everything.

Pure: no Flask, no database, no network. The writer takes records and attachment bytes; the verifier takes a
folder or a zip on disk and returns the list of problems it found (empty means the snapshot is sound).
"""
from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import zipfile
import zlib
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Iterator
from urllib.parse import quote

FORMAT = "xray-backup/1"
MANIFEST = "manifest.json"
ENTITY_NAMES = (
    "tests",
    "preconditions",
    "test_sets",
    "test_plans",
    "test_executions",
    "test_runs",
    "folders",
    "project_settings",
)
ATTACHMENTS_DIR = "attachments"
ATTACHMENTS_INDEX = "attachments.jsonl.gz"
CHUNK = 256 * 1024


def entity_file(name: str) -> str:
    return f"{name}.jsonl.gz"


def attachment_path(attachment_id: str) -> str:
    """The file name an attachment id is stored under (ids are UUIDs; anything else is escaped, never a path)."""
    name = quote(str(attachment_id), safe="-_.")
    if name in {"", ".", ".."}:
        name = quote(name, safe="") + "_"
    return f"{ATTACHMENTS_DIR}/{name}"


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


class _JsonLinesFile:
    """One gzip JSON-lines file being written: lines counted, compressed bytes hashed."""

    def __init__(self, path: Path):
        self.path = path
        self._raw = open(path, "wb")
        self._hashing = _HashingFile(self._raw)
        # mtime=0 and no file name in the header: the same records give the same bytes.
        self._gzip = gzip.GzipFile(filename="", mode="wb", fileobj=self._hashing, mtime=0, compresslevel=6)
        self.count = 0
        self.closed = False

    def write(self, record: dict) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), sort_keys=False)
        self._gzip.write(line.encode("utf-8") + b"\n")
        self.count += 1

    def close(self) -> dict:
        if not self.closed:
            self._gzip.close()
            self._raw.flush()
            os.fsync(self._raw.fileno())
            self._raw.close()
            self.closed = True
        return {"file": self.path.name, "count": self.count, "sha256": self._hashing.sha256.hexdigest(),
                "bytes": self._hashing.bytes}

    def discard(self) -> None:
        if not self.closed:
            self._gzip.close()
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
        _fsync_dir(self.root / ATTACHMENTS_DIR)
        tmp = self.root / (MANIFEST + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(manifest, fh, ensure_ascii=False, indent=2)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.root / MANIFEST)
        _fsync_dir(self.root)
        self.finished = True
        return manifest

    def abort(self) -> None:
        """Close what is open and remove the folder."""
        for f in self._files.values():
            f.discard()
        self._index.discard()
        shutil.rmtree(self.root, ignore_errors=True)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


# -- verification ----------------------------------------------------------------------------------

class _Source:
    """Read access to a snapshot's files, in a folder or in a zip."""

    def names(self) -> set[str]: ...
    def open(self, name: str) -> IO[bytes]: ...
    def close(self) -> None: ...


class _FolderSource(_Source):
    def __init__(self, root: Path):
        self.root = root

    def names(self) -> set[str]:
        return {p.relative_to(self.root).as_posix() for p in self.root.rglob("*") if p.is_file()}

    def open(self, name: str) -> IO[bytes]:
        return open(self.root / name, "rb")

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
                for number, line in enumerate(gz, start=1):
                    try:
                        record = json.loads(line)
                    except ValueError as exc:
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


def iter_snapshot_files(root: Path | str) -> Iterator[tuple[str, Path]]:
    """Every file of a snapshot folder as (relative posix name, path), manifest last."""
    root = Path(root)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    manifest = [p for p in files if p.relative_to(root).as_posix() == MANIFEST]
    for p in [p for p in files if p not in manifest] + manifest:
        yield PurePosixPath(p.relative_to(root).as_posix()).as_posix(), p
