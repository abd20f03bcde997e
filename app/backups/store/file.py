"""The `file://` blob backend: one file per blob under a local (or mounted) folder.

A blob is written to a hidden temporary file beside its final name, fsynced, then renamed into place, so readers
see it whole or not at all; `put_if_absent` links the temporary file to its final name, which fails when the
name exists — an atomic create, also across processes sharing the folder.
"""
from __future__ import annotations

import errno
import logging
import os
import secrets
import shutil
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator

from ...fsutil import fsync_dir, write_synced
from .backend import BlobBackend, BlobInfo, BlobNotFound, StorageError, StorageUnavailable

logger = logging.getLogger(__name__)

HIDDEN = (".tmp-", ".trash-")  # temporary files of interrupted writes (and of the layout before blobs)
_COPY = 1024 * 1024


def _modified(path: Path) -> datetime:
    return datetime.fromtimestamp(path.lstat().st_mtime, timezone.utc)


class FileBackend(BlobBackend):
    """Blobs as files under `root`."""

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

    def _path(self, key: str) -> Path:
        return self.root / key

    def _temporary(self, final: Path) -> Path:
        final.parent.mkdir(parents=True, exist_ok=True)
        return final.parent / f"{HIDDEN[0]}{final.name}-{secrets.token_hex(6)}"

    def put(self, key: str, stream: BinaryIO) -> None:
        final = self._path(key)
        with self._disk("writing a snapshot"):
            self._check_root()
            tmp = self._temporary(final)
            try:
                with tmp.open("xb") as out:
                    shutil.copyfileobj(stream, out, _COPY)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, final)
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
            fsync_dir(final.parent)

    def put_if_absent(self, key: str, data: bytes) -> bool:
        final = self._path(key)
        with self._disk("writing a snapshot"):
            self._check_root()
            tmp = self._temporary(final)
            try:
                write_synced(tmp, data)
                os.link(tmp, final)
            except FileExistsError:
                return False
            finally:
                tmp.unlink(missing_ok=True)
            fsync_dir(final.parent)
            return True

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        with self._disk("reading a snapshot"):
            try:
                fh = self._path(key).open("rb")
            except (FileNotFoundError, NotADirectoryError):
                raise BlobNotFound(key) from None
            if offset:
                fh.seek(offset)
            return _DiskReader(self, fh)

    def size(self, key: str) -> int | None:
        with self._disk("reading a snapshot"):
            self._check_root()
            path = self._path(key)
            return path.stat().st_size if path.is_file() else None

    def list(self, prefix: str) -> Iterator[BlobInfo]:
        with self._disk("listing snapshots"):
            self._check_root()
            base = self._path(prefix)
            if not base.is_dir():
                return
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith(HIDDEN))
                for name in sorted(filenames):
                    if name.startswith(HIDDEN):
                        continue
                    path = Path(dirpath, name)
                    try:
                        info = BlobInfo(path.relative_to(self.root).as_posix(), path.stat().st_size, _modified(path))
                    except FileNotFoundError:  # removed meanwhile by its owner
                        continue
                    yield info

    def children(self, prefix: str) -> list[str]:
        with self._disk("listing snapshots"):
            self._check_root()
            base = self._path(prefix)
            if not base.is_dir():
                return []
            return sorted(entry.name for entry in base.iterdir() if entry.is_dir() and not entry.name.startswith("."))

    def probe(self) -> None:
        with self._disk("checking the storage"):
            self._check_root()
            # The root is created on the first write: then its nearest existing parent must be writable.
            folder = self.root
            while not folder.exists() and folder != folder.parent:
                folder = folder.parent
            if not os.access(folder, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, "not writable by the app", str(folder))

    def delete(self, keys: Iterable[str]) -> None:
        with self._disk("deleting a snapshot"):
            parents = set()
            for key in keys:
                path = self._path(key)
                path.unlink(missing_ok=True)
                parents.add(path.parent)
            for parent in sorted(parents, key=lambda p: -len(p.parts)):
                self._prune_empty(parent)

    def _prune_empty(self, folder: Path) -> None:
        """Remove folders left empty, up to (not including) the root; a folder still in use stays."""
        while folder != self.root and self.root in folder.parents:
            try:
                folder.rmdir()
            except OSError:  # not empty, or already gone
                return
            folder = folder.parent

    def abort_stale(self, older_than: datetime) -> None:
        with self._disk("cleaning up incomplete snapshots"):
            self._check_root()
            if not self.root.is_dir():
                return
            for dirpath, dirnames, filenames in os.walk(self.root):
                for name in [*dirnames, *filenames]:
                    path = Path(dirpath, name)
                    if name.startswith(HIDDEN) and self._stale(path, older_than):
                        if path.is_dir():
                            shutil.rmtree(path, ignore_errors=True)
                        else:
                            path.unlink(missing_ok=True)
                        logger.info("removed incomplete snapshot data %s", path.relative_to(self.root))
                dirnames[:] = [d for d in dirnames if not d.startswith(HIDDEN)]

    @staticmethod
    def _stale(path: Path, older_than: datetime) -> bool:
        """Judged by the newest entry inside: a writer still adding data is not a leftover yet."""
        try:
            newest = path.lstat().st_mtime
            for dirpath, dirnames, filenames in os.walk(path):
                for name in dirnames + filenames:
                    newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime)
        except FileNotFoundError:  # removed meanwhile by its owner
            return False
        return datetime.fromtimestamp(newest, timezone.utc) < older_than


class _DiskReader:
    """A stored file whose read errors become StorageUnavailable."""

    def __init__(self, backend: FileBackend, fh: BinaryIO):
        self._backend, self._fh = backend, fh

    def read(self, size: int = -1) -> bytes:
        with self._backend._disk("reading a snapshot"):
            return self._fh.read(size)

    def close(self) -> None:
        self._fh.close()
