"""The tenant's id map: old → new ids of what restores created, and the intents written before each create.

An intent (`creating`, with the fingerprint the new item will show and when it was written) is committed before
the request that creates the item; the new id (`created`) right after Xray answered. One restore runs per tenant
at a time, so rows are read and written without races. Callers commit.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select

from ..extensions import db
from .models import RestoreIdMap
from .planner import MapEntry

CREATING, CREATED = "creating", "created"


@dataclass(frozen=True)
class Intent:
    entity: str
    source_id: str
    target_project: str
    fingerprint: str | None
    intent_at: datetime
    job_ref: str | None


def load_map(tenant_id: int) -> dict[tuple[str, str], list[MapEntry]]:
    """Every row of the tenant's map, by (entity, source id)."""
    out: dict[tuple[str, str], list[MapEntry]] = {}
    rows = db.session.execute(select(RestoreIdMap.entity, RestoreIdMap.source_id, RestoreIdMap.target_project_id,
                                     RestoreIdMap.state, RestoreIdMap.target_id, RestoreIdMap.target_key)
                              .where(RestoreIdMap.tenant_id == tenant_id)).all()
    for entity, source_id, project, state, target_id, target_key in rows:
        out.setdefault((entity, source_id), []).append(MapEntry(project, state, target_id, target_key))
    return out


def _row(tenant_id: int, entity: str, source_id: str, target_project: str) -> RestoreIdMap | None:
    return db.session.scalar(select(RestoreIdMap).where(
        RestoreIdMap.tenant_id == tenant_id, RestoreIdMap.entity == entity, RestoreIdMap.source_id == source_id,
        RestoreIdMap.target_project_id == target_project))


def _upsert(tenant_id: int, entity: str, source_id: str, target_project: str, now: datetime, **values) -> None:
    row = _row(tenant_id, entity, source_id, target_project)
    if row is None:
        row = RestoreIdMap(tenant_id=tenant_id, entity=entity, source_id=source_id, target_project_id=target_project)
        db.session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = now


def write_intent(tenant_id: int, restore_id: str, entity: str, source_id: str, target_project: str,
                 fingerprint: str | None, now: datetime) -> None:
    """Record that the item is about to be created (replacing whatever an earlier restore left for it)."""
    _upsert(tenant_id, entity, source_id, target_project, now, state=CREATING, target_id=None, target_key=None,
            fingerprint=fingerprint, intent_at=now, job_ref=None, restore_id=restore_id)


def set_job(tenant_id: int, entity: str, source_ids: list[str], target_project: str, job_ref: str,
            now: datetime) -> None:
    """Note the bulk import job the intents went out in (so a resumed restore can ask the job what it made)."""
    for source_id in source_ids:
        _upsert(tenant_id, entity, source_id, target_project, now, job_ref=job_ref)


def record_created(tenant_id: int, restore_id: str, entity: str, source_id: str, target_project: str,
                   target_id: str, target_key: str | None, now: datetime) -> None:
    """Record the new item's id and key: from now on it stands for the snapshot item in that project."""
    _upsert(tenant_id, entity, source_id, target_project, now, state=CREATED, target_id=target_id,
            target_key=target_key, fingerprint=None, job_ref=None, restore_id=restore_id)


def drop_intent(tenant_id: int, entity: str, source_id: str, target_project: str) -> None:
    """Forget an intent whose create Xray refused: nothing was made."""
    db.session.execute(delete(RestoreIdMap).where(
        RestoreIdMap.tenant_id == tenant_id, RestoreIdMap.entity == entity, RestoreIdMap.source_id == source_id,
        RestoreIdMap.target_project_id == target_project, RestoreIdMap.state == CREATING))


def pending(tenant_id: int, entity: str, target_project: str | None = None) -> list[Intent]:
    """The intents no answer confirmed yet (of one project, or all)."""
    query = select(RestoreIdMap).where(RestoreIdMap.tenant_id == tenant_id, RestoreIdMap.entity == entity,
                                       RestoreIdMap.state == CREATING)
    if target_project is not None:
        query = query.where(RestoreIdMap.target_project_id == target_project)
    return [Intent(r.entity, r.source_id, r.target_project_id, r.fingerprint, r.intent_at, r.job_ref)
            for r in db.session.scalars(query.order_by(RestoreIdMap.id)).all()]


def created_target_ids(tenant_id: int, entity: str, target_project: str) -> set[str]:
    """Every target id the map already gives to some snapshot item in a project (never adopted twice)."""
    return set(db.session.scalars(select(RestoreIdMap.target_id).where(
        RestoreIdMap.tenant_id == tenant_id, RestoreIdMap.entity == entity, RestoreIdMap.state == CREATED,
        RestoreIdMap.target_project_id == target_project)).all())


def created_by(tenant_id: int, entity: str, source_id: str, target_project: str) -> tuple[str, str | None, str] | None:
    """(target id, key, restore id) when the map holds a created item for it."""
    row = _row(tenant_id, entity, source_id, target_project)
    if row is None or row.state != CREATED:
        return None
    return row.target_id, row.target_key, row.restore_id
