"""The `s3://bucket/prefix` snapshot store (AWS S3 or an S3-compatible store through S3_ENDPOINT_URL).

Files go under `<runId>/<attempt>/…`, are checked against what was sent (listing: every key, every size), and only
then the `<runId>/COMPLETE` marker naming the attempt is written: the marker is what makes a snapshot visible.
Two publishers of one run each upload their own attempt; the marker is written only if absent (a conditional
write), so the first complete attempt stands and the other removes itself.

Publishes and deletes note themselves in a small journal (`<prefix>/pending/…`) first and clear it when done, so
`cleanup_incomplete` lists only the journal, never the whole bucket, to find what a crash left behind.
"""
from __future__ import annotations

import logging
import secrets
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO, Iterator

from .envelope import CHUNK_SIZE, EncryptingReader
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
    marker_header,
    parse_snapshot_key,
    snapshot_key_for,
    tenant_hash,
)

logger = logging.getLogger(__name__)

_PART_SIZE = 8 * 1024 * 1024
_PENDING = "pending"  # journal: <prefix>/pending/<tenant>/<run>/<attempt or "deleting">, <tenant>/deleting
_DELETING = "deleting"
_NOT_FOUND = {"NoSuchKey", "404", "NotFound"}
_DENIED = {"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken"}


def make_s3_client(endpoint_url: str | None = None, *, max_attempts: int = 4, connect_timeout: float = 5,
                   read_timeout: float = 60, **session_kwargs):
    """An S3 client with bounded timeouts and retries; path-style addressing for S3-compatible endpoints."""
    import boto3
    from botocore.config import Config

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
    )
    return boto3.session.Session(**session_kwargs).client("s3", endpoint_url=endpoint_url, config=config)


def _without_userinfo(url: str) -> str:
    """An endpoint fit for messages: scheme, host and port only."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


class S3SnapshotStore(SnapshotStore):
    """Snapshots as objects in one bucket under a prefix."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None, client=None,
                 part_size: int = _PART_SIZE, max_concurrency: int = 2):
        from boto3.s3.transfer import TransferConfig

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
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            EndpointConnectionError,
            NoCredentialsError,
            PartialCredentialsError,
        )

        try:
            yield
        except StorageError:
            raise
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
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

    def _paginate(self, prefix: str, delimiter: str | None = None) -> Iterator[dict]:
        kwargs = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        yield from self.client.get_paginator("list_objects_v2").paginate(**kwargs)

    def _objects(self, prefix: str) -> Iterator[dict]:
        for page in self._paginate(prefix):
            yield from page.get("Contents", [])

    def _subfolders(self, prefix: str) -> list[str]:
        """The immediate 'folder' names under a prefix ending in '/'."""
        names = []
        for page in self._paginate(prefix, "/"):
            names += [cp["Prefix"][len(prefix):].rstrip("/") for cp in page.get("CommonPrefixes", [])]
        return names

    def _delete_keys(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start:start + 1000]]
            result = self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            if result.get("Errors"):
                first = result["Errors"][0]
                raise StorageUnavailable(
                    f"snapshot storage {self.url} refused to delete {len(result['Errors'])} object(s): "
                    f"{first.get('Code')}. Check the credentials may delete objects."
                )

    def _marker_key(self, snapshot_key: str) -> str:
        return self._key(snapshot_key, MARKER)

    def _get_marker(self, snapshot_key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._marker_key(snapshot_key))
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND:
                return None
            raise
        with response["Body"] as body:
            return body.read()

    def _has_marker(self, snapshot_key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.client.head_object(Bucket=self.bucket, Key=self._marker_key(snapshot_key))
            return True
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND:
                return False
            raise

    # -- publishing ------------------------------------------------------------------------------------------

    def _pending_key(self, snapshot_key: str, name: str) -> str:
        """A journal entry saying work on this run is under way; cleanup looks only at these, not the whole bucket."""
        tenant, run_id = parse_snapshot_key(snapshot_key)
        return self._key(_PENDING, tenant, run_id, name)

    def publish(self, tenant_key, run_id, local_dir, data_key, *, progress: Progress | None = None) -> str:
        key = snapshot_key_for(tenant_key, run_id)
        files = local_files(Path(local_dir))
        attempt = f"a{secrets.token_hex(8)}"
        attempt_prefix = self._key(key, attempt) + "/"
        pending = self._pending_key(key, attempt)
        with self._s3("publishing a snapshot"):
            if self._has_marker(key):
                logger.info("snapshot %s is already published; keeping it", key)
                return key
            self.client.put_object(Bucket=self.bucket, Key=pending, Body=b"")
        try:
            with self._s3("uploading a snapshot"):
                stored = [self._upload(key, attempt_prefix, rel, path, data_key, progress) for rel, path in files]
                self._verify(attempt_prefix, stored)
        except BaseException:
            self._forget_attempt(attempt_prefix, pending)
            raise
        marker = build_marker(key, attempt, stored, data_key, datetime.now(timezone.utc))
        with self._s3("writing the snapshot's COMPLETE marker"):
            # If this write fails ambiguously the attempt is kept: the marker may exist and name it. The journal
            # entry stays, and cleanup keeps the attempt if the marker names it, removes it otherwise.
            if not self._put_marker(key, marker):
                logger.info("snapshot %s was published concurrently; keeping the first", key)
                self._forget_attempt(attempt_prefix, pending)
                return key
            self.client.delete_object(Bucket=self.bucket, Key=pending)
        return key

    def _put_marker(self, snapshot_key: str, marker: bytes) -> bool:
        """Write the marker unless one exists; False when another publisher of the run was first."""
        from botocore.exceptions import ClientError

        arguments = {"Bucket": self.bucket, "Key": self._marker_key(snapshot_key), "Body": marker,
                     "ContentType": "application/octet-stream"}
        if self._conditional_writes:
            try:
                self.client.put_object(IfNoneMatch="*", **arguments)
                return True
            except ClientError as exc:
                code = str(exc.response.get("Error", {}).get("Code"))
                if code in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                    return False
                if code not in ("NotImplemented", "501", "InvalidArgument", "InvalidRequest"):
                    raise
                # An S3-compatible store without conditional writes: check, then write (a narrow race remains).
                logger.warning("snapshot storage %s does not support conditional writes", self.url)
                self._conditional_writes = False
        if self._has_marker(snapshot_key):
            return False
        self.client.put_object(**arguments)
        return True

    def _upload(self, key, attempt_prefix, rel, source: Path, data_key, progress) -> StoredFile:
        with source.open("rb") as src:
            reader = EncryptingReader(src, data_key, file_context(key, rel))
            self.client.upload_fileobj(reader, self.bucket, attempt_prefix + rel, Config=self.transfer,
                                       ExtraArgs={"ContentType": "application/octet-stream"})
        if progress:
            progress(rel, reader.plain_size)
        return StoredFile(rel, reader.plain_size, reader.plain_sha256, reader.stored_size)

    def _verify(self, attempt_prefix: str, stored: list[StoredFile]) -> None:
        """Every file must be stored whole: present, with exactly the encrypted size that was sent."""
        sizes = {o["Key"][len(attempt_prefix):]: o["Size"] for o in self._objects(attempt_prefix)}
        for entry in stored:
            if sizes.get(entry.path) != entry.stored:
                raise StorageUnavailable(
                    f"snapshot storage {self.url} did not keep {entry.path} as sent "
                    f"({sizes.get(entry.path)} bytes stored, {entry.stored} sent); nothing was published."
                )

    def _forget_attempt(self, attempt_prefix: str, pending: str) -> None:
        try:
            self._delete_keys([o["Key"] for o in self._objects(attempt_prefix)])
            self.client.delete_object(Bucket=self.bucket, Key=pending)
        except Exception:  # storage is likely down: its journal entry stays, so cleanup_incomplete removes it
            logger.warning("could not remove the unpublished upload %s; cleanup will", attempt_prefix)

    # -- reading ---------------------------------------------------------------------------------------------

    def exists(self, snapshot_key: str) -> bool:
        try:
            parse_snapshot_key(snapshot_key)
        except SnapshotNotFound:
            return False
        with self._s3("checking a snapshot"):
            return self._has_marker(snapshot_key)

    def _read_marker(self, snapshot_key: str) -> bytes:
        parse_snapshot_key(snapshot_key)
        with self._s3("reading a snapshot"):
            raw = self._get_marker(snapshot_key)
        if raw is None:
            raise SnapshotNotFound(f"no complete snapshot {snapshot_key}")
        return raw

    def _open_stored(self, snapshot_key: str, attempt: str, rel_path: str) -> BinaryIO:
        from botocore.exceptions import ClientError

        with self._s3("reading a snapshot"):
            try:
                response = self.client.get_object(Bucket=self.bucket, Key=self._key(snapshot_key, attempt, rel_path))
            except ClientError as exc:
                if str(exc.response.get("Error", {}).get("Code")) in _NOT_FOUND:
                    raise SnapshotIntegrityError(
                        f"snapshot {snapshot_key}: {rel_path} is missing from storage"
                    ) from None
                raise
        return _BodyReader(self, response["Body"])

    def list_snapshots(self, tenant_key: str) -> list[str]:
        base = f"tenants/{tenant_hash(tenant_key)}"
        with self._s3("listing snapshots"):
            runs = self._subfolders(self._key(base) + "/")
            return sorted(f"{base}/{run}" for run in runs if self._has_marker(f"{base}/{run}"))

    def size(self, snapshot_key: str) -> int:
        raw = self._read_marker(snapshot_key)
        attempt = marker_header(raw)["attempt"]
        with self._s3("measuring a snapshot"):
            return len(raw) + sum(o["Size"] for o in self._objects(self._key(snapshot_key, attempt) + "/"))

    # -- removing --------------------------------------------------------------------------------------------

    def delete(self, snapshot_key: str) -> None:
        parse_snapshot_key(snapshot_key)
        pending = self._pending_key(snapshot_key, _DELETING)
        with self._s3("deleting a snapshot"):
            self.client.put_object(Bucket=self.bucket, Key=pending, Body=b"")
            # The marker goes first: from then on the snapshot is invisible, whatever happens to the rest.
            self.client.delete_object(Bucket=self.bucket, Key=self._marker_key(snapshot_key))
            self._delete_keys([o["Key"] for o in self._objects(self._key(snapshot_key) + "/")])
            self.client.delete_object(Bucket=self.bucket, Key=pending)

    def delete_tenant(self, tenant_key: str) -> None:
        tenant = tenant_hash(tenant_key)
        pending = self._key(_PENDING, tenant, _DELETING)
        with self._s3("deleting a tenant's snapshots"):
            self.client.put_object(Bucket=self.bucket, Key=pending, Body=b"")
            self._delete_tenant_objects(tenant)
            self._delete_keys([o["Key"] for o in self._objects(self._key(_PENDING, tenant) + "/")])

    def _delete_tenant_objects(self, tenant: str) -> None:
        prefix = self._key("tenants", tenant) + "/"
        self._delete_keys([o["Key"] for o in self._objects(prefix) if o["Key"].endswith("/" + MARKER)])
        self._delete_keys([o["Key"] for o in self._objects(prefix)])

    def cleanup_incomplete(self, older_than: datetime) -> int:
        """Finish what the journal says was interrupted; a publisher still writing (recent objects) is left alone."""
        if older_than.tzinfo is None:
            raise ValueError("older_than must be an aware datetime")
        removed = 0
        journal = self._key(_PENDING) + "/"
        with self._s3("cleaning up incomplete snapshots"):
            self._abort_stale_uploads(self._key("tenants") + "/", older_than)
            for entry in list(self._objects(journal)):
                if entry["LastModified"] >= older_than:
                    continue
                parts = entry["Key"][len(journal):].split("/")
                if parts[-1] == _DELETING and len(parts) == 2:
                    self._delete_tenant_objects(parts[0])
                    removed += 1
                elif len(parts) == 3:
                    finished, count = self._cleanup_run(f"tenants/{parts[0]}/{parts[1]}", parts[2], older_than)
                    removed += count
                    if not finished:
                        continue
                self.client.delete_object(Bucket=self.bucket, Key=entry["Key"])
        return removed

    def _cleanup_run(self, snapshot_key: str, name: str, older_than: datetime) -> tuple[bool, int]:
        """Remove what an interrupted publish (`name` = its attempt) or delete left of a run: (done, removed)."""
        raw = self._get_marker(snapshot_key)
        try:
            current = marker_header(raw)["attempt"] if raw is not None else None
        except SnapshotIntegrityError:
            current = None
        if name == _DELETING:
            prefix = self._key(snapshot_key) + "/"
            if current is not None:
                return True, 0  # the delete never got as far as the marker, or the run was published again
        elif name == current:
            return True, 0  # published: only the journal entry was left behind
        else:
            prefix = self._key(snapshot_key, name) + "/"
        objects = [o for o in self._objects(prefix) if name != _DELETING or not o["Key"].endswith("/" + MARKER)]
        # Judge by the newest object: an upload still adding files is not a leftover yet.
        if objects and max(o["LastModified"] for o in objects) >= older_than:
            return False, 0
        self._delete_keys([o["Key"] for o in objects])
        if objects:
            logger.info("removed incomplete snapshot data %s/%s", snapshot_key, name)
        return True, 1 if objects else 0

    def _abort_stale_uploads(self, prefix: str, older_than: datetime) -> None:
        paginator = self.client.get_paginator("list_multipart_uploads")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for upload in page.get("Uploads", []):
                if upload["Initiated"] < older_than:
                    self.client.abort_multipart_upload(Bucket=self.bucket, Key=upload["Key"],
                                                       UploadId=upload["UploadId"])


class _BodyReader:
    """A streamed object body whose transport errors become StorageUnavailable."""

    def __init__(self, store: S3SnapshotStore, body):
        self._store, self._body = store, body

    def read(self, size: int = -1) -> bytes:
        with self._store._s3("reading a snapshot"):
            try:
                return self._body.read(size)
            except (ConnectionError, OSError) as exc:
                raise StorageUnavailable(f"snapshot storage {self._store.url} dropped the connection while "
                                         "reading a snapshot; try again.") from exc

    def close(self) -> None:
        self._body.close()
