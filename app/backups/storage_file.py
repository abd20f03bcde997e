"""The `file://` snapshot store: a temporary folder, fsynced, then renamed into place (the rename reveals it)."""
from __future__ import annotations

import errno
import hashlib
import logging
import os
import secrets
import shutil
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

from .envelope import EncryptingReader
from .storage import (
    MARKER,
    Progress,
    SnapshotIntegrityError,
    SnapshotNotFound,
    SnapshotStore,
    StorageError,
    StorageUnavailable,
    StoredFile,
    build_marker,
    file_context,
    local_files,
    parse_snapshot_key,
    snapshot_key_for,
    tenant_hash,
)

logger = logging.getLogger(__name__)

_TMP = ".tmp-"
_TRASH = ".trash-"
_COPY = 1024 * 1024


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _newest_mtime(path: Path) -> datetime:
    newest = path.lstat().st_mtime
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            try:
                newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime)
            except FileNotFoundError:  # removed meanwhile by its owner
                pass
    return datetime.fromtimestamp(newest, timezone.utc)


class FileSnapshotStore(SnapshotStore):
    """Snapshots under a local (or mounted) folder."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.url = self.root.as_uri() if self.root.is_absolute() else str(self.root)

    @contextmanager
    def _disk(self, action: str):
        try:
            yield
        except StorageError:
            raise
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise StorageUnavailable(
                f"snapshot storage {self.url} failed while {action}: {reason}. "
                "Check that the folder exists, is writable by the app and has free space."
            ) from exc

    def _check_root(self) -> None:
        """A root that is missing is merely empty; one that is not a folder is a configuration error."""
        if self.root.exists() and not self.root.is_dir():
            raise NotADirectoryError(errno.ENOTDIR, "the storage path is not a folder", str(self.root))

    def _tenant_dir(self, tenant_key: str) -> Path:
        return self.root / "tenants" / tenant_hash(tenant_key)

    def _final_dir(self, snapshot_key: str) -> Path:
        parse_snapshot_key(snapshot_key)
        return self.root / snapshot_key

    def publish(self, tenant_key, run_id, local_dir, data_key, *, progress: Progress | None = None) -> str:
        key = snapshot_key_for(tenant_key, run_id)
        files = local_files(Path(local_dir))
        final = self.root / key
        with self._disk("publishing a snapshot"):
            self._check_root()
            if (final / MARKER).is_file():
                logger.info("snapshot %s is already published; keeping it", key)
                return key
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = final.parent / f"{_TMP}{run_id}-{secrets.token_hex(6)}"
            tmp.mkdir()
        try:
            with self._disk("publishing a snapshot"):
                written = [self._store_file(key, tmp, rel, path, data_key, progress) for rel, path in files]
                stored = [self._verify_stored(tmp, *item) for item in written]
                marker = build_marker(key, tmp.name, stored, data_key, datetime.now(timezone.utc))
                self._write_synced(tmp / MARKER, marker)
                for directory in sorted({p.parent for p in tmp.rglob("*")} | {tmp}, key=lambda p: -len(p.parts)):
                    _fsync_dir(directory)
                self._reveal(tmp, final, key)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return key

    def _store_file(self, key, tmp: Path, rel: str, source: Path, data_key: bytes, progress):
        target = tmp / rel
        if target.parent != tmp:
            target.parent.mkdir(parents=True, exist_ok=True)
        with source.open("rb") as src, target.open("xb") as out:
            reader = EncryptingReader(src, data_key, file_context(key, rel))
            shutil.copyfileobj(reader, out, _COPY)
            out.flush()
            os.fsync(out.fileno())
        if progress:
            progress(rel, reader.plain_size)
        return StoredFile(rel, reader.plain_size, reader.plain_sha256, reader.stored_size), reader.stored_sha256

    @staticmethod
    def _verify_stored(tmp: Path, entry: StoredFile, stored_sha256: str) -> StoredFile:
        """Re-read what was written: the disk must give back exactly the bytes that were encrypted."""
        digest = hashlib.sha256()
        with (tmp / entry.path).open("rb") as fh:
            while block := fh.read(_COPY):
                digest.update(block)
        if (tmp / entry.path).stat().st_size != entry.stored or digest.hexdigest() != stored_sha256:
            raise StorageUnavailable(f"snapshot storage returned other bytes than written for {entry.path}")
        return entry

    @staticmethod
    def _write_synced(path: Path, data: bytes) -> None:
        with path.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def _reveal(self, tmp: Path, final: Path, key: str) -> None:
        try:
            os.rename(tmp, final)
        except OSError as exc:
            if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
                raise
            # Another publisher of the same run got there first: its snapshot stands, ours is dropped.
            if not (final / MARKER).is_file():
                raise StorageUnavailable(f"snapshot storage holds an incomplete folder at {key}; remove it") from None
            shutil.rmtree(tmp, ignore_errors=True)
            logger.info("snapshot %s was published concurrently; keeping the first", key)
            return
        _fsync_dir(final.parent)

    def exists(self, snapshot_key: str) -> bool:
        try:
            final = self._final_dir(snapshot_key)
        except SnapshotNotFound:
            return False
        with self._disk("checking a snapshot"):
            self._check_root()
            return (final / MARKER).is_file()

    def _read_marker(self, snapshot_key: str) -> bytes:
        final = self._final_dir(snapshot_key)
        with self._disk("reading a snapshot"):
            try:
                return (final / MARKER).read_bytes()
            except FileNotFoundError:
                raise SnapshotNotFound(f"no complete snapshot {snapshot_key}") from None

    def _open_stored(self, snapshot_key: str, attempt: str, rel_path: str) -> BinaryIO:
        with self._disk("reading a snapshot"):
            try:
                return _DiskReader(self, (self.root / snapshot_key / rel_path).open("rb"))
            except FileNotFoundError:
                raise SnapshotIntegrityError(f"snapshot {snapshot_key}: {rel_path} is missing from storage") from None

    def delete(self, snapshot_key: str) -> None:
        final = self._final_dir(snapshot_key)
        _, run_id = parse_snapshot_key(snapshot_key)
        with self._disk("deleting a snapshot"):
            self._discard(final, f"{_TRASH}{run_id}-{secrets.token_hex(6)}")

    def _discard(self, path: Path, trash_name: str) -> None:
        """Rename out of sight first (atomic), then remove; a crash in between leaves trash cleanup removes."""
        trash = path.parent / trash_name
        try:
            os.rename(path, trash)
        except FileNotFoundError:
            return
        _fsync_dir(path.parent)
        shutil.rmtree(trash)

    def list_snapshots(self, tenant_key: str) -> list[str]:
        tenant_dir = self._tenant_dir(tenant_key)
        with self._disk("listing snapshots"):
            self._check_root()
            if not tenant_dir.is_dir():
                return []
            return sorted(
                f"tenants/{tenant_dir.name}/{entry.name}"
                for entry in tenant_dir.iterdir()
                if not entry.name.startswith(".") and (entry / MARKER).is_file()
            )

    def delete_tenant(self, tenant_key: str) -> None:
        tenant_dir = self._tenant_dir(tenant_key)
        with self._disk("deleting a tenant's snapshots"):
            self._discard(tenant_dir, f"{_TRASH}{tenant_dir.name}-{secrets.token_hex(6)}")

    def cleanup_incomplete(self, older_than: datetime) -> int:
        if older_than.tzinfo is None:
            raise ValueError("older_than must be an aware datetime")
        tenants = self.root / "tenants"
        removed = 0
        with self._disk("cleaning up incomplete snapshots"):
            self._check_root()
            if not tenants.is_dir():
                return 0
            for parent in [tenants, *(d for d in tenants.iterdir() if d.is_dir() and not d.name.startswith("."))]:
                for entry in list(parent.iterdir()):
                    if self._is_leftover(parent, entry, older_than):
                        self._remove_leftover(entry)
                        removed += 1
                        logger.info("removed incomplete snapshot data %s", entry.relative_to(self.root))
        return removed

    def _remove_leftover(self, entry: Path) -> None:
        if entry.name.startswith(_TRASH):
            shutil.rmtree(entry, ignore_errors=True)
            return
        # Rename before removing: a very slow publisher renaming this same folder into place either wins the race
        # (and its snapshot stays whole) or finds its folder gone (and fails); rmtree alone could gut its snapshot.
        try:
            self._discard(entry, f"{_TRASH}{entry.name.lstrip('.')}-{secrets.token_hex(6)}")
        except FileNotFoundError:
            pass

    @staticmethod
    def _is_leftover(parent: Path, entry: Path, older_than: datetime) -> bool:
        if not entry.is_dir():
            return False
        if entry.name.startswith(_TRASH):
            return True  # already invisible and meant to go: safe at any age
        if parent.name == "tenants":
            return False  # tenant folders themselves
        if entry.name.startswith(_TMP) or not (entry / MARKER).exists():
            return _newest_mtime(entry) < older_than
        return False

    def size(self, snapshot_key: str) -> int:
        final = self._final_dir(snapshot_key)
        with self._disk("measuring a snapshot"):
            self._check_root()
            if not (final / MARKER).is_file():
                raise SnapshotNotFound(f"no complete snapshot {snapshot_key}")
            return sum(p.stat().st_size for p in final.rglob("*") if p.is_file())


class _DiskReader:
    """A stored file whose read errors become StorageUnavailable."""

    def __init__(self, store: FileSnapshotStore, fh: BinaryIO):
        self._store, self._fh = store, fh

    def read(self, size: int = -1) -> bytes:
        with self._store._disk("reading a snapshot"):
            return self._fh.read(size)

    def close(self) -> None:
        self._fh.close()
