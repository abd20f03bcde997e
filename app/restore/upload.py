"""Importing an uploaded snapshot zip: streamed to disk, checked entry by entry, verified file by file against its
manifest, then stored encrypted like any snapshot and recorded as a succeeded run with trigger `imported`.

The way to move Xray data between sites: download a snapshot on one, upload it on the other, restore it.
"""
from __future__ import annotations

import logging
import shutil
import stat
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import IO

from ..backups.lifecycle.datakeys import data_key_for
from ..backups.snapshot.format import MANIFEST
from ..backups.snapshot.verifier import verify_snapshot
from ..backups.store.backend import StorageError
from ..errors import PayloadTooLarge, ServiceUnavailable, ValidationFailed
from ..extensions import db
from ..models import BackupRun, Tenant, new_id
from ..presentation import iso

logger = logging.getLogger(__name__)

CHUNK = 256 * 1024
MAX_ENTRIES = 2_000_000
EXPANSION = 100  # an entry may not unpack to more than this many times the whole upload (zip bombs)


def receive(stream: IO[bytes], dest: Path, limit: int) -> int:
    """Copy the request body to a file, a chunk at a time; PayloadTooLarge past `limit` bytes."""
    size = 0
    with open(dest, "wb") as fh:
        while chunk := stream.read(CHUNK):
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"The snapshot is larger than the {limit // (1024 * 1024)} MiB this app accepts "
                                      "(MAX_UPLOAD_MB).")
            fh.write(chunk)
    return size


def _refuse(message: str, name: str | None = None):
    raise ValidationFailed(message, fields={"file": name} if name else {"body": message})


def _prefix(names: list[str]) -> str:
    """The one folder every entry sits in, when the zip holds the snapshot folder itself rather than its files."""
    if MANIFEST in names:
        return ""
    tops = {n.split("/", 1)[0] for n in names}
    if len(tops) == 1 and f"{next(iter(tops))}/{MANIFEST}" in names:
        return next(iter(tops)) + "/"
    return ""


def unpack(zip_path: Path, dest: Path, upload_size: int) -> None:
    """Extract a snapshot zip entry by entry, refusing links, unsafe paths and absurd sizes (422 naming the entry)."""
    if not zipfile.is_zipfile(zip_path):
        _refuse("The upload is not a zip file: upload the .zip a backup's Download gives.")
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError):
        _refuse("The upload is not a readable zip file.")
    with archive:
        entries = [info for info in archive.infolist() if not info.is_dir()]
        if len(entries) > MAX_ENTRIES:
            _refuse(f"The zip holds {len(entries)} files, more than a snapshot can.")
        prefix = _prefix([info.filename for info in entries])
        ceiling = max(upload_size, 1) * EXPANSION
        total = 0
        for info in entries:
            name = info.filename
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                _refuse(f"{name} is a symbolic link; a snapshot holds only files.", name)
            parts = PurePosixPath(name).parts
            if name.startswith("/") or "\\" in name or not parts or any(p in ("", ".", "..") for p in parts) \
                    or not name.startswith(prefix):
                _refuse(f"{name} is not a path inside the snapshot.", name)
            total += info.file_size
            if info.file_size > ceiling or total > ceiling:
                _refuse(f"{name} unpacks to an absurd size ({info.file_size} bytes).", name)
            target = dest / name[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            written = 0
            try:
                with archive.open(info) as src, open(target, "wb") as out:
                    while chunk := src.read(CHUNK):
                        written += len(chunk)
                        if written > info.file_size:
                            _refuse(f"{name} holds more than its declared size.", name)
                        out.write(chunk)
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                _refuse(f"{name} cannot be read from the zip ({type(exc).__name__}).", name)


def import_snapshot(tenant: Tenant, zip_path: Path, upload_size: int, services, now) -> BackupRun:
    """Verify an uploaded zip, store it encrypted, and record it as an imported run."""
    work = Path(tempfile.mkdtemp(prefix="upload-", dir=zip_path.parent))
    try:
        folder = work / "snapshot"
        folder.mkdir()
        unpack(zip_path, folder, upload_size)
        result = verify_snapshot(folder)
        if not result.ok:
            first = result.problems[0]
            name = first.split(":", 1)[0].split(" ", 1)[0]
            raise ValidationFailed(f"The snapshot failed verification: {first}", fields={"file": name})
        manifest = result.manifest or {}
        run_id = new_id()
        try:
            key = services.store.publish(tenant.client_key, run_id, folder, data_key_for(tenant, now, services.sealer))
        except StorageError as exc:
            raise ServiceUnavailable(f"The snapshot could not be stored: {exc}") from None
        size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
        run = BackupRun(id=run_id, tenant_id=tenant.id, status="succeeded", trigger="imported", queued_at=now,
                        started_at=now, finished_at=now, counts=result.counts, bytes=size, requests=0,
                        warnings=list(manifest.get("warnings") or []), snapshot_key=key,
                        message=f"Imported snapshot of the backup started {manifest.get('startedAt')} "
                                f"({len(manifest.get('projects') or [])} project(s)); it can be restored.")
        db.session.add(run)
        db.session.commit()
        logger.info("snapshot imported as run %s for tenant %s (%s bytes, taken %s)", run_id, tenant.id, size,
                    iso(now))
        return run
    finally:
        shutil.rmtree(work, ignore_errors=True)
