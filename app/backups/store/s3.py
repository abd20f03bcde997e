"""The `s3://bucket/prefix` blob backend (AWS S3 or an S3-compatible store through S3_ENDPOINT_URL).

Uploads are multipart above the part size (a part is buffered in memory, so memory is bounded whatever the file
size) and become visible only when complete; `put_if_absent` is a conditional write (`If-None-Match: *`).
"""
from __future__ import annotations

import io
import logging
from contextlib import contextmanager
from datetime import datetime
from typing import BinaryIO, Iterable, Iterator
from urllib.parse import urlsplit

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
)

from .backend import BlobBackend, BlobInfo, BlobNotFound, StorageError, StorageUnavailable
from .envelope import CHUNK_SIZE

logger = logging.getLogger(__name__)

_PART_SIZE = 8 * 1024 * 1024
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_DENIED = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}


def make_s3_client(endpoint_url: str | None = None, *, max_attempts: int = 4, connect_timeout: float = 5,
                   read_timeout: float = 60, **session_kwargs):
    """An S3 client with bounded timeouts and retries; path-style addressing for S3-compatible endpoints."""
    config = Config(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"max_attempts": max_attempts, "mode": "standard"},
        s3={"addressing_style": "path"} if endpoint_url else None,
        # Many S3-compatible stores reject or miscompute the newer flexible checksums; AWS itself checks them.
        request_checksum_calculation="when_required" if endpoint_url else "when_supported",
        # Every stored byte is authenticated by the envelope on read, which also covers multipart objects whose
        # composite checksums some stores report in a form botocore cannot check.
        response_checksum_validation="when_required",
        # Reading a snapshot keeps one stream per pack it reads from (objects.MAX_OPEN_PACKS), plus uploads.
        max_pool_connections=40,
    )
    return boto3.session.Session(**session_kwargs).client("s3", endpoint_url=endpoint_url, config=config)


def _without_userinfo(url: str) -> str:
    """An endpoint fit for messages: scheme, host and port only."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


class S3Backend(BlobBackend):
    """Blobs as objects in one bucket under a prefix."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None, client=None,
                 part_size: int = _PART_SIZE, max_concurrency: int = 2):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client or make_s3_client(endpoint_url)
        self.endpoint_url = endpoint_url or (client.meta.endpoint_url if client is not None else None)
        self.url = f"s3://{bucket}" + (f"/{self.prefix}" if self.prefix else "") + (
            f" (endpoint {_without_userinfo(self.endpoint_url)})" if self.endpoint_url else "")
        self._conditional_writes = True
        # Parts are buffered in memory: part size × concurrency bounds what a publish holds, whatever the file size.
        self.transfer = TransferConfig(multipart_threshold=part_size, multipart_chunksize=part_size,
                                       max_concurrency=max_concurrency, io_chunksize=CHUNK_SIZE,
                                       preferred_transfer_client="classic")
        self.transfer.max_in_memory_upload_chunks = max_concurrency + 1

    # -- keys and errors -------------------------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return "/".join(p.strip("/") for p in (self.prefix, *parts) if p)

    @contextmanager
    def _s3(self, action: str):
        try:
            yield
        except StorageError:
            raise
        except ClientError as exc:
            code = self._code(exc)
            if code == "NoSuchBucket":
                hint = f"the bucket {self.bucket} does not exist: create it or correct BACKUP_STORAGE_URL"
            elif code in _DENIED:
                hint = ("access was denied: check the S3 credentials and that they may list, read, write and "
                        f"delete objects in {self.bucket}")
            else:
                hint = f"the storage answered {code or 'an error'}"
            raise StorageUnavailable(f"snapshot storage {self.url} failed while {action}: {hint}.") from exc
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise StorageUnavailable(
                f"snapshot storage {self.url} failed while {action}: no S3 credentials are configured "
                "(set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or give the host a role)."
            ) from exc
        except EndpointConnectionError as exc:
            raise StorageUnavailable(
                f"snapshot storage {self.url} is unreachable while {action}: could not connect. Check "
                "S3_ENDPOINT_URL, the network, and that the storage service is running."
            ) from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(
                f"snapshot storage {self.url} failed while {action}: {type(exc).__name__}. "
                "Check that the storage service is running and reachable."
            ) from exc

    @staticmethod
    def _code(exc: ClientError) -> str:
        return str(exc.response.get("Error", {}).get("Code", ""))

    def put(self, key: str, stream: BinaryIO) -> None:
        with self._s3("uploading a snapshot"):
            self.client.upload_fileobj(stream, self.bucket, self._key(key), Config=self.transfer,
                                       ExtraArgs={"ContentType": "application/octet-stream"})

    def put_if_absent(self, key: str, data: bytes) -> bool:
        arguments = {"Bucket": self.bucket, "Key": self._key(key), "Body": data,
                     "ContentType": "application/octet-stream"}
        with self._s3("writing a snapshot's marker"):
            if self._conditional_writes:
                try:
                    self.client.put_object(IfNoneMatch="*", **arguments)
                    return True
                except ClientError as exc:
                    code = self._code(exc)
                    if code in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                        return False
                    if code not in ("NotImplemented", "501", "InvalidArgument", "InvalidRequest"):
                        raise
                    # An S3-compatible store without conditional writes: check, then write (a narrow race remains).
                    logger.warning("snapshot storage %s does not support conditional writes", self.url)
                    self._conditional_writes = False
            if self.size(key) is not None:
                return False
            self.client.put_object(**arguments)
            return True

    def open(self, key: str, offset: int = 0) -> BinaryIO:
        arguments = {"Bucket": self.bucket, "Key": self._key(key)}
        if offset:
            arguments["Range"] = f"bytes={offset}-"
        with self._s3("reading a snapshot"):
            try:
                response = self.client.get_object(**arguments)
            except ClientError as exc:
                if self._code(exc) in _NOT_FOUND:
                    raise BlobNotFound(key) from None
                if offset and self._code(exc) == "InvalidRange":
                    return io.BytesIO(b"")  # past the end: nothing to read, as on a disk
                raise
        return _BodyReader(self, response["Body"])

    def size(self, key: str) -> int | None:
        with self._s3("reading a snapshot"):
            try:
                return self.client.head_object(Bucket=self.bucket, Key=self._key(key))["ContentLength"]
            except ClientError as exc:
                if self._code(exc) in _NOT_FOUND:
                    return None
                raise

    def _pages(self, prefix: str, delimiter: str | None = None) -> Iterator[dict]:
        kwargs = {"Bucket": self.bucket, "Prefix": self._key(prefix) + ("/" if prefix.endswith("/") else "")}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        yield from self.client.get_paginator("list_objects_v2").paginate(**kwargs)

    def list(self, prefix: str) -> Iterator[BlobInfo]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        with self._s3("listing snapshots"):
            for page in self._pages(prefix):
                for entry in page.get("Contents", []):
                    yield BlobInfo(entry["Key"][strip:], entry["Size"], entry["LastModified"])

    def children(self, prefix: str) -> list[str]:
        base = self._key(prefix) + "/"
        with self._s3("listing snapshots"):
            return sorted(cp["Prefix"][len(base):].rstrip("/")
                          for page in self._pages(prefix, "/") for cp in page.get("CommonPrefixes", []))

    def probe(self) -> None:
        with self._s3("checking the storage"):
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if self._code(exc) in _NOT_FOUND:  # HEAD answers a bare 404 for a missing bucket
                    raise StorageUnavailable(f"snapshot storage {self.url}: the bucket {self.bucket} does not "
                                             "exist: create it or correct BACKUP_STORAGE_URL.") from None
                raise

    def delete(self, keys: Iterable[str]) -> None:
        keys = [self._key(k) for k in keys]
        with self._s3("deleting a snapshot"):
            for start in range(0, len(keys), 1000):
                batch = [{"Key": k} for k in keys[start:start + 1000]]
                result = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
                if result.get("Errors"):
                    first = result["Errors"][0]
                    raise StorageUnavailable(
                        f"snapshot storage {self.url} refused to delete {len(result['Errors'])} object(s): "
                        f"{first.get('Code')}. Check the credentials may delete objects."
                    )

    def abort_stale(self, older_than: datetime) -> None:
        with self._s3("cleaning up incomplete snapshots"):
            paginator = self.client.get_paginator("list_multipart_uploads")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key("") + ("/" if self.prefix else "")):
                for upload in page.get("Uploads", []):
                    if upload["Initiated"] < older_than:
                        self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                                           UploadId=upload["UploadId"])


class _BodyReader:
    """A streamed object body whose transport errors become StorageUnavailable."""

    def __init__(self, backend: S3Backend, body):
        self._backend, self._body = backend, body

    def read(self, size: int = -1) -> bytes:
        with self._backend._s3("reading a snapshot"):
            try:
                return self._body.read(size)
            except (ConnectionError, OSError) as exc:
                raise StorageUnavailable(f"snapshot storage {self._backend.url} dropped the connection while "
                                         "reading a snapshot; try again.") from exc

    def close(self) -> None:
        self._body.close()
