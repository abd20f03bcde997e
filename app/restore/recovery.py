"""Finding what an interrupted attempt created, before creating it again.

An intent says "this item was about to be created, at this moment, looking like this (fingerprint)". Xray is
asked for the project's items of that entity modified since a little before the earliest intent (clocks differ);
an item created since then, not yet standing for anything else, with the same fingerprint, is the one the
attempt made: the id map records it, and it is not created again.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ..presentation import iso, parse_iso
from . import idmap
from .documents import ALL, RECENT
from .payloads import found_fingerprint

logger = logging.getLogger(__name__)

CLOCK_MARGIN = timedelta(minutes=10)  # Xray's clock and ours may differ; the fingerprint does the matching


def _created(record: dict) -> datetime | None:
    try:
        return parse_iso((record.get("jira") or {}).get("created"))
    except (TypeError, ValueError):
        return None


def recent(client, entity: str, project_id: str, since: datetime) -> list[dict]:
    """Every item of the entity in the project that Xray lists as modified since `since`."""
    name, root = RECENT[entity]
    out: list[dict] = []
    while True:
        page = client.graphql(name, ALL[name], {"projectId": project_id, "since": iso(since), "start": len(out)})[root]
        results = (page or {}).get("results") or []
        out.extend(results)
        if not results or len(out) >= (page.get("total") or 0):
            return out


def recover(client, tenant_id: int, restore_id: str, entity: str, project_id: str, *, now: datetime,
            exclude: set[str] = frozenset()) -> dict[str, tuple[str, str | None]]:
    """Adopt the items pending intents made; return `{source id: (target id, key)}` for those found.

    `exclude`: target ids that stand for other snapshot items (the items found existing), never adopted.
    """
    intents = [i for i in idmap.pending(tenant_id, entity, project_id) if i.fingerprint]
    if not intents:
        return {}
    since = min(i.intent_at for i in intents) - CLOCK_MARGIN
    taken = idmap.created_target_ids(tenant_id, entity, project_id) | set(exclude)
    by_fingerprint: dict[str, list[dict]] = {}
    for record in sorted(recent(client, entity, project_id, since), key=lambda r: int(r["issueId"])
                         if str(r["issueId"]).isdigit() else 0):
        created = _created(record)
        if str(record["issueId"]) in taken or (created is not None and created < since):
            continue
        by_fingerprint.setdefault(found_fingerprint(entity, record), []).append(record)
    adopted: dict[str, tuple[str, str | None]] = {}
    for intent in intents:
        matches = by_fingerprint.get(intent.fingerprint)
        if not matches:
            continue
        record = matches.pop(0)
        key = (record.get("jira") or {}).get("key")
        idmap.record_created(tenant_id, restore_id, entity, intent.source_id, project_id, str(record["issueId"]), key,
                             now)
        adopted[intent.source_id] = (str(record["issueId"]), key)
    if adopted:
        logger.info("restore %s: found %d %s an interrupted attempt had created", restore_id, len(adopted), entity)
    return adopted
