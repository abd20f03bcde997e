"""Snapshots in storage: encrypted per tenant, published atomically, verified on the way in and out.

This layer owns everything about a snapshot in storage — encryption, the layout, the verification of what was
stored, the COMPLETE marker that reveals it, the journal that lets cleanup finish interrupted work — once, for
every backend (`file.FileBackend`, `s3.S3Backend`), which only store blobs.

Layout:

    tenants/<tenant hash>/<runId>/<attempt>/<path>    the encrypted files of one publish attempt
    tenants/<tenant hash>/<runId>/COMPLETE            the marker naming the attempt: written last, only if absent
    pending/<tenant hash>/<runId>/<attempt|deleting>  journal: a publish or delete under way
    pending/<tenant hash>/deleting                    journal: a tenant's deletion under way

Two publishers of one run each upload their own attempt; the marker is written only if absent, so the first
complete attempt stands and the other removes itself. Readers and listings ignore a run without its marker.
`cleanup_incomplete` lists only the journal, never every snapshot, to find what a crash left behind.
Snapshots written by the file store before this layout kept their files directly in `<runId>/` (their marker
names an attempt starting with ".tmp-"): they are read, measured and deleted as they are.
"""
from __future__ import annotations

import hashlib
import io
import logging
import re
import secrets
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from ...crypto import tenant_hash
from .backend import BlobBackend, BlobNotFound, SnapshotIntegrityError, SnapshotNotFound, StorageError, \
    StorageUnavailable
from .envelope import EncryptingReader, EnvelopeError, decrypt_chunks
from .marker import MARKER, StoredFile, build_marker, file_context, marker_header, open_marker

logger = logging.getLogger(__name__)

PENDING = "pending"
DELETING = "deleting"
LEGACY_ATTEMPT = ".tmp-"
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SNAPSHOT_KEY = re.compile(r"^tenants/([0-9a-f]{32})/([A-Za-z0-9_-]{1,64})$")

Progress = Callable[[str, int], None]  # (relative path just stored, its plaintext bytes)
Removed = Callable[[str, int, int], None]  # (what was removed, blobs, bytes)


def snapshot_key_for(client_key: str, run_id: str) -> str:
    if not _RUN_ID.match(run_id or ""):
        raise ValueError("a run id may only hold letters, digits, '-' and '_' (at most 64)")
    return f"tenants/{tenant_hash(client_key)}/{run_id}"


def parse_snapshot_key(snapshot_key: str) -> tuple[str, str]:
    """Split a snapshot key into (tenant hash, run id); a malformed key is simply not found."""
    match = _SNAPSHOT_KEY.match(snapshot_key or "")
    if not match:
        raise SnapshotNotFound(f"{snapshot_key!r} is not a snapshot key")
    return match.group(1), match.group(2)


def local_files(local_dir: Path) -> list[tuple[str, Path]]:
    """The regular files of a local snapshot folder as (relative POSIX path, path), sorted; no symlinks."""
    local_dir = Path(local_dir)
    if not local_dir.is_dir():
        raise StorageError(f"the local snapshot folder {local_dir} does not exist")
    found = []
    for path in sorted(local_dir.rglob("*")):
        if path.is_symlink():
            raise StorageError(f"the local snapshot folder holds a symbolic link ({path.name}); refusing to follow it")
        if path.is_file():
            rel = path.relative_to(local_dir).as_posix()
            if rel == MARKER:
                raise StorageError(f"a snapshot may not contain a top-level file named {MARKER}")
            found.append((rel, path))
    if not found:
        raise StorageError(f"the local snapshot folder {local_dir} is empty")
    return found


class SnapshotStore:
    """Where snapshots live, over one blob backend."""

    def __init__(self, backend: BlobBackend):
        self.backend = backend
        self.url = backend.url

    # -- keys ------------------------------------------------------------------------------------------------

    @staticmethod
    def _marker(snapshot_key: str) -> str:
        return f"{snapshot_key}/{MARKER}"

    @staticmethod
    def _file(snapshot_key: str, attempt: str, rel: str) -> str:
        if attempt.startswith(LEGACY_ATTEMPT):
            return f"{snapshot_key}/{rel}"
        return f"{snapshot_key}/{attempt}/{rel}"

    @staticmethod
    def _journal(snapshot_key: str, name: str) -> str:
        tenant, run_id = parse_snapshot_key(snapshot_key)
        return f"{PENDING}/{tenant}/{run_id}/{name}"

    # -- publishing ------------------------------------------------------------------------------------------

    def publish(self, tenant_key: str, run_id: str, local_dir: Path, data_key: bytes, *,
                progress: Progress | None = None) -> str:
        """Encrypt, store, verify and then atomically reveal a local snapshot folder; return its snapshot key.

        Publishing a run that is already published returns the existing snapshot's key unchanged.
        """
        key = snapshot_key_for(tenant_key, run_id)
        files = local_files(Path(local_dir))
        if self.backend.size(self._marker(key)) is not None:
            logger.info("snapshot %s is already published; keeping it", key)
            return key
        attempt = f"a{secrets.token_hex(8)}"
        journal = self._journal(key, attempt)
        self.backend.put(journal, io.BytesIO(b""))
        try:
            stored = [self._upload(key, attempt, rel, path, data_key, progress) for rel, path in files]
            self._verify(key, attempt, stored)
        except BaseException:
            self._forget_attempt(key, attempt, journal)
            raise
        marker = build_marker(key, attempt, stored, data_key, datetime.now(timezone.utc))
        # If this write fails ambiguously the attempt is kept: the marker may exist and name it. The journal entry
        # stays, and cleanup keeps the attempt if the marker names it, removes it otherwise.
        if not self.backend.put_if_absent(self._marker(key), marker):
            logger.info("snapshot %s was published concurrently; keeping the first", key)
            self._forget_attempt(key, attempt, journal)
            return key
        self.backend.delete([journal])
        return key

    def _upload(self, key: str, attempt: str, rel: str, source: Path, data_key: bytes, progress) -> StoredFile:
        with source.open("rb") as src:
            reader = EncryptingReader(src, data_key, file_context(key, rel))
            self.backend.put(self._file(key, attempt, rel), reader)
        if progress:
            progress(rel, reader.plain_size)
        return StoredFile(rel, reader.plain_size, reader.plain_sha256, reader.stored_size)

    def _verify(self, key: str, attempt: str, stored: list[StoredFile]) -> None:
        """Every file must be stored whole: present, with exactly the encrypted size that was sent."""
        prefix = f"{key}/{attempt}/"
        sizes = {info.key[len(prefix):]: info.size for info in self.backend.list(prefix)}
        for entry in stored:
            if sizes.get(entry.path) != entry.stored:
                raise StorageUnavailable(
                    f"snapshot storage {self.url} did not keep {entry.path} as sent "
                    f"({sizes.get(entry.path)} bytes stored, {entry.stored} sent); nothing was published."
                )

    def _forget_attempt(self, key: str, attempt: str, journal: str) -> None:
        try:
            self.backend.delete([info.key for info in self.backend.list(f"{key}/{attempt}/")] + [journal])
        except Exception:  # storage is likely down: its journal entry stays, so cleanup_incomplete removes it
            logger.warning("could not remove the unpublished upload %s/%s; cleanup will", key, attempt)

    # -- reading ---------------------------------------------------------------------------------------------

    def exists(self, snapshot_key: str) -> bool:
        """Tell whether a complete snapshot is stored under this key."""
        try:
            parse_snapshot_key(snapshot_key)
        except SnapshotNotFound:
            return False
        return self.backend.size(self._marker(snapshot_key)) is not None

    def _read_marker(self, snapshot_key: str) -> bytes:
        parse_snapshot_key(snapshot_key)
        raw = self.backend.read(self._marker(snapshot_key))
        if raw is None:
            raise SnapshotNotFound(f"no complete snapshot {snapshot_key}")
        return raw

    def iter_files(self, snapshot_key: str, data_key: bytes) -> Iterator[tuple[str, Iterator[bytes]]]:
        """Yield (relative path, decrypted chunks) for every file; consume each file's chunks before the next."""
        attempt, files = open_marker(self._read_marker(snapshot_key), snapshot_key, data_key)
        for entry in files:
            chunks = self._decrypted(snapshot_key, attempt, entry, data_key)
            try:
                yield entry.path, chunks
            finally:
                chunks.close()

    def read_file(self, snapshot_key: str, data_key: bytes, path: str) -> Iterator[bytes]:
        """The decrypted chunks of one file of a snapshot, checked against its index (random access).

        A path the snapshot does not hold raises SnapshotNotFound; a file that does not match its index raises
        SnapshotIntegrityError by the time its last chunk has been read.
        """
        attempt, files = open_marker(self._read_marker(snapshot_key), snapshot_key, data_key)
        entry = next((f for f in files if f.path == path), None)
        if entry is None:
            raise SnapshotNotFound(f"snapshot {snapshot_key} holds no file {path!r}")
        return self._decrypted(snapshot_key, attempt, entry, data_key)

    def _decrypted(self, snapshot_key: str, attempt: str, entry: StoredFile, data_key: bytes) -> Iterator[bytes]:
        try:
            stream = self.backend.open(self._file(snapshot_key, attempt, entry.path))
        except BlobNotFound:
            raise SnapshotIntegrityError(f"snapshot {snapshot_key}: {entry.path} is missing from storage") from None
        digest, size = hashlib.sha256(), 0
        try:
            for chunk in decrypt_chunks(stream, data_key, file_context(snapshot_key, entry.path)):
                digest.update(chunk)
                size += len(chunk)
                yield chunk
        except EnvelopeError as exc:
            raise SnapshotIntegrityError(f"snapshot {snapshot_key}: {exc}") from None
        finally:
            stream.close()
        if size != entry.size or digest.hexdigest() != entry.sha256:
            raise SnapshotIntegrityError(f"snapshot {snapshot_key}: {entry.path} does not match its index")

    def list_snapshots(self, tenant_key: str) -> list[str]:
        """The keys of a tenant's complete snapshots, sorted."""
        base = f"tenants/{tenant_hash(tenant_key)}"
        runs = self.backend.children(base + "/")
        return sorted(f"{base}/{run}" for run in runs if self.backend.size(self._marker(f"{base}/{run}")) is not None)

    def size(self, snapshot_key: str) -> int:
        """The bytes a complete snapshot occupies in storage."""
        raw = self._read_marker(snapshot_key)
        attempt = marker_header(raw)["attempt"]
        if attempt.startswith(LEGACY_ATTEMPT):
            return sum(info.size for info in self.backend.list(f"{snapshot_key}/"))
        return len(raw) + sum(info.size for info in self.backend.list(f"{snapshot_key}/{attempt}/"))

    def probe(self) -> None:
        """Check that the storage is reachable (readiness); StorageUnavailable otherwise."""
        self.backend.probe()

    # -- removing --------------------------------------------------------------------------------------------

    def delete(self, snapshot_key: str) -> None:
        """Remove a snapshot (a missing one is not an error); it stops being visible first."""
        parse_snapshot_key(snapshot_key)
        journal = self._journal(snapshot_key, DELETING)
        self.backend.put(journal, io.BytesIO(b""))
        # The marker goes first: from then on the snapshot is invisible, whatever happens to the rest.
        self.backend.delete([self._marker(snapshot_key)])
        self.backend.delete([info.key for info in self.backend.list(f"{snapshot_key}/")])
        self.backend.delete([journal])

    def delete_tenant(self, tenant_key: str) -> None:
        """Remove everything stored for a tenant."""
        tenant = tenant_hash(tenant_key)
        journal = f"{PENDING}/{tenant}/{DELETING}"
        self.backend.put(journal, io.BytesIO(b""))
        self._delete_tenant_blobs(tenant)
        self.backend.delete([info.key for info in self.backend.list(f"{PENDING}/{tenant}/")])

    def _delete_tenant_blobs(self, tenant: str) -> list:
        blobs = list(self.backend.list(f"tenants/{tenant}/"))
        self.backend.delete([b.key for b in blobs if b.key.endswith("/" + MARKER)])  # invisible first
        self.backend.delete([b.key for b in blobs if not b.key.endswith("/" + MARKER)])
        return blobs

    def cleanup_incomplete(self, older_than: datetime, *, report: Removed | None = None) -> int:
        """Finish what the journal says was interrupted; work still under way (recent blobs) is left alone.

        `report(what, blobs, bytes)` hears of each removal (`flask storage cleanup` prints them).
        """
        if older_than.tzinfo is None:
            raise ValueError("older_than must be an aware datetime")
        self.backend.abort_stale(older_than)
        removed = 0
        for entry in list(self.backend.list(f"{PENDING}/")):
            if entry.modified >= older_than:
                continue
            parts = entry.key[len(PENDING) + 1:].split("/")
            if len(parts) == 2 and parts[1] == DELETING:
                blobs = self._delete_tenant_blobs(parts[0])
                removed += 1
                if report:
                    report(f"tenants/{parts[0]} (an interrupted tenant deletion)", len(blobs),
                           sum(b.size for b in blobs))
            elif len(parts) == 3:
                finished, count = self._cleanup_run(f"tenants/{parts[0]}/{parts[1]}", parts[2], older_than, report)
                removed += count
                if not finished:
                    continue
            self.backend.delete([entry.key])
        return removed

    def _cleanup_run(self, snapshot_key: str, name: str, older_than: datetime,
                     report: Removed | None = None) -> tuple[bool, int]:
        """Remove what an interrupted publish (`name` = its attempt) or delete left of a run: (done, removed)."""
        raw = self.backend.read(self._marker(snapshot_key))
        try:
            current = marker_header(raw)["attempt"] if raw is not None else None
        except SnapshotIntegrityError:
            current = None
        if name == DELETING:
            if current is not None:
                return True, 0  # the delete never got as far as the marker, or the run was published again
            blobs = list(self.backend.list(f"{snapshot_key}/"))
        elif name == current:
            return True, 0  # published: only the journal entry was left behind
        else:
            blobs = list(self.backend.list(f"{snapshot_key}/{name}/"))
        # Judge by the newest blob: an upload still adding files is not a leftover yet.
        if blobs and max(info.modified for info in blobs) >= older_than:
            return False, 0
        self.backend.delete([info.key for info in blobs])
        if blobs:
            logger.info("removed incomplete snapshot data %s/%s", snapshot_key, name)
            if report:
                what = "an interrupted deletion" if name == DELETING else "an unpublished upload"
                report(f"{snapshot_key}/{name} ({what})", len(blobs), sum(info.size for info in blobs))
        return True, 1 if blobs else 0
