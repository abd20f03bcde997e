"""Snapshots in storage: encrypted per tenant, published atomically, verified on the way in and out.

This layer owns everything about a snapshot in storage — encryption, the layout, the verification of what was
stored, the COMPLETE marker that reveals it, the journal that lets cleanup finish interrupted work, the objects
snapshots of a tenant share — once, for every backend (`file.FileBackend`, `s3.S3Backend`), which only store blobs.

Layout:

    tenants/<tenant hash>/<runId>/<attempt>/<path>    a snapshot's own encrypted files (manifest.json, …)
    tenants/<tenant hash>/<runId>/COMPLETE            the marker naming the attempt and indexing every file (where
                                                      its bytes are): written last, only if absent
    tenants/<tenant hash>/objects/blobs/<name>        attachments, shared by content (objects.py)
    tenants/<tenant hash>/objects/packs/<name>        records (gzip members) of one publish; a snapshot's
                                                      `*.jsonl.gz` files are recipes of ranges into packs (packing.py)
    pending/<tenant hash>/<runId>/<attempt|deleting>  journal: a publish or delete under way
    pending/<tenant hash>/deleting                    journal: a tenant's deletion under way
    pending/<tenant hash>/sweep-<random>              journal: a sweep of the tenant's objects under way (sweep.py)

Two publishers of one run each upload their own attempt; the marker is written only if absent, so the first
complete attempt stands and the other removes itself. Readers and listings ignore a run without its marker.
`cleanup_incomplete` lists only the journal, never every snapshot, to find what a crash left behind.

Shared objects are only ever added by a publish and removed by `sweep` (never by `delete`). Why a crash cannot
break a kept snapshot: a publish uploads its new objects before its marker, so a crash leaves only unreferenced
objects, which the sweep removes once older than its grace; after writing its marker, a publish waits for any
sweep that may have missed it to end and then checks that every object it references is present — if one is not
(a sweep removed an old object it meant to reuse), it removes its marker and fails, so nothing broken is ever
revealed. A sweep that starts after the marker sees it. A publisher stopped between its marker and that check
leaves its journal entry: cleanup keeps it (checking needs the data key) and the run's retry confirms or withdraws.

Snapshots stored before shared objects (marker format 1) keep their files under their attempt and are read,
measured and deleted as they are; so are those the file store wrote before attempts (files directly in `<runId>/`,
attempt `.tmp-…` in the marker).
"""
from __future__ import annotations

import io
import logging
import re
import secrets
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterator

from ...crypto import tenant_hash
from .backend import BlobBackend, SnapshotIntegrityError, SnapshotNotFound, StorageError, \
    StorageUnavailable
from . import sweep as sweeping, uploads
from .marker import LEGACY_FORMAT, MARKER, StoredFile, build_marker, file_context, marker_header, open_marker
from .members import NotGzip
from .objects import OBJECTS, REUSED_PACKS, PackReader, new_pack_ref, object_key, objects_prefix
from .packing import Location, PackPlan, index_members, limit_packs, plan_recipe
from .reading import LEGACY_ATTEMPT, open_file, stored_path

logger = logging.getLogger(__name__)

PENDING = "pending"
DELETING = "deleting"
ATTACHMENTS_PREFIX = "attachments/"  # files stored as shared blobs (an xray-backup/1 snapshot's attachments)
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_SNAPSHOT_KEY = re.compile(r"^tenants/([0-9a-f]{32})/([A-Za-z0-9_-]{1,64})$")

Progress = Callable[[str, int], None]  # (relative path just stored, its plaintext bytes)
Removed = Callable[[str, int, int], None]  # (what was removed, blobs, bytes)


def snapshot_key_for(client_key: str, run_id: str) -> str:
    if not _RUN_ID.match(run_id or ""):
        raise ValueError("a run id may only hold letters, digits, '-' and '_' (at most 64)")
    if run_id == OBJECTS:
        raise ValueError(f"a run id may not be {OBJECTS!r}: the tenant's shared objects live there")
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
    """Where snapshots live, over one blob backend. `clock` (monotonic seconds) and `sleep` pace waits for sweeps."""

    def __init__(self, backend: BlobBackend, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.backend = backend
        self.url = backend.url
        self.clock, self.sleep = clock, sleep

    # -- keys ------------------------------------------------------------------------------------------------

    @staticmethod
    def _marker(snapshot_key: str) -> str:
        return f"{snapshot_key}/{MARKER}"

    @staticmethod
    def _journal(snapshot_key: str, name: str) -> str:
        tenant, run_id = parse_snapshot_key(snapshot_key)
        return f"{PENDING}/{tenant}/{run_id}/{name}"

    # -- publishing ------------------------------------------------------------------------------------------

    def publish(self, tenant_key: str, run_id: str, local_dir: Path, data_key: bytes, *,
                progress: Progress | None = None, parent_key: str | None = None) -> str:
        """Encrypt, store, verify and then atomically reveal a local snapshot folder; return its snapshot key.

        Attachments become shared blobs (uploaded only when not stored yet); `*.jsonl.gz` files become recipes:
        records the parent snapshot (`parent_key`, of the same tenant) already stored are referenced where they are,
        new ones go into this publish's pack. Publishing a run that is already published returns its key unchanged.
        """
        key = snapshot_key_for(tenant_key, run_id)
        tenant, _ = parse_snapshot_key(key)
        files = local_files(Path(local_dir))
        if self.backend.size(self._marker(key)) is not None:
            self._finish_confirming(key, tenant, data_key)
            logger.info("snapshot %s is already published; keeping it", key)
            return key
        attempt = f"a{secrets.token_hex(8)}"
        journal = self._journal(key, attempt)
        pack = PackPlan(new_pack_ref())
        self.backend.put(journal, io.BytesIO(b""))
        try:
            known = self._parent_members(parent_key, tenant, data_key)
            stored, added = [], 0
            for rel, path in files:
                entry, cost = self._store_file(key, tenant, attempt, rel, path, data_key, known, pack)
                stored.append(entry)
                added += cost
                if progress:
                    progress(rel, entry.size)
            added += uploads.store_pack(self.backend, tenant, pack, data_key)
            self._verify(key, attempt, [entry for entry in stored if not entry.refs and entry.ranges is None])
        except BaseException:
            self._forget_attempt(key, attempt, journal, tenant, pack)
            raise
        marker = build_marker(key, attempt, stored, data_key, datetime.now(timezone.utc), added_bytes=added)
        # If this write fails ambiguously the attempt is kept: the marker may exist and name it. The journal entry
        # stays, and cleanup keeps the attempt if the marker names it, removes it otherwise.
        if not self.backend.put_if_absent(self._marker(key), marker):
            logger.info("snapshot %s was published concurrently; keeping the first", key)
            self._forget_attempt(key, attempt, journal, tenant, pack)
            return key
        try:
            self._confirm_references(key, tenant, stored)
        except SnapshotIntegrityError:
            self.backend.delete([self._marker(key)])
            self._forget_attempt(key, attempt, journal, tenant, pack)
            raise
        # Any other failure leaves the journal entry: a retry of this publish confirms before it trusts the marker.
        self.backend.delete([journal])
        return key

    def _store_file(self, key: str, tenant: str, attempt: str, rel: str, path: Path, data_key: bytes,
                    known: dict[bytes, Location], pack: PackPlan) -> tuple[StoredFile, int]:
        """Store one local file where it belongs; return its index entry and the bytes it added to storage."""
        if rel.startswith(ATTACHMENTS_PREFIX):
            return uploads.store_blob(self.backend, tenant, rel, path, data_key)
        if "/" not in rel and rel.endswith(".jsonl.gz"):
            try:
                recipe = plan_recipe(path, known, pack)
            except NotGzip:
                pass  # not a sequence of gzip members (an imported snapshot may hold anything): stored whole
            else:
                return StoredFile(rel, recipe.size, recipe.sha256, recipe.size, ranges=recipe.ranges), 0
        entry = uploads.store_own(self.backend, stored_path(key, attempt, rel), file_context(key, rel), rel, path,
                                  data_key)
        return entry, entry.stored

    def _parent_members(self, parent_key: str | None, tenant: str, data_key: bytes) -> dict[bytes, Location]:
        """Where each record of the parent snapshot lies in its packs; nothing when it cannot be read whole."""
        known: dict[bytes, Location] = {}
        if parent_key is None:
            return known
        reader = PackReader(tenant, data_key, self.backend.open)
        try:
            if parse_snapshot_key(parent_key)[0] != tenant:
                raise SnapshotNotFound("the parent belongs to another tenant")
            attempt, files = open_marker(self._read_marker(parent_key), parent_key, data_key)
            for entry in files:
                if entry.ranges:
                    index_members(entry.ranges, open_file(self.backend, parent_key, attempt, entry, data_key, reader),
                                  known)
        except (StorageError, NotGzip) as exc:
            logger.warning("the parent snapshot %s cannot be reused (%s); storing every record anew", parent_key, exc)
            return {}
        finally:
            reader.close()
        return limit_packs(known, REUSED_PACKS)

    def _verify(self, key: str, attempt: str, stored: list[StoredFile]) -> None:
        """Every own file must be stored whole: present, with exactly the encrypted size that was sent."""
        if not stored:
            return
        prefix = f"{key}/{attempt}/"
        sizes = {info.key[len(prefix):]: info.size for info in self.backend.list(prefix)}
        for entry in stored:
            if sizes.get(entry.path) != entry.stored:
                raise StorageUnavailable(
                    f"snapshot storage {self.url} did not keep {entry.path} as sent "
                    f"({sizes.get(entry.path)} bytes stored, {entry.stored} sent); nothing was published."
                )

    def _confirm_references(self, key: str, tenant: str, stored: list[StoredFile]) -> None:
        """After the marker: once no sweep that may have missed it is running, every object it names must exist."""
        needed = set().union(*(entry.refs for entry in stored)) if stored else set()
        if not needed:
            return
        marker = next((info for info in self.backend.list(f"{key}/") if info.key.endswith("/" + MARKER)), None)
        if marker is None:
            raise SnapshotNotFound(f"the marker of snapshot {key} vanished while it was being published")
        sweeping.wait_for_sweeps(self, tenant, marker.modified)
        prefix = objects_prefix(tenant)
        present = {info.key[len(prefix):] for info in self.backend.list(prefix)}
        missing = needed - present
        if missing:
            raise SnapshotIntegrityError(
                f"snapshot {key} was not published: {len(missing)} stored object(s) it reuses were removed by a "
                "concurrent storage sweep; the backup can simply run again"
            )

    def _finish_confirming(self, key: str, tenant: str, data_key: bytes) -> None:
        """A marker whose publish journal remains was never confirmed (the publisher stopped): confirm it now."""
        raw = self.backend.read(self._marker(key))
        if raw is None:
            return
        attempt = marker_header(raw)["attempt"]
        journal = self._journal(key, attempt)
        if self.backend.size(journal) is None:
            return
        _, files = open_marker(raw, key, data_key)
        try:
            self._confirm_references(key, tenant, files)
        except SnapshotIntegrityError:
            self.backend.delete([self._marker(key)])
            raise
        self.backend.delete([journal])

    def _forget_attempt(self, key: str, attempt: str, journal: str, tenant: str, pack: PackPlan) -> None:
        # Blobs it uploaded may be shared with another publish (same content, same name): the sweep judges them.
        try:
            self.backend.delete([info.key for info in self.backend.list(f"{key}/{attempt}/")]
                                + [object_key(tenant, pack.ref), journal])
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
        packs = PackReader(parse_snapshot_key(snapshot_key)[0], data_key, self.backend.open)
        try:
            for entry in files:
                chunks = open_file(self.backend, snapshot_key, attempt, entry, data_key, packs)
                try:
                    yield entry.path, chunks
                finally:
                    chunks.close()
        finally:
            packs.close()

    def read_file(self, snapshot_key: str, data_key: bytes, path: str) -> Iterator[bytes]:
        """The decrypted chunks of one file of a snapshot, checked against its index (random access).

        A path the snapshot does not hold raises SnapshotNotFound; a file that does not match its index raises
        SnapshotIntegrityError by the time its last chunk has been read.
        """
        attempt, files = open_marker(self._read_marker(snapshot_key), snapshot_key, data_key)
        entry = next((f for f in files if f.path == path), None)
        if entry is None:
            raise SnapshotNotFound(f"snapshot {snapshot_key} holds no file {path!r}")
        return open_file(self.backend, snapshot_key, attempt, entry, data_key)

    def list_snapshots(self, tenant_key: str) -> list[str]:
        """The keys of a tenant's complete snapshots, sorted."""
        base = f"tenants/{tenant_hash(tenant_key)}"
        runs = self.backend.children(base + "/")
        return sorted(f"{base}/{run}" for run in runs if self.backend.size(self._marker(f"{base}/{run}")) is not None)

    def size(self, snapshot_key: str) -> int:
        """The bytes of storage a complete snapshot references: its marker, its own files and, in full, the shared
        blobs and pack ranges it reads (so snapshots sharing objects each count them; see `added_bytes`)."""
        raw = self._read_marker(snapshot_key)
        header = marker_header(raw)
        attempt = header["attempt"]
        if header["format"] != LEGACY_FORMAT:
            return len(raw) + int(header["storedBytes"])
        if attempt.startswith(LEGACY_ATTEMPT):
            return sum(info.size for info in self.backend.list(f"{snapshot_key}/"))
        return len(raw) + sum(info.size for info in self.backend.list(f"{snapshot_key}/{attempt}/"))

    def added_bytes(self, snapshot_key: str) -> int:
        """The bytes the snapshot's publish added to storage (its marker included); all of it for an older one."""
        raw = self._read_marker(snapshot_key)
        header = marker_header(raw)
        if header["format"] == LEGACY_FORMAT:
            return self.size(snapshot_key)
        return len(raw) + int(header["addedBytes"])

    def probe(self) -> None:
        """Check that the storage is reachable (readiness); StorageUnavailable otherwise."""
        self.backend.probe()

    # -- removing --------------------------------------------------------------------------------------------

    def sweep(self, tenant_key: str, older_than: datetime, data_key: bytes, *,
              report: Removed | None = None) -> tuple[int, int]:
        """Remove the tenant's shared objects no complete snapshot references and written before `older_than`;
        return (objects, bytes). An unreadable marker means nothing is removed (see sweep.py for the crash story)."""
        return sweeping.sweep_tenant(self, tenant_key, older_than, data_key, report=report)

    def delete(self, snapshot_key: str) -> None:
        """Remove a snapshot's marker and own files (a missing one is not an error); it stops being visible first.

        Shared objects stay, even those only it referenced: `sweep` removes them, knowing what the others need."""
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
            if len(parts) == 2 and parts[1].startswith(sweeping.SWEEP_JOURNAL):
                continue  # a sweep's own entry: publishes wait on it while it is live; sweeps remove dead ones
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
            if marker_header(raw)["format"] != LEGACY_FORMAT:
                # Revealed, but its publisher may have stopped before confirming its shared objects survived a
                # concurrent sweep: that takes the data key, so the entry stays for the run's retry to confirm.
                return False, 0
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
