"""The parent snapshot an incremental backup builds on: its manifest, record files and attachments, checked.

`load_parent(read, folder)` copies the parent's manifest, record files and attachment index into a local folder
through `read(path) -> chunks` (the snapshot store's `read_file`, which checks every file against the stored index)
and checks what an incremental read relies on: the format, every entity file, and each file's line count. Anything
wrong raises `ParentUnusable` with a reason an admin can read; the caller then reads everything instead.
Attachment bytes are not copied here: `read_attachment(id)` streams one when the new snapshot needs it.
"""
from __future__ import annotations

import gzip
import json
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..snapshot.format import ATTACHMENTS_INDEX, ENTITY_NAMES, FORMAT, MANIFEST, attachment_path, entity_file
from ..store.backend import SnapshotIntegrityError, SnapshotNotFound, StorageError

Reader = Callable[[str], Iterable[bytes]]


class ParentUnusable(Exception):
    """The parent snapshot cannot be built on; the message says why (it ends up in the run's message)."""


class ParentSnapshot:
    """A parent snapshot fetched into `folder`: records streamed from there, attachments from storage."""

    def __init__(self, manifest: dict, folder: Path, attachments: dict[str, dict], read: Reader):
        self.manifest = manifest
        self.folder = folder
        self.attachments = attachments  # id → its line in the parent's attachment index
        self._read = read

    @property
    def started_at(self) -> str:
        return self.manifest["startedAt"]

    @property
    def project_ids(self) -> set[str]:
        return {str(p.get("id")) for p in self.manifest.get("projects") or []}

    def records(self, entity: str) -> Iterator[dict]:
        """The parent's records of one entity, in its order."""
        return _lines(self.folder / entity_file(entity))

    def read_attachment(self, attachment_id: str) -> Iterable[bytes]:
        """The stored bytes of one of the parent's attachments (checked against the stored index as read)."""
        return self._read(attachment_path(attachment_id))


def _lines(path: Path) -> Iterator[dict]:
    with gzip.open(path, "rb") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def _fetch(read: Reader, path: str, target: Path) -> None:
    with open(target, "wb") as fh:
        for chunk in read(path):
            fh.write(chunk)


def load_parent(read: Reader, folder: Path) -> ParentSnapshot:
    """Fetch and check the parent's manifest, record files and attachment index; ParentUnusable if unusable."""
    folder.mkdir(parents=True, exist_ok=True)
    try:
        manifest = json.loads(b"".join(read(MANIFEST)))
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise ParentUnusable(f"the previous snapshot is not in the {FORMAT} format this version reads")
        entities = manifest.get("entities") or {}
        if not isinstance(manifest.get("startedAt"), str) or any(name not in entities for name in ENTITY_NAMES):
            raise ParentUnusable("the previous snapshot's manifest lacks what an incremental backup needs")
        try:
            datetime.fromisoformat(manifest["startedAt"].replace("Z", "+00:00"))
        except ValueError:
            raise ParentUnusable("the previous snapshot's manifest lacks what an incremental backup needs")
        for name in ENTITY_NAMES:
            _fetch(read, entity_file(name), folder / entity_file(name))
            if sum(1 for _ in _lines(folder / entity_file(name))) != entities[name].get("count"):
                raise ParentUnusable(f"the previous snapshot's {name} file does not match its manifest")
        _fetch(read, ATTACHMENTS_INDEX, folder / ATTACHMENTS_INDEX)
        attachments = {str(a["id"]): a for a in _lines(folder / ATTACHMENTS_INDEX)}
    except StorageError as exc:
        raise ParentUnusable(f"the previous snapshot could not be read from storage ({_storage_words(exc)})") from None
    except (ValueError, KeyError, TypeError, OSError, EOFError, gzip.BadGzipFile):
        raise ParentUnusable("the previous snapshot's files could not be read") from None
    return ParentSnapshot(manifest, folder, attachments, read)


def _storage_words(exc: StorageError) -> str:
    if isinstance(exc, SnapshotNotFound):
        return "it is missing"
    if isinstance(exc, SnapshotIntegrityError):
        return "it failed its integrity check"
    return "the storage was unavailable"
