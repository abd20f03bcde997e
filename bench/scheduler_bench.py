"""Scheduler benchmark: what scheduling 1,000 tenants costs, and how backups scale with worker processes.

    .venv/bin/python bench/scheduler_bench.py [--tenants 1000] [--backups 50] [--latency-ms 100] [--sqlite]

1. Overhead: 1,000 tenants with the default spread daily schedule; one simulated hour of scheduler ticks
   (`enqueue_due` + `take_over_expired` every 30 s, `now` advanced) and idle worker polls (`claim_next` every
   2 s for 2 workers), queued runs completed at once. Prints the process CPU seconds per hour of wall time.
2. Throughput: 50 tenants (fake Jira sites, one small Xray project each) against the Xray simulator with
   100 ms latency per request; "Back up now" for all, then the time until every run is final with 1 and with
   3 `flask scheduler --workers 1` processes. The ratio should approach 3.

Uses a fresh PostgreSQL database (TEST_PG_ADMIN_URL, as the tests) when reachable, else SQLite.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/test")


class Database:
    """A throwaway database: PostgreSQL when reachable (dropped on exit), else a SQLite file."""

    def __init__(self, workdir: Path, force_sqlite: bool):
        self.name = None
        self.url = f"sqlite:///{workdir / 'bench.db'}"
        if force_sqlite:
            return
        try:
            import psycopg

            self.admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=3)
        except Exception as exc:  # noqa: BLE001 - any failure means: no PostgreSQL here
            print(f"(PostgreSQL unavailable: {type(exc).__name__}; using SQLite)")
            return
        self.name = f"xb_bench_{uuid.uuid4().hex[:8]}"
        self.admin.execute(f'CREATE DATABASE "{self.name}"')
        self.url = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://") + f"/{self.name}"

    def drop(self):
        if self.name:
            self.admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')
            self.admin.close()


def make_app(env: dict):
    from flask_migrate import upgrade

    from app import create_app
    from app.config import load_config

    config = load_config(env, instance_path=env["INSTANCE_PATH"])
    app = create_app(config)
    with app.app_context():
        upgrade()
    return app


def overhead(app, tenants: int) -> tuple[float, float]:
    """CPU seconds for one simulated hour: (scheduler ticks, idle worker polls)."""
    from app.backups.runs.claims import claim_next, take_over_expired
    from app.backups.runs.enqueue import enqueue_due
    from app.backups.runs.status import RunOutcome, RunStatus, settle
    from app.backups.schedule.settings import create_missing_settings
    from app.extensions import db
    from app.models import BackupRun, Tenant, XrayCredential

    start = datetime(2026, 3, 10, 0, 0, tzinfo=timezone.utc)
    with app.app_context():
        db.session.execute(db.insert(Tenant), [
            dict(client_key=f"bench-{i:05d}", shared_secret_enc="sealed", base_url=f"https://b{i}.atlassian.net",
                 installed=True, enabled=True, installed_at=start, updated_at=start) for i in range(tenants)])
        # Scheduled runs are queued only for tenants with Xray credentials.
        db.session.execute(db.insert(XrayCredential), [
            dict(tenant_id=tid, client_id="bench", client_secret_enc="sealed", region="global", status="connected",
                 updated_at=start) for tid in db.session.scalars(db.select(Tenant.id))])
        db.session.commit()
        create_missing_settings(start)

        tick_cpu = poll_cpu = 0.0
        queued = 0
        for second in range(0, 3600, 2):
            now = start + timedelta(seconds=second)
            if second % 30 == 0:
                begin = time.process_time()
                queued += enqueue_due(now)
                take_over_expired(now)
                tick_cpu += time.process_time() - begin
            for worker in range(2):
                begin = time.process_time()
                run = claim_next(f"bench:{worker}", now, 120)
                poll_cpu += time.process_time() - begin
                if run is not None:  # the backup itself is not scheduler overhead: complete it at once
                    settle(run.id, run.worker_id, now, RunOutcome(RunStatus.SUCCEEDED))
        done = db.session.scalar(db.select(db.func.count()).select_from(BackupRun).where(BackupRun.status == "succeeded"))
    print(f"  simulated hour: {queued} runs queued, {done} completed (expected about {tenants / 24:.0f})")
    return tick_cpu, poll_cpu


def throughput(app, env: dict, backups: int, latency_ms: int, process_counts: list[int]) -> dict[int, float]:
    """Seconds to finish `backups` manual backups with each number of single-worker processes."""
    from types import SimpleNamespace

    import sim.jira
    from app.backups.runs.enqueue import enqueue_manual
    from app.extensions import db
    from app.models import BackupRun, Tenant, utcnow
    from app.services import services_of
    from app.tenants import install
    from sim.xray.server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, XraySimulator

    one_key = sim.jira.generate_rsa_key()
    sim.jira.generate_rsa_key = lambda: one_key  # 50 sites: one RSA key is enough for a benchmark
    xray = XraySimulator(scale=1).start()
    xray.set_faults(latency_ms=latency_ms)
    env = {**env, "XRAY_API_URL": xray.url}
    sites = [sim.jira.FakeJira().start() for _ in range(backups)]
    connected = lambda *_: SimpleNamespace(status="connected", tests_visible=6, message=None)  # noqa: E731
    tenant_ids = []
    try:
        services = services_of(app)
        services.credentials.xray_api_url = xray.url  # the scheduler processes get it from their environment
        with app.app_context():
            for site in sites:
                site.projects = [{"id": "10002", "key": "CHARLIE", "name": "Charlie"}]  # the small project
                tenant = install(site.install_payload(), utcnow(), sealer=services.sealer)
                services.credentials.save(tenant, "bench", {"clientId": DEFAULT_CLIENT_ID, "clientSecret": DEFAULT_CLIENT_SECRET},
                                 verify=connected)
                db.session.commit()
                tenant_ids.append(tenant.id)
        results = {}
        for count in process_counts:
            processes = [_start_scheduler(env, index) for index in range(count)]
            try:
                with app.app_context():
                    db.session.execute(db.delete(BackupRun))
                    db.session.commit()
                    for tid in tenant_ids:
                        enqueue_manual(db.session.get(Tenant, tid), utcnow())
                started = time.monotonic()
                final = _wait_final(app, backups)
                results[count] = time.monotonic() - started
                with app.app_context():
                    statuses = db.session.execute(
                        db.select(BackupRun.status, db.func.count()).group_by(BackupRun.status)).all()
                print(f"  {count} process(es): {results[count]:.1f} s for {backups} backups; statuses {dict(statuses)}")
                if final is False:
                    print("  (timed out)")
            finally:
                for process in processes:
                    process.send_signal(signal.SIGTERM)
                for process in processes:
                    process.wait(timeout=60)
        return results
    finally:
        for site in sites:
            site.stop()
        xray.stop()


def _start_scheduler(env: dict, index: int) -> subprocess.Popen:
    log = open(Path(env["INSTANCE_PATH"]) / f"scheduler-{index}.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler", "--workers", "1", "--no-schedule",
         "--poll", "0.2"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "scheduler running" not in Path(log.name).read_text():
        if time.monotonic() > deadline or process.poll() is not None:
            raise RuntimeError(f"scheduler process did not start: {Path(log.name).read_text()[-2000:]}")
        time.sleep(0.1)
    return process


def _wait_final(app, total: int, timeout: float = 900) -> bool:
    from app.extensions import db
    from app.backups.runs.status import FINAL
    from app.models import BackupRun

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with app.app_context():
            done = db.session.scalar(db.select(db.func.count()).select_from(BackupRun)
                                     .where(BackupRun.status.in_(FINAL)))
        if done >= total:
            return True
        time.sleep(0.2)
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--backups", type=int, default=50)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--sqlite", action="store_true", help="use SQLite even when PostgreSQL is reachable")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()

    from app.crypto import generate_key

    import logging

    logging.basicConfig(level=logging.WARNING)
    workdir = Path(tempfile.mkdtemp(prefix="scheduler-bench-"))
    database = Database(workdir, args.sqlite)
    env = {**os.environ, "DATABASE_URL": database.url, "ENCRYPTION_KEYS": f"b1:{generate_key()}",
           "INSTANCE_PATH": str(workdir / "instance"), "SCHEDULER_ENABLED": "false",
           "CONNECT_ALLOWED_HOSTS": "127.0.0.1,localhost", "APP_BASE_URL": "https://bench.example.test"}
    Path(env["INSTANCE_PATH"]).mkdir()
    try:
        app = make_app(env)
        logging.getLogger().setLevel(logging.WARNING)
        print(f"database: {database.url.split('://')[0]}")
        print(f"1. scheduler overhead, {args.tenants} tenants, one simulated hour")
        ticks, polls = overhead(app, args.tenants)
        print(f"  scheduler ticks (enqueue_due + takeover every 30 s): {ticks:.3f} CPU s per hour")
        print(f"  idle worker polls (claim_next every 2 s, 2 workers):  {polls:.3f} CPU s per hour")
        print(f"  total: {ticks + polls:.3f} CPU s per hour of wall time ({(ticks + polls) / 36:.3f}% of one core)")
        if not args.skip_throughput:
            print(f"2. {args.backups} backups against the Xray simulator with {args.latency_ms} ms latency")
            results = throughput(app, env, args.backups, args.latency_ms, [1, 3])
            if results.get(1) and results.get(3):
                print(f"  speed-up with 3 processes: {results[1] / results[3]:.2f}x (ideal 3)")
    finally:
        database.drop()


if __name__ == "__main__":
    main()
