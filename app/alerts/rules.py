"""Pure health and incident rules: from what is known about a tenant's backups to a state and what to alert.

No database, no clock: the caller gathers `Facts` (app/alerts/facts.py) and passes `now` inside them.

- `waiting_for_credentials`: no Xray credentials are stored. An incident (`skipped`) once a scheduled backup
  would have run without them.
- `failing`: the newest finished run failed or was skipped. A scheduled one opens an incident: `skipped` when
  credentials were missing or rejected, `failed` otherwise (after its retries: only final outcomes are runs'
  statuses). A manual failure opens none (the admin is watching) but keeps an open one open.
- `stale`: scheduled backups are on and no backup has succeeded for twice the schedule's interval.
- `warnings`: the newest run succeeded with warnings. `healthy` otherwise. Both close an open incident.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ..backups.runs.reasons import CREDENTIAL_REASONS

EVENTS = ("failed", "skipped", "stale", "recovered")
HEALTHY_STATES = ("healthy", "warnings")
STALE_FACTOR = 2


@dataclass(frozen=True)
class RunFact:
    id: str
    status: str
    trigger: str
    finished_at: datetime | None
    reason: str | None = None
    warnings: int = 0
    message: str | None = None


@dataclass(frozen=True)
class Facts:
    now: datetime
    has_credentials: bool
    schedule_enabled: bool
    interval: timedelta | None            # the schedule's interval (None when off)
    expected_since: datetime              # since when backups are expected (install, or credentials removal)
    last_slot: datetime | None = None     # the latest scheduled slot at or before now (None when off)
    last_run: RunFact | None = None       # the newest finished run (imported and cancelled ones left out)
    last_success_at: datetime | None = None


@dataclass(frozen=True)
class Assessment:
    state: str                 # healthy | warnings | failing | stale | waiting_for_credentials
    message: str               # what the top of the Backups page says
    incident: str | None = None  # failed | skipped | stale: open one if none is open
    run_id: str | None = None

    @property
    def recovered(self) -> bool:
        """Healthy again: an open incident is over."""
        return self.state in HEALTHY_STATES


def assess(facts: Facts) -> Assessment:
    """The tenant's backup health and the incident it amounts to."""
    if not facts.has_credentials:
        missed = (facts.schedule_enabled and facts.last_slot is not None
                  and facts.last_slot >= facts.expected_since)
        return Assessment("waiting_for_credentials",
                          "No Xray credentials are saved, so no backup can run. Add them on the Xray Credentials "
                          "page; scheduled backups start on their own afterwards.",
                          "skipped" if missed else None)
    run = facts.last_run
    if run is not None and run.status in ("failed", "skipped"):
        incident = None
        if run.trigger == "scheduled":
            incident = "skipped" if run.status == "skipped" or run.reason in CREDENTIAL_REASONS else "failed"
        what = "was skipped" if run.status == "skipped" else "failed"
        return Assessment("failing", f"The last backup {what}: {run.message or 'see the run history.'}",
                          incident, run.id)
    if is_stale(facts):
        since = facts.last_success_at
        text = ("No backup has succeeded yet" if since is None else
                f"No backup has succeeded for {_amount(facts.now - since)}")
        return Assessment("stale", text + ", although backups are scheduled. Check that the scheduler is running, "
                          "or run a backup now.", "stale")
    if run is not None and run.status == "succeeded" and run.warnings:
        n = run.warnings
        return Assessment("warnings", f"The last backup succeeded with {n} warning{'s' if n != 1 else ''}: "
                          "some items could not be copied whole. See the run's warnings.", run_id=run.id)
    if facts.last_success_at is None:
        return Assessment("healthy", "No backup yet. The first one runs at the next scheduled time, or now with "
                          "Back up now." if facts.schedule_enabled else
                          "No backup yet, and scheduled backups are off. Use Back up now.")
    return Assessment("healthy", "Backups are up to date.")


def is_stale(facts: Facts) -> bool:
    """No success for twice the schedule's interval (counted from when backups were first expected)."""
    if not facts.schedule_enabled or facts.interval is None:
        return False
    since = facts.last_success_at or facts.expected_since
    return facts.now - since > STALE_FACTOR * facts.interval


def _amount(delta: timedelta) -> str:
    hours = int(delta.total_seconds() // 3600)
    if hours >= 48:
        return f"{hours // 24} days"
    return f"{hours} hour{'s' if hours != 1 else ''}"
