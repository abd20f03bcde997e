"""Backup engine benchmark: requests vs. the lower bound, entities per request, time, projection, peak RSS.

    .venv/bin/python bench/backup_bench.py                 # scales 1 and 10, 50 ms latency, pacing check
    .venv/bin/python bench/backup_bench.py --scales 1 --no-pacing-check
    .venv/bin/python bench/backup_bench.py --scales 1 --pacer local   # the in-process pacer instead of the shared one

The Xray simulator runs in this process; the exporter (the real XrayClient, Exporter and SnapshotWriter) runs in a
child process so that its peak RSS is its own. The timing run paces at a very high limit (latency is the cost
measured); the projection gives the time at Xray Standard's 300 requests per 5 minutes. The pacing check runs a
backup with XRAY_RATE_LIMIT equal to the simulator's limit (on a short window) and counts the 429s. By default the
child paces through the database-shared pacer (a SQLite file), as the backup runner does; its transactions are
part of the measured time.

Lower bound: per project and list, ceil(items / 100); one settings request per project; for every child list
longer than 100, ceil(n / 100) - 1 extra pages; one request per attachment.
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sim.xray.bounds import request_lower_bound  # noqa: E402 - after the path is set

CLIENT_ID = "BENCH0000000000000000000000000001"
CLIENT_SECRET = "b" * 64
PACER = "db"  # set by --pacer


# ---------------------------------------------------------------- the child: one export, measured

def peak_rss_kb() -> int:
    """This process's peak RSS. VmHWM belongs to the process image; ru_maxrss would carry the parent's size
    over fork+exec (Linux keeps the larger of the two), which here holds the whole simulated dataset."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def make_pacer(rate_limit: int, window: float, pacer_db: str):
    """The in-process pacer, or (as the runner uses it) the one shared through the database at ``pacer_db``."""
    from app.xray.pacer import Pacer

    if pacer_db == "-":
        return Pacer(rate_limit, window)
    from sqlalchemy import create_engine

    from app.models import XrayPacerHold, XrayPacerSlot
    from app.xray.shared_pacer import DatabasePacer

    args = {"connect_args": {"timeout": 30}} if pacer_db.startswith("sqlite") else {}
    engine = create_engine(pacer_db, **args)
    for table in (XrayPacerSlot.__table__, XrayPacerHold.__table__):
        table.create(engine, checkfirst=True)
    return DatabasePacer(engine, "https://bench.atlassian.net", rate_limit, window)


def child(url: str, out: str, rate_limit: int, window: float, pacer_db: str = "-") -> None:
    from app.backups.export.exporter import Exporter
    from app.backups.snapshot.writer import SnapshotWriter
    from app.xray.client import XrayClient

    projects = json.loads(sys.stdin.read())
    client = XrayClient(url, CLIENT_ID, CLIENT_SECRET, pacer=make_pacer(rate_limit, window, pacer_db))
    writer = SnapshotWriter(Path(out), run_id="bench", started_at="-", xray_api_url=url)
    started = time.monotonic()
    Exporter(client, writer).export(projects)
    writer.finish(finished_at="-", requests=client.stats.requests)
    wall = time.monotonic() - started
    peak_kb = peak_rss_kb()
    print(json.dumps({"wall": wall, "peak_rss_mb": peak_kb / 1024, "stats": client.stats.as_dict(),
                      "counts": writer.counts(), "attachment_bytes": writer.attachment_bytes}))


def run_child(sim, out: Path, rate_limit: int, window: float) -> dict:
    pacer_db = f"sqlite:///{out.parent / 'pacer.db'}" if PACER == "db" else "-"
    proc = subprocess.run(
        [sys.executable, __file__, "--child", sim.url, str(out), str(rate_limit), str(window), pacer_db],
        input=json.dumps(sim.dataset.projects), capture_output=True, text=True, cwd=ROOT, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"the export failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- the parent

def measure(scale: int, latency_ms: int) -> dict:
    from app.backups.snapshot.verifier import verify_snapshot
    from sim.xray import Dataset, XraySimulator

    ds = Dataset(scale=scale)
    work = Path(tempfile.mkdtemp(prefix=f"backup-bench-{scale}-"))
    try:
        with XraySimulator(ds, clients={CLIENT_ID: CLIENT_SECRET}) as sim:
            sim.set_faults(latency_ms=latency_ms)
            result = run_child(sim, work / "snap", rate_limit=1_000_000, window=300.0)
            served = sim.stats()
        verification = verify_snapshot(work / "snap")
        if not verification.ok:
            raise SystemExit(f"scale {scale}: the snapshot failed verification: {verification.problems[:3]}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    stats = result["stats"]
    # Logical requests: GraphQL calls and downloads (authentication and retries are counted separately).
    logical = served.get("graphql", 0) + served.get("attachment", 0)
    entities = sum(result["counts"].values())
    return {
        "scale": scale, "entities": entities, "requests": logical, "http_attempts": stats["requests"],
        "bound": request_lower_bound(ds), "wall": result["wall"], "peak_rss_mb": result["peak_rss_mb"],
        "attachment_mb": result["attachment_bytes"] / 1e6, "throttled": stats["throttled"],
    }


def pacing_check(scale: int, limit: int, window: float) -> dict:
    from sim.xray import Dataset, XraySimulator

    ds = Dataset(scale=scale)
    work = Path(tempfile.mkdtemp(prefix="backup-bench-pacing-"))
    try:
        with XraySimulator(ds, clients={CLIENT_ID: CLIENT_SECRET}, rate_limit=limit, rate_window=window) as sim:
            started = time.monotonic()
            result = run_child(sim, work / "snap", rate_limit=limit, window=window)
            served = sim.stats()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"limit": limit, "window": window, "requests": result["stats"]["requests"],
            "rate_limited": served.get("rate_limited", 0), "max_in_window": served.get("max_in_window"),
            "wall": time.monotonic() - started, "pacer_waits": result["stats"]["rate_limit_waits"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 10])
    parser.add_argument("--latency-ms", type=int, default=50)
    parser.add_argument("--no-pacing-check", action="store_true")
    parser.add_argument("--pacer", choices=("db", "local"), default="db",
                        help="db: the pacer shared through the database (SQLite file), as the runner uses it; "
                             "local: the in-process pacer")
    args = parser.parse_args(argv)
    global PACER
    PACER = args.pacer

    rows = [measure(scale, args.latency_ms) for scale in args.scales]
    print(f"Backup benchmark (simulated latency {args.latency_ms} ms per request; exporter in a child process; "
          f"{'database-shared' if PACER == 'db' else 'in-process'} pacer)\n")
    print("| scale | entities | requests | lower bound | ratio | entities/request | wall time | "
          "projected at 300 req/5 min | peak RSS | attachments |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        projected = max(r["wall"], r["http_attempts"] * 300 / 300) / 60
        print(f"| {r['scale']} | {r['entities']} | {r['requests']} (+{r['http_attempts'] - r['requests']} auth) | "
              f"{r['bound']} | {r['requests'] / r['bound']:.3f} | {r['entities'] / r['requests']:.2f} | "
              f"{r['wall']:.1f} s | {projected:.1f} min | {r['peak_rss_mb']:.1f} MB | {r['attachment_mb']:.1f} MB |")
    if len(rows) >= 2:
        growth = rows[-1]["peak_rss_mb"] / rows[0]["peak_rss_mb"] - 1
        print(f"\nPeak RSS growth from scale {rows[0]['scale']} to {rows[-1]['scale']}: {growth * 100:.1f} %")
    worst = max(r["requests"] / r["bound"] for r in rows)
    print(f"Worst requests / lower bound: {worst:.3f} (target <= 1.25)")
    if not args.no_pacing_check:
        check = pacing_check(scale=1, limit=60, window=5.0)
        print(f"\nPacing check: XRAY_RATE_LIMIT = simulator limit = {check['limit']} per {check['window']:.0f} s "
              f"(a 5-minute window scaled down): {check['requests']} requests in {check['wall']:.1f} s, "
              f"{check['pacer_waits']} pacer waits, busiest window {check['max_in_window']}, "
              f"429s from the simulator: {check['rate_limited']}")


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5]), *sys.argv[6:7])
    else:
        main()
