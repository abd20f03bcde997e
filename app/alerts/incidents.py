"""Incidents in the database, so that "once" holds across threads and processes.

Opening: an insert that the one-open-incident-per-tenant index lets through for exactly one caller; that caller
sends the alert. Closing: a conditional update that exactly one caller wins; that caller sends the recovery,
and only when the opening alert went out (a recovery from something never reported would puzzle its reader).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update

from ..extensions import db, insert_ignoring_conflict
from .models import AlertIncident
from .rules import Assessment


@dataclass(frozen=True)
class Transition:
    event: str            # failed | skipped | stale | recovered
    incident_id: int
    run_id: str | None
    message: str
    opened_at: datetime


def open_incident(tenant_id: int) -> AlertIncident | None:
    return db.session.scalars(select(AlertIncident).where(AlertIncident.tenant_id == tenant_id,
                                                          AlertIncident.resolved_at.is_(None))).first()


def record(tenant_id: int, assessment: Assessment, now: datetime) -> Transition | None:
    """Open or close the tenant's incident as the assessment says; the transition this caller alone must announce."""
    if assessment.incident is not None:
        inserted = db.session.execute(insert_ignoring_conflict(AlertIncident, dict(
            tenant_id=tenant_id, kind=assessment.incident, run_id=assessment.run_id, message=assessment.message,
            opened_at=now)).returning(AlertIncident.id)).scalars().all()
        db.session.commit()
        if not inserted:
            return None  # already open: announced when it opened
        return Transition(assessment.incident, inserted[0], assessment.run_id, assessment.message, now)
    if not assessment.recovered:
        return None
    incident = open_incident(tenant_id)
    if incident is None:
        return None
    closed = db.session.execute(
        update(AlertIncident).where(AlertIncident.id == incident.id, AlertIncident.resolved_at.is_(None))
        .values(resolved_at=now).execution_options(synchronize_session=False)).rowcount
    db.session.commit()
    if closed != 1 or incident.notified_at is None:
        return None
    return Transition("recovered", incident.id, assessment.run_id, assessment.message, incident.opened_at)


def mark_notified(incident_id: int, event: str, now: datetime) -> None:
    column = "recovery_notified_at" if event == "recovered" else "notified_at"
    db.session.execute(update(AlertIncident).where(AlertIncident.id == incident_id).values({column: now})
                       .execution_options(synchronize_session=False))
    db.session.commit()
