"""Restore benchmark: Xray requests per restored item and the time they take at Xray Standard's rate limit,
against the naive count (one mutation per field change).

    .venv/bin/python bench/restore_bench.py                 # scales 1 and 10
    .venv/bin/python bench/restore_bench.py --scales 1

For each scale: the Xray simulator (in this process, over HTTP) and the fake Jira; the app on a temporary SQLite
database; a real backup; then every issue and folder of every project deleted, a dry run (which must send no
write) and the real restore of everything, through the real engine (planner, bulk test import, batched
mutations, execution results import). Requests are counted by the simulator, authentication and reads included;
the projection is requests ÷ 300 × 5 minutes (Xray Standard), as the tenant's shared pacer would space them.

Naive count: what a restore sending one mutation per field change would send, from the snapshot — per folder
createFolder; per item its create; per test a step each (addTestStep), its definition, each precondition link
and its folder; per set, plan or execution one link per test (and per plan one per execution, per execution its
environments); per run its status, its comment, one update for dates/people/fields, each step result, each
evidence file and its defects. Reads are not counted for it (its real cost is higher).
"""
from __future__ import annotations

import argparse
import gzip
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The project's packages, importable once the repository is on the path.
from flask_migrate import upgrade  # noqa: E402

from app import create_app  # noqa: E402
from app.backups.lifecycle.datakeys import data_key_for  # noqa: E402
from app.backups.runs.claims import claim_next  # noqa: E402
from app.backups.runs.enqueue import enqueue_manual  # noqa: E402
from app.backups.runs.runner import execute_run  # noqa: E402
from app.backups.runs.status import settle  # noqa: E402
from app.backups.snapshot.format import entity_file  # noqa: E402
from app.config import load_config  # noqa: E402
from app.crypto import generate_key  # noqa: E402
from app.extensions import db  # noqa: E402
from app.models import BackupRun, Tenant, utcnow  # noqa: E402
from app.restore.jobs import claim_next_restore, settle_restore  # noqa: E402
from app.restore.models import Restore  # noqa: E402
from app.restore.runner import execute_restore  # noqa: E402
from app.restore.service import start_restore  # noqa: E402
from app.services import services_of  # noqa: E402
from app.tenants import install  # noqa: E402
from app.xray.client import XrayClient  # noqa: E402
from app.xray.pacer import Pacer  # noqa: E402
from sim.jira import FakeJira  # noqa: E402
from sim.xray import XraySimulator  # noqa: E402
from sim.xray.dataset import Dataset  # noqa: E402

CLIENT_ID = "BENCH0000000000000000000000000001"
CLIENT_SECRET = "b" * 64
STANDARD = 300  # requests per 5 minutes
ENTITIES = ("preconditions", "tests", "test_sets", "test_plans", "test_executions", "test_runs", "folders")


def naive_requests(records: dict[str, list[dict]]) -> int:
    """Mutations a one-field-per-request restore would send for the snapshot's records."""
    total = 0
    for folder in records["folders"]:
        stack = list(folder.get("folders") or [])
        while stack:
            node = stack.pop()
            total += 1
            stack.extend(node.get("folders") or [])
    for pre in records["preconditions"]:
        total += 1 + (pre["tests"]["total"] or 0) + (1 if pre.get("folder") else 0)
    for test in records["tests"]:
        total += 1 + len(test.get("steps") or [])
        total += 1 if (test.get("gherkin") is not None or test.get("unstructured") is not None) else 0
        total += 1 if test.get("folder") else 0
    for holder in records["test_sets"] + records["test_plans"]:
        total += 1 + holder["tests"]["total"] + (holder.get("testExecutions") or {}).get("total", 0)
    for execution in records["test_executions"]:
        total += 1 + execution["tests"]["total"] + (1 if execution.get("testEnvironments") else 0)
    for run in records["test_runs"]:
        total += 1 if run["status"]["name"] != "TODO" else 0
        total += 1 if run.get("comment") is not None else 0
        total += 1 if any(run.get(k) for k in ("startedOn", "finishedOn", "assigneeId", "executedById")) or any(
            c.get("values") for c in run.get("customFields") or []) else 0
        total += 1 if run.get("defects") else 0
        total += len(run.get("evidence") or [])
        for step in run.get("steps") or []:
            changed = step["status"]["name"] != "TODO" or step.get("comment") is not None or \
                step.get("actualResult") is not None or step.get("defects")
            total += (1 if changed else 0) + len(step.get("evidence") or [])
    return total


def run_scale(scale: int, workdir: Path) -> dict:
    def unpaced(tenant, access):  # the figure measured is requests; pacing is projected, not waited for
        return XrayClient(access.base_url, access.client_id, access.client_secret, pacer=Pacer(10**6),
                          backoff_base=0.01, backoff_cap=0.05)

    dataset = Dataset(scale=scale)
    with XraySimulator(dataset, clients={CLIENT_ID: CLIENT_SECRET}, import_delay=0.05) as xray, FakeJira() as jira:
        jira.projects = [dict(p) for p in dataset.projects]
        jira.users.update({p["accountId"]: {"displayName": p["displayName"]} for p in dataset.people})
        for project in dataset.projects:
            jira.components[project["key"]] = [{"id": str(i), "name": n} for i, n in enumerate(dataset.components[project["id"]])]
            jira.versions[project["key"]] = [{"id": str(i), "name": n} for i, n in enumerate(dataset.versions[project["id"]])]
        instance = workdir / f"scale-{scale}"
        instance.mkdir()
        config = load_config({"ENCRYPTION_KEYS": f"k1:{generate_key()}", "SCHEDULER_ENABLED": "false",
                              "XRAY_API_URL": xray.url, "CONNECT_ALLOWED_HOSTS": "127.0.0.1",
                              "DATABASE_URL": f"sqlite:///{instance / 'app.db'}"}, instance_path=str(instance))
        app = create_app(config)
        services = services_of(app)
        with app.app_context():
            upgrade()
            tenant = install(jira.install_payload(), utcnow(), sealer=services.sealer)
            services.credentials.save(tenant, "bench", {"clientId": CLIENT_ID, "clientSecret": CLIENT_SECRET})
            enqueue_manual(tenant, utcnow())
            run = claim_next("bench", utcnow(), 600)
            settle(run.id, "bench", utcnow(), execute_run(run.id, services, client_factory=unpaced))
            run_id = run.id

            counts = dataset.counts()
            for records in (dataset.test_executions, dataset.test_plans, dataset.test_sets, dataset.tests,
                            dataset.preconditions):
                for issue_id in [r["issueId"] for r in records]:
                    xray.delete(issue_id)
            for project in dataset.projects:
                for child in [c["path"] for c in dataset.folders[project["id"]]["folders"]]:
                    dataset.query('mutation($p: String!, $f: String!) { deleteFolder(projectId: $p, path: $f) }',
                                  {"p": project["id"], "f": child})

            def restore(dry_run: bool) -> Restore:
                tenant_row = db.session.get(Tenant, tenant.id)
                start_restore(tenant_row, {"runId": run_id, "dryRun": dry_run}, services, now=utcnow(),
                              account_id="bench")
                restore_id = claim_next_restore("bench", utcnow(), 600)
                outcome = execute_restore(restore_id, services, client_factory=unpaced, settle_seconds=2.0)
                settle_restore(restore_id, "bench", utcnow(), outcome)
                return db.session.get(Restore, restore_id, populate_existing=True)

            xray.reset_stats()
            dry = restore(True)
            dry_stats = xray.stats()
            assert dry.status == "succeeded", dry.message
            xray.reset_stats()
            started = time.monotonic()
            done = restore(False)
            seconds = time.monotonic() - started
            stats = xray.stats()
            assert done.status == "succeeded", done.message
            assert dataset.counts()["tests"] == counts["tests"] and len(dataset.test_runs) == counts["test_runs"]
            records = _records(app, services, tenant.id, run_id)
    restored = sum(done.counts.get(e, 0) for e in ENTITIES)
    return {"scale": scale, "restored": restored, "counts": done.counts, "requests": stats["requests"],
            "graphql": stats.get("graphql", 0), "mutations": stats.get("mutations", 0),
            "imports": stats.get("import_test_bulk", 0) + stats.get("import_execution", 0),
            "polls": stats.get("import_test_bulk_status", 0), "dry_writes": dry_stats.get("mutations", 0) +
            dry_stats.get("import_test_bulk", 0) + dry_stats.get("import_execution", 0),
            "dry_requests": dry_stats["requests"], "naive": naive_requests(records), "seconds": seconds}


def _records(app, services, tenant_id, run_id) -> dict:
    tenant = db.session.get(Tenant, tenant_id)
    key = data_key_for(tenant, utcnow(), services.sealer)
    snapshot = db.session.get(BackupRun, run_id).snapshot_key
    out = {}
    for name in ("tests", "preconditions", "test_sets", "test_plans", "test_executions", "test_runs", "folders"):
        raw = b"".join(services.store.read_file(snapshot, key, entity_file(name)))
        out[name] = [json.loads(line) for line in gzip.decompress(raw).splitlines() if line.strip()]
    return out


def minutes(requests: int) -> float:
    return requests / STANDARD * 5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="restore-bench-") as workdir:
        for scale in args.scales:
            result = run_scale(scale, Path(workdir))
            rows.append(result)
            print(f"scale {scale}: restored {result['restored']} items ({result['counts']}) in {result['seconds']:.1f} s; "
                  f"dry run: {result['dry_requests']} requests, {result['dry_writes']} writes", flush=True)
    print()
    header = ("scale", "items", "requests", "graphql", "mutations", "imports", "polls", "req/item",
              "at 300/5min", "naive", "naive req/item", "naive at 300/5min", "fewer")
    print(" | ".join(header))
    for r in rows:
        print(" | ".join(str(v) for v in (
            r["scale"], r["restored"], r["requests"], r["graphql"], r["mutations"], r["imports"], r["polls"],
            f"{r['requests'] / r['restored']:.3f}", f"{minutes(r['requests']):.1f} min", r["naive"],
            f"{r['naive'] / r['restored']:.2f}", f"{minutes(r['naive']):.1f} min",
            f"{r['naive'] / r['requests']:.1f}x")))


if __name__ == "__main__":
    main()
