"""Mark and sweep of a tenant's shared objects, and the handshake that keeps a publish safe from a sweep.

A sweep writes its journal entry (`pending/<tenant>/sweep-<random>`) first, then reads every complete snapshot's
marker (the mark), then removes the objects no marker names that were written before `older_than` (objects of a
publish still uploading are younger), then removes its journal entry. It stops removing once it has run for
`SWEEP_DEADLINE` seconds, so a live sweep's journal entry never outlives that by much.

A publish, after writing its marker, waits until no sweep journal entry it can see is live, then checks its objects
are present. Any sweep that read the markers before this marker existed had written its entry before that, so it is
either seen and waited for (its removals are then over, and the check sees them) or over already; a sweep that
starts later reads this marker. An entry older than `DEAD_AFTER` seconds (on the storage's clock: the marker's
time against the entry's) belongs to a sweep that died: it is ignored, and a later sweep removes it.

Crashes: a sweep killed anywhere leaves every marked object in place (it only removes unreferenced ones) and at
worst a journal entry (ignored once dead, removed by a later sweep) and objects it did not get to (the next sweep
removes them). A publish revealed within `DEAD_AFTER` of a killed sweep waits that long once, then proceeds.
"""
from __future__ import annotations

import io
import logging
import secrets
from datetime import datetime, timedelta
from typing import Callable

from ...crypto import tenant_hash
from .backend import SnapshotIntegrityError, SnapshotNotFound
from .marker import MARKER, open_marker
from .objects import objects_prefix

logger = logging.getLogger(__name__)

PENDING = "pending"
SWEEP_JOURNAL = "sweep-"
SWEEP_DEADLINE = 120.0  # seconds a sweep may spend before it stops removing
DEAD_AFTER = 300.0  # a sweep journal entry this old belongs to a sweep that died (its deadline plus a margin)
POLL = 1.0
FORGOTTEN = timedelta(seconds=DEAD_AFTER)  # a sweep removes entries this much older than its own (dead sweeps')
BATCH = 500

Report = Callable[[str, int, int], None]  # (what was removed, blobs, bytes)


def _journal_prefix(tenant: str) -> str:
    return f"{PENDING}/{tenant}/{SWEEP_JOURNAL}"


def _sweep_entries(store, tenant: str):
    prefix = _journal_prefix(tenant)
    return [info for info in store.backend.list(f"{PENDING}/{tenant}/") if info.key.startswith(prefix)]


def wait_for_sweeps(store, tenant: str, revealed_at: datetime) -> None:
    """Return once no live sweep of the tenant's objects is under way (dead ones are recognised and ignored).

    `revealed_at` is the storage's own time of the marker just written: entries are aged on the storage's clock
    (plus the time waited here), so the hosts' clocks do not matter.
    """
    started = store.clock()
    while True:
        storage_now = revealed_at + timedelta(seconds=store.clock() - started)
        live = [info.key for info in _sweep_entries(store, tenant)
                if storage_now - info.modified < timedelta(seconds=DEAD_AFTER)]
        if not live:
            return
        logger.info("waiting for a sweep of stored objects to end before revealing a snapshot")
        store.sleep(POLL)


def sweep_tenant(store, tenant_key: str, older_than: datetime, data_key: bytes, *,
                 report: Report | None = None) -> tuple[int, int]:
    """Remove the tenant's objects no complete snapshot references, written before `older_than`: (objects, bytes)."""
    if older_than.tzinfo is None:
        raise ValueError("older_than must be an aware datetime")
    tenant = tenant_hash(tenant_key)
    journal = f"{_journal_prefix(tenant)}{secrets.token_hex(8)}"
    started = store.clock()
    store.backend.put(journal, io.BytesIO(b""))
    try:
        referenced = _mark(store, tenant_key, data_key)
        if referenced is None:
            return 0, 0
        prefix = objects_prefix(tenant)
        doomed = [info for info in store.backend.list(prefix)
                  if info.key[len(prefix):] not in referenced and info.modified < older_than]
        removed = freed = 0
        for at in range(0, len(doomed), BATCH):
            if store.clock() - started > SWEEP_DEADLINE:
                logger.warning("storage sweep of tenant %s stopped at its deadline; the next sweep continues", tenant)
                break
            batch = doomed[at:at + BATCH]
            store.backend.delete([info.key for info in batch])
            removed += len(batch)
            freed += sum(info.size for info in batch)
        if removed:
            logger.info("storage sweep of tenant %s removed %d unreferenced object(s)", tenant, removed)
            if report:
                report(f"{prefix.rstrip('/')} (objects no snapshot references)", removed, freed)
        return removed, freed
    finally:
        _remove_journals(store, tenant, journal)


def _mark(store, tenant_key: str, data_key: bytes) -> set[str] | None:
    """Every object a complete snapshot of the tenant references; None when a marker cannot be read."""
    referenced: set[str] = set()
    for key in store.list_snapshots(tenant_key):
        raw = store.backend.read(f"{key}/{MARKER}")
        if raw is None:
            continue  # deleted meanwhile: what only it referenced may go
        try:
            _, files = open_marker(raw, key, data_key)
        except (SnapshotIntegrityError, SnapshotNotFound) as exc:
            logger.warning("storage sweep skipped: the marker of %s cannot be read (%s); nothing is removed", key, exc)
            return None
        for entry in files:
            referenced |= entry.refs
    return referenced


def _remove_journals(store, tenant: str, own: str) -> None:
    """Remove this sweep's journal entry, and those of sweeps that died (aged on the storage's clock)."""
    try:
        entries = _sweep_entries(store, tenant)
        mine = next((info.modified for info in entries if info.key == own), None)
        dead = [info.key for info in entries if mine is not None and mine - info.modified > FORGOTTEN]
        store.backend.delete([own, *dead])
    except Exception:  # storage down: the entry is recognised as dead later
        logger.warning("could not remove the storage sweep's journal entry %s", own)
