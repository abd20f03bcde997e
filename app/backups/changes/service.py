"""What changed from one of a tenant's snapshots (`since`) to another: the runs checked, their stored snapshots
streamed through the pure diff.

Stored snapshots never change, so a result is kept for a few pairs per process: the page asks again each time the
view is opened, and reading two large snapshots is the expensive part.
"""
from __future__ import annotations

import gzip
import logging
import threading
from collections import OrderedDict
from datetime import datetime

from ...errors import Conflict, ServiceUnavailable, ValidationFailed
from ...models import Tenant
from ..snapshot.source import SnapshotSource, SnapshotUnreadable
from ..lifecycle.datakeys import data_key_for
from ..runs.history import tenant_run
from ..store.backend import StorageError
from .diff import DEFAULT_LIMIT, MAX_LIMIT, diff_snapshots

logger = logging.getLogger(__name__)

CACHED_RESULTS = 8
_CACHE: "OrderedDict[tuple, dict]" = OrderedDict()
_LOCK = threading.Lock()


def _stored_run(tenant: Tenant, run_id: str, field: str | None = None):
    run = tenant_run(tenant, run_id)  # NotFound for an unknown id or another tenant's run
    if run.status != "succeeded" or not run.snapshot_key or run.deleted_at is not None:
        which = "The backup to compare with" if field == "since" else "This backup"
        state = "removed by retention" if run.status == "succeeded" else run.status
        raise Conflict(f"{which} is {state}: only stored, succeeded snapshots can be compared.")
    return run


def parse_limit(raw: str | None) -> int:
    """The `limit` query parameter: items listed per entity and kind of change (counts are always complete)."""
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or int(raw) > MAX_LIMIT:
        raise ValidationFailed(f"limit must be a whole number from 0 to {MAX_LIMIT}.",
                               fields={"limit": f"Expected a whole number from 0 to {MAX_LIMIT}."})
    return int(raw)


def changes_between(tenant: Tenant, run_id: str, since: str | None, *, store, sealer, now: datetime,
                    limit: int = DEFAULT_LIMIT) -> dict:
    """`{ENTITY: {"added", "modified", "removed", "counts", "truncated"}}` from the snapshot of run `since` to that
    of run `run_id`. 422 without `since`, 404 for an unknown or another tenant's run, 409 for one with no stored
    succeeded snapshot, 503 when storage cannot be read."""
    if not since:
        raise ValidationFailed("Say which backup to compare with.",
                               fields={"since": "Required: the id of the earlier succeeded backup."})
    newer = _stored_run(tenant, run_id)
    older = _stored_run(tenant, since, "since")
    cache_key = (older.snapshot_key, newer.snapshot_key, limit)
    with _LOCK:
        if cache_key in _CACHE:
            _CACHE.move_to_end(cache_key)
            return _CACHE[cache_key]
    data_key = data_key_for(tenant, now, sealer)
    try:
        result = diff_snapshots(SnapshotSource(store, older.snapshot_key, data_key),
                                SnapshotSource(store, newer.snapshot_key, data_key), limit=limit)
    except (StorageError, LookupError, SnapshotUnreadable, gzip.BadGzipFile, EOFError, ValueError) as exc:
        # The exception's text may name storage paths: the log gets its type, the admin a plain sentence.
        logger.error("snapshots could not be read to compare them: %s", type(exc).__name__)
        raise ServiceUnavailable("The snapshots could not be read right now; try again shortly.") from None
    with _LOCK:
        _CACHE[cache_key] = result
        while len(_CACHE) > CACHED_RESULTS:
            _CACHE.popitem(last=False)
    return result
