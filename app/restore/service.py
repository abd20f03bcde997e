"""The restore use-cases the views and the CLI call: start one (every check before anything is queued), read
them back, report their items.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Iterator

from sqlalchemy import func, select

from ..backups.lifecycle.datakeys import data_key_for
from ..backups.runs.history import tenant_run
from ..backups.store.backend import StorageError
from ..catalogue import ISSUE_ENTITIES
from ..connect.jira import JiraClient, JiraError
from ..errors import NotFound, ServiceUnavailable, ValidationFailed
from ..extensions import db
from ..models import Tenant
from ..presentation import iso
from ..tenants import shared_secret
from .jobs import RestoreAlreadyActive, enqueue_restore
from .models import Restore, RestoreItem
from ..backups.snapshot.source import SnapshotSource, SnapshotUnreadable

MAX_ISSUE_KEYS = 1000
FINAL = ("succeeded", "failed", "cancelled")
NOT_REACHED = "Not reached: the restore stopped before it."


@dataclass(frozen=True)
class RestoreRequest:
    run_id: str
    projects: dict[str, str] | None
    issue_keys: list[str] | None
    dry_run: bool


def parse_request(body) -> RestoreRequest:
    """The body of `POST /api/restores`, checked field by field (422 naming each bad field)."""
    if not isinstance(body, dict):
        raise ValidationFailed("The body must be a JSON object.", fields={"body": "Expected a JSON object."})
    problems: dict[str, str] = {}
    run_id = body.get("runId")
    if not isinstance(run_id, str) or not run_id.strip():
        problems["runId"] = "The id of a succeeded backup run is required."
    projects = body.get("projects")
    if projects is not None and (not isinstance(projects, dict) or not projects or not all(
            isinstance(k, str) and k.strip() and isinstance(v, str) and v.strip() for k, v in projects.items())):
        problems["projects"] = 'Expected an object mapping snapshot project keys to target project keys, e.g. {"ABC": "ABC"}.'
    keys = body.get("issueKeys")
    if keys is not None and (not isinstance(keys, list) or not keys or len(keys) > MAX_ISSUE_KEYS
                             or not all(isinstance(k, str) and k.strip() for k in keys)):
        problems["issueKeys"] = f"Expected a list of 1 to {MAX_ISSUE_KEYS} issue keys."
    dry_run = body.get("dryRun", False)
    if not isinstance(dry_run, bool):
        problems["dryRun"] = "Expected true or false."
    unknown = sorted(set(body) - {"runId", "projects", "issueKeys", "dryRun"})
    for name in unknown:
        problems[name] = "Unknown field."
    if problems:
        raise ValidationFailed("Some fields are invalid.", fields=problems)
    return RestoreRequest(run_id.strip(), {k.strip(): v.strip() for k, v in projects.items()} if projects else None,
                          list(dict.fromkeys(k.strip() for k in keys)) if keys else None, dry_run)


def has_active(tenant: Tenant) -> bool:
    return bool(db.session.scalar(select(func.count()).select_from(Restore).where(
        Restore.tenant_id == tenant.id, Restore.status.in_(("queued", "running")))))


def snapshot_of(tenant: Tenant, run, services, now: datetime) -> SnapshotSource:
    return SnapshotSource(services.store, run.snapshot_key, data_key_for(tenant, now, services.sealer))


def _targets(tenant: Tenant, request: RestoreRequest, projects: list[dict], services) -> dict:
    """Each snapshot project in scope and the Jira project it restores into (422 naming what is wrong)."""
    by_key = {p.get("key"): p for p in projects}
    wanted = request.projects or {p.get("key"): p.get("key") for p in projects}
    problems = {f"projects.{src}": f"The snapshot has no project {src}." for src in wanted if src not in by_key}
    if problems:
        raise ValidationFailed("A project is not in the snapshot.", fields=problems)
    jira = JiraClient(tenant, shared_secret=shared_secret(tenant, services.sealer), app_key=services.config.app_key)
    targets = {}
    try:
        for src, dst in wanted.items():
            found = jira.project(dst)
            if found is None:
                problems[f"projects.{src}"] = f"The target project {dst} does not exist in Jira."
            else:
                targets[src] = found
    except JiraError:
        raise ServiceUnavailable("Jira could not confirm the target projects right now; try again shortly.") from None
    if problems:
        raise ValidationFailed("A target project does not exist.", fields=problems)
    return targets


def _check_keys(source: SnapshotSource, keys: list[str], targets: dict) -> None:
    projects = {str(p.get("id")): p.get("key") for p in source.projects()}
    found: dict[str, str] = {}
    for entity in ISSUE_ENTITIES:
        for record in source.records(entity):
            key = (record.get("jira") or {}).get("key")
            if key in keys:
                found[key] = projects.get(str(record.get("projectId")))
    missing = [k for k in keys if k not in found]
    if missing:
        raise ValidationFailed(f"Not in the snapshot: {', '.join(missing[:10])}.",
                               fields={"issueKeys": "Issue keys not in the snapshot: " + ", ".join(missing[:20])})
    outside = [k for k in keys if found[k] not in targets]
    if outside:
        raise ValidationFailed("Some issue keys are not in the projects chosen.",
                               fields={"issueKeys": "Not in the chosen projects: " + ", ".join(outside[:20])})


def start_restore(tenant: Tenant, body, services, *, now: datetime, account_id: str | None) -> Restore:
    """Check a restore request against the run, the snapshot and Jira, then queue it."""
    request = parse_request(body)
    run = tenant_run(tenant, request.run_id)
    if run.status != "succeeded" or not run.snapshot_key:
        raise ValidationFailed(f"This backup is {run.status}: only a succeeded backup can be restored.",
                               fields={"runId": f"The backup run is {run.status}, not succeeded."})
    if run.deleted_at is not None:
        raise ValidationFailed("This snapshot was deleted by the retention policy.",
                               fields={"runId": "The snapshot of this run is no longer stored."})
    if has_active(tenant):
        raise RestoreAlreadyActive()
    try:
        source = snapshot_of(tenant, run, services, now)
        targets = _targets(tenant, request, source.projects(), services)
        if request.issue_keys:
            _check_keys(source, request.issue_keys, targets)
    except (StorageError, LookupError, SnapshotUnreadable) as exc:
        raise ServiceUnavailable(f"The snapshot could not be read: {exc}") from None
    return enqueue_restore(tenant, run.id, now, targets=targets, issue_keys=request.issue_keys,
                           dry_run=request.dry_run, requested_by=account_id)


def tenant_restore(tenant: Tenant, restore_id: str) -> Restore:
    """One of the tenant's restores; NotFound otherwise."""
    restore = db.session.get(Restore, restore_id) if isinstance(restore_id, str) and 0 < len(restore_id) <= 32 else None
    if restore is None or restore.tenant_id != tenant.id:
        raise NotFound("No restore with this id.")
    return restore


def outcomes(restore: Restore) -> dict[str, dict[str, int]]:
    """Items per entity and outcome (pending items are not counted)."""
    rows = db.session.execute(select(RestoreItem.entity, RestoreItem.outcome, func.count())
                              .where(RestoreItem.restore_id == restore.id, RestoreItem.outcome.is_not(None))
                              .group_by(RestoreItem.entity, RestoreItem.outcome)).all()
    out: dict[str, dict[str, int]] = {}
    for entity, outcome, n in rows:
        out.setdefault(entity, {})[outcome] = n
    return out


def restore_json(restore: Restore, *, detail: bool = False) -> dict:
    """A restore as `GET /api/restores` lists it; with `detail`, as `GET /api/restores/<id>` shows it."""
    out = {"id": restore.id, "runId": restore.run_id, "status": restore.status, "dryRun": restore.dry_run,
           "queuedAt": iso(restore.queued_at), "startedAt": iso(restore.started_at),
           "finishedAt": iso(restore.finished_at), "counts": restore.counts or {}, "message": restore.message,
           "projects": {src: t.get("key") for src, t in (restore.targets or {}).items()},
           "issueKeys": restore.issue_keys}
    if detail:
        plan = dict(restore.plan) if restore.plan else None
        if plan is not None:
            plan.pop("folderPaths", None)
        out.update(plan=plan, outcomes=outcomes(restore), requests=restore.requests, attempts=restore.attempts)
        if restore.status == "running":
            out["progress"] = restore.progress or {"stage": "starting", "done": 0, "total": 0}
    return out


def list_restores(tenant: Tenant, limit: int = 50) -> list[dict]:
    rows = db.session.scalars(select(Restore).where(Restore.tenant_id == tenant.id)
                              .order_by(Restore.queued_at.desc(), Restore.id.desc()).limit(limit)).all()
    return [restore_json(r) for r in rows]


def item_records(restore: Restore, site_url: str) -> Iterator[dict]:
    """The restore's items in plan order, as `GET /api/restores/<id>/items` lists them."""
    final = restore.status in FINAL
    query = select(RestoreItem).where(RestoreItem.restore_id == restore.id).order_by(RestoreItem.seq)
    for row in db.session.scalars(query.execution_options(yield_per=500)):
        outcome, reason = row.outcome, row.reason
        if outcome is None:
            if not final:
                continue
            outcome, reason = "skipped", NOT_REACHED
        record = {"entity": row.entity, "sourceId": row.source_id, "sourceKey": row.source_key, "outcome": outcome,
                  "targetId": row.target_id if outcome != "skipped" or row.action == "existing" else None,
                  "targetKey": row.target_key if outcome != "skipped" else None, "reason": reason}
        if record["targetKey"] and row.entity != "test_runs":
            record["targetUrl"] = f"{site_url.rstrip('/')}/browse/{record['targetKey']}"
        yield record


def items_jsonl(restore: Restore, site_url: str) -> Iterator[str]:
    for record in item_records(restore, site_url):
        yield json.dumps(record, ensure_ascii=False) + "\n"


def items_csv(restore: Restore, site_url: str) -> Iterator[str]:
    """The items report as CSV, for a spreadsheet."""
    columns = ["entity", "sourceKey", "sourceId", "outcome", "targetKey", "targetId", "targetUrl", "reason"]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    yield buffer.getvalue()
    for record in item_records(restore, site_url):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(record)
        yield buffer.getvalue()
