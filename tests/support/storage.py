"""Helpers for storage tests: a real S3 HTTP endpoint on loopback (moto's server mode) and local snapshot folders.

Import the fixtures into a test module to use them: `from tests.support.storage import s3_server, s3_store_factory`.
"""
from __future__ import annotations

import logging
import os
import uuid
from pathlib import Path

import pytest
from moto.server import ThreadedMotoServer

from app.backups.store.file import FileBackend
from app.backups.store.repository import SnapshotStore
from app.backups.store.s3 import S3Backend, make_s3_client

S3_CREDENTIALS = {"aws_access_key_id": "test-access", "aws_secret_access_key": "test-secret",
                  "region_name": "us-east-1"}


class S3Server:
    """moto's S3 served over HTTP on 127.0.0.1 and an ephemeral port."""

    def __init__(self):
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"

    def client(self, **kwargs):
        return make_s3_client(self.url, **S3_CREDENTIALS, **kwargs)

    def new_bucket(self) -> str:
        name = f"snapshots-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        self._server.stop()


@pytest.fixture(scope="session")
def s3_server():
    server = S3Server()
    yield server
    server.stop()


@pytest.fixture
def s3_store_factory(s3_server):
    """Build a snapshot store on a fresh bucket of the loopback S3 server."""

    def _make(prefix: str = "backups", **kwargs):
        return s3_store(s3_server.new_bucket(), prefix, client=s3_server.client(max_attempts=2), **kwargs)

    return _make


def file_store(root: Path) -> SnapshotStore:
    """A snapshot store over a local folder."""
    return SnapshotStore(FileBackend(root))


def s3_store(bucket: str, prefix: str = "", **kwargs) -> SnapshotStore:
    """A snapshot store over a bucket (kwargs: S3Backend's: client, endpoint_url, part_size, …)."""
    return SnapshotStore(S3Backend(bucket, prefix, **kwargs))


def write_snapshot_folder(folder: Path, files: dict[str, bytes]) -> Path:
    """Write a local snapshot folder holding `files` (relative path → bytes)."""
    for rel, data in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return folder


SECRET_MARK = b"PLAINTEXT-MARK-7f3a"


def sample_files(attachment_size: int = 3 * 1024 * 1024 + 17) -> dict[str, bytes]:
    """A small xray-backup/1-shaped folder whose contents carry a marker string that must never be stored."""
    return {
        "manifest.json": b'{"format": "xray-backup/1", "note": "' + SECRET_MARK + b'"}',
        "tests.jsonl.gz": os.urandom(2048),
        "attachments.jsonl.gz": b"",
        "attachments/6f1c0d7e-0000-4000-8000-000000000001": (SECRET_MARK + b" evidence ") * (attachment_size // 28),
    }
