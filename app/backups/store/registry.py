"""The store BACKUP_STORAGE_URL names: `file:///abs/path` or `s3://bucket/prefix` (S3_ENDPOINT_URL for others)."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from .backend import StorageError
from .file import FileBackend
from .repository import SnapshotStore
from .s3 import S3Backend


def open_store(config) -> SnapshotStore:
    """Build the snapshot store of a configuration (the app builds one at start: app/services.py)."""
    parts = urlsplit(config.backup_storage_url)
    if parts.scheme == "file":
        return SnapshotStore(FileBackend(Path(unquote(parts.path))))
    if parts.scheme == "s3":
        return SnapshotStore(S3Backend(parts.netloc, parts.path.strip("/"), endpoint_url=config.s3_endpoint_url))
    raise StorageError(f"BACKUP_STORAGE_URL must be file:///path or s3://bucket/prefix, got {parts.scheme}://")
