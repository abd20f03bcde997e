"""Incremental backup benchmark: requests, downloads and stored bytes of incremental runs against a full one.

    .venv/bin/python bench/incremental_bench.py               # scales 1 and 10
    .venv/bin/python bench/incremental_bench.py --scales 1

For each scale: a full backup, then incremental backups, each after a day of changes on the simulator: none,
1 % of the items edited (issues' summaries, runs' comments), 5 %, and 5 % plus new run evidence files. Each
incremental builds on the previous snapshot. The real XrayClient, exporters, SnapshotWriter and SnapshotStore
(file backend, encrypted) run against the simulator over HTTP. The simulator's clock moves a day before each
day's changes and 30 minutes more before the backup, so the 10-minute overlap re-reads nothing of the day before
(as with a daily schedule).

Columns: Xray requests (authentication and retries included) and their ratio to the full run's; attachment
downloads; bytes stored (what the store added: the whole snapshot until storage is shared between snapshots);
changed items' own size (their JSON lines, uncompressed, plus new attachments' bytes); projected time at Xray
Standard's 300 requests per 5 minutes.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.backups.export.exporter import Exporter  # noqa: E402 - after the path is set
from app.backups.export.incremental import IncrementalExporter  # noqa: E402
from app.backups.export.merge import since_for  # noqa: E402
from app.backups.export.parent import load_parent  # noqa: E402
from app.backups.runs.runner import publish_snapshot  # noqa: E402
from app.backups.snapshot.format import ATTACHMENTS_INDEX, entity_file  # noqa: E402
from app.backups.snapshot.verifier import verify_snapshot  # noqa: E402
from app.backups.snapshot.writer import SnapshotWriter  # noqa: E402
from app.backups.store.file import FileBackend  # noqa: E402
from app.backups.store.repository import SnapshotStore  # noqa: E402
from app.urls import Purpose, policy_for  # noqa: E402
from app.xray.client import XrayClient  # noqa: E402
from app.xray.pacer import Pacer  # noqa: E402
from sim.xray import Dataset, XraySimulator  # noqa: E402
from sim.xray.clock import iso_ms  # noqa: E402

CLIENT_ID = "BENCH0000000000000000000000000001"
CLIENT_SECRET = "b" * 64
TENANT = "bench-tenant"
DATA_KEY = os.urandom(32)
ISSUES = ("tests", "preconditions", "test_sets", "test_plans", "test_executions")


def client_for(sim) -> XrayClient:
    return XrayClient(sim.url, CLIENT_ID, CLIENT_SECRET, pacer=Pacer(1_000_000),
                      download_policy=policy_for(Purpose.XRAY_DOWNLOAD, production=False))


def records(folder: Path, entity: str) -> dict[str, bytes]:
    key = "id" if entity == "test_runs" else "issueId"
    with gzip.open(folder / entity_file(entity), "rb") as fh:
        return {json.loads(line)[key]: line for line in fh}


def changed_size(parent: Path, snap: Path) -> int:
    """Bytes of the added and modified records' own JSON lines plus the new attachments' bytes."""
    total = 0
    for entity in ISSUES + ("test_runs",):
        before, after = records(parent, entity), records(snap, entity)
        total += sum(len(line) for rid, line in after.items() if before.get(rid) != line)
    with gzip.open(parent / ATTACHMENTS_INDEX, "rb") as fh:
        known = {json.loads(line)["id"] for line in fh}
    with gzip.open(snap / ATTACHMENTS_INDEX, "rb") as fh:
        total += sum(e["size"] for e in map(json.loads, fh) if e["id"] not in known)
    return total


def change(sim, share: float, evidence: bool, day: int) -> int:
    """Edit `share` of every entity's items as users would; with `evidence`, add a file to each edited run."""
    ds, edited = sim.dataset, 0
    for records_ in (ds.tests, ds.preconditions, ds.test_sets, ds.test_plans, ds.test_executions):
        step = max(1, round(1 / share)) if share else 0
        for record in records_[day % max(step, 1)::step] if step else []:
            sim.edit(record["issueId"], summary=f"{record['jira']['summary'][:40]} (day {day})")
            edited += 1
    step = max(1, round(1 / share)) if share else 0
    for run in ds.test_runs[day % max(step, 1)::step] if step else []:
        sim.edit_run(run["id"], comment=f"day {day}")
        if evidence:
            sim.add_evidence(run["id"], [{"filename": f"day{day}.log", "data": os.urandom(4096)}])
        edited += 1
    return edited


def backup(sim, store: SnapshotStore, work: Path, name: str, parent_dir: Path | None, parent_key: str | None):
    client = client_for(sim)
    started = iso_ms(sim.dataset.clock.now())
    writer = SnapshotWriter(work / name, run_id=name, started_at=started, xray_api_url=sim.url)
    before = sim.stats().get("attachment", 0)
    if parent_dir is None:
        Exporter(client, writer).export(sim.dataset.projects)
    else:
        parent = load_parent(lambda path: store.read_file(parent_key, DATA_KEY, path), work / f"{name}-parent")
        IncrementalExporter(client, writer, parent, since=since_for(parent.started_at)).export(sim.dataset.projects)
    writer.finish(finished_at=started, requests=client.stats.requests)
    assert verify_snapshot(work / name).ok
    key, stored = publish_snapshot(store, TENANT, name, work / name, DATA_KEY, parent_key=parent_key)
    return {"requests": client.stats.requests, "downloads": sim.stats().get("attachment", 0) - before,
            "stored": stored, "key": key, "dir": work / name}


def measure(scale: int) -> list[dict]:
    ds = Dataset(scale=scale)
    work = Path(tempfile.mkdtemp(prefix=f"incremental-bench-{scale}-"))
    store = SnapshotStore(FileBackend(work / "store"))
    rows = []
    try:
        with XraySimulator(ds, clients={CLIENT_ID: CLIENT_SECRET}) as sim:
            full = backup(sim, store, work, "full", None, None)
            rows.append({"scale": scale, "run": "full", "edited": "-", **full, "changed_size": None})
            previous = full
            for day, (label, share, evidence) in enumerate(
                    (("0 % changed", 0.0, False), ("1 % changed", 0.01, False), ("5 % changed", 0.05, False),
                     ("5 % + new attachments", 0.05, True)), start=1):
                sim.set_clock(skew_seconds=timedelta(days=day).total_seconds())
                edited = change(sim, share, evidence, day)
                sim.set_clock(skew_seconds=(timedelta(days=day) + timedelta(minutes=30)).total_seconds())
                result = backup(sim, store, work, f"day{day}", previous["dir"], previous["key"])
                rows.append({"scale": scale, "run": label, "edited": edited, **result,
                             "changed_size": changed_size(previous["dir"], result["dir"])})
                previous = result
            # The weekly full read: everything from Xray again, but storage keeps only what changed.
            day = 5
            sim.set_clock(skew_seconds=timedelta(days=day).total_seconds())
            edited = change(sim, 0.05, False, day)
            sim.set_clock(skew_seconds=(timedelta(days=day) + timedelta(minutes=30)).total_seconds())
            result = backup(sim, store, work, f"day{day}", None, previous["key"])
            rows.append({"scale": scale, "run": "full again, 5 % changed", "edited": edited, **result,
                         "changed_size": changed_size(previous["dir"], result["dir"])})
    finally:
        shutil.rmtree(work, ignore_errors=True)
    full_requests = rows[0]["requests"]
    for row in rows:
        row["ratio"] = row["requests"] / full_requests
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    args = parser.parse_args(argv)
    print("Incremental backup benchmark (simulator over HTTP; real client, exporters, writer and file store)\n")
    print("| scale | run | items edited | requests | × full | downloads | bytes stored | changed items' size | "
          "stored / changed | projected at 300 req/5 min |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for scale in args.scales:
        for r in measure(scale):
            changed = r["changed_size"]
            per = f"{r['stored'] / changed:.1f}" if changed else "-"
            own = f"{changed:,}" if changed is not None else "-"
            print(f"| {r['scale']} | {r['run']} | {r['edited']} | {r['requests']} | {r['ratio']:.3f} | "
                  f"{r['downloads']} | {r['stored']:,} | {own} | {per} | "
                  f"{r['requests'] / 60:.1f} min |")


if __name__ == "__main__":
    main()
