"""What an operator sees when a run or restore attempt ends: one log line per outcome, and the metric counters.

`settle` (app/backups/runs/status.py), the lease takeovers (claims.py) and the restore engine call these once per
event. A finished run logs one INFO line (id, tenant id, status, kind, duration, counts, requests); every failed
attempt logs one WARNING with its message. Recording never raises: a metrics write that fails is logged (damped).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from ..logs import run_logging
from . import metrics

logger = logging.getLogger("app.runs")


@dataclass(frozen=True)
class RunFacts:
    """What the log line and the metrics say about a run (read from its row when the attempt ended)."""

    id: str
    tenant_id: int
    kind: str
    trigger: str
    attempts: int
    started_at: datetime | None
    counts: dict | None
    requests: int | None

    @classmethod
    def of(cls, run) -> "RunFacts":
        # `kind` arrives with incremental backups; until then every run is a full one.
        return cls(run.id, run.tenant_id, getattr(run, "kind", None) or "full", run.trigger, run.attempts or 0,
                   run.started_at, run.counts, run.requests)

    def duration(self, now: datetime) -> float | None:
        return (now - self.started_at).total_seconds() if self.started_at is not None else None


def run_attempt_failed(facts: RunFacts, message: str | None, *, retry_in: float | None = None) -> None:
    """One WARNING per failed attempt, with the message the admin sees."""
    extra = dict(event="run_attempt_failed", tenant_id=facts.tenant_id, kind=facts.kind, attempt=facts.attempts,
                 error=message)
    with run_logging(facts.id):
        if retry_in is not None:
            extra["retry_in_seconds"] = retry_in
            logger.warning("run %s attempt %d failed (tenant %s; queued again, retry in %.0f s): %s", facts.id,
                           facts.attempts, facts.tenant_id, retry_in, message, extra=extra)
        else:
            logger.warning("run %s attempt %d failed (tenant %s): %s", facts.id, facts.attempts, facts.tenant_id,
                           message, extra=extra)


def run_finished(engine, facts: RunFacts, status: str, now: datetime, message: str | None = None, *,
                 attempt_logged: bool = False) -> None:
    """The one INFO line of a run that ended (and a WARNING first when it failed); count it and its duration."""
    if status == "failed" and not attempt_logged:
        run_attempt_failed(facts, message)
    duration = facts.duration(now)
    counts = facts.counts or {}
    with run_logging(facts.id):
        logger.info("run %s finished: status=%s kind=%s tenant=%s trigger=%s duration=%s requests=%s counts=%s",
                    facts.id, status, facts.kind, facts.tenant_id, facts.trigger,
                    f"{duration:.1f}s" if duration is not None else "-",
                    facts.requests if facts.requests is not None else "-",
                    ",".join(f"{k}={v}" for k, v in counts.items()) or "-",
                    extra=dict(event="run_finished", tenant_id=facts.tenant_id, status=status, kind=facts.kind,
                               trigger=facts.trigger, attempts=facts.attempts,
                               duration_seconds=round(duration, 3) if duration is not None else None, counts=counts,
                               requests=facts.requests))
    metrics.record(engine, metrics.run_increments(status, facts.kind, duration))


def lease_taken_over(engine, facts: RunFacts, *, by: str | None, outcome: str) -> None:
    """A run's worker stopped heartbeating and lost it: its attempt failed, the run was `outcome` (taken, queued)."""
    with run_logging(facts.id):
        logger.warning("run %s attempt %d failed (tenant %s): its worker stopped heartbeating; %s", facts.id,
                       facts.attempts, facts.tenant_id, f"taken over by {by}" if by else outcome,
                       extra=dict(event="run_lease_takeover", tenant_id=facts.tenant_id, attempt=facts.attempts,
                                  taken_by=by, outcome=outcome))
    metrics.record(engine, {(metrics.TAKEOVERS, ""): 1.0})


def restore_finished(engine, *, restore_id: str, tenant_id: int, status: str, duration: float | None,
                     counts: dict | None = None, requests: int | None = None, dry_run: bool = False,
                     message: str | None = None) -> None:
    """For the restore engine: the one INFO line of a restore that ended (WARNING first when it failed); counted."""
    if status == "failed":
        logger.warning("restore %s failed (tenant %s): %s", restore_id, tenant_id, message,
                       extra=dict(event="restore_attempt_failed", restore_id=restore_id, tenant_id=tenant_id,
                                  error=message))
    logger.info("restore %s finished: status=%s kind=%s tenant=%s duration=%s requests=%s counts=%s", restore_id,
                status, "dry_run" if dry_run else "restore", tenant_id,
                f"{duration:.1f}s" if duration is not None else "-", requests if requests is not None else "-",
                ",".join(f"{k}={v}" for k, v in (counts or {}).items()) or "-",
                extra=dict(event="restore_finished", restore_id=restore_id, tenant_id=tenant_id, status=status,
                           kind="dry_run" if dry_run else "restore", duration_seconds=duration,
                           counts=counts or {}, requests=requests))
    metrics.record(engine, {(metrics.RESTORES, metrics.labels_text(status=status)): 1.0})
