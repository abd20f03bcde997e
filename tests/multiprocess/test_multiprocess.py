"""Separate OS processes against one PostgreSQL: no doubled, lost or half-published backups.

Scheduler/worker processes are `tests/multiprocess/mp_scheduler.py` (the `flask scheduler` service with a stand-in backup
that publishes real encrypted snapshots; `--real` runs the real engine). Leases are 3 s (BACKUP_LEASE_SECONDS).
"""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from app.alerts.models import AlertIncident
from app.backups.runs import enqueue
from app.backups.schedule import rules as schedule
from app.crypto import tenant_hash
from app.extensions import db
from app.models import BackupRun, Tenant, utcnow
from app.services import services_of
from tests.support.queue import add_tenant, get_run, get_settings, runs
from tests.support.paths import ROOT

pytestmark = pytest.mark.multiprocess

LEASE = 3


def wait_until(condition, timeout: float, what: str, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


class Process:
    """One child process whose stderr goes to a file (no pipe to fill up)."""

    def __init__(self, args: list[str], env: dict, log: Path):
        self.log_path = log
        self._log = open(log, "w")
        self.popen = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdout=self._log,
                                      stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def log(self) -> str:
        return self.log_path.read_text()

    def wait_ready(self, timeout: float = 60):
        wait_until(lambda: "READY" in self.log() or self.popen.poll() is not None, timeout, "READY")
        assert self.popen.poll() is None, self.log()[-3000:]

    def signal(self, signum):
        self.popen.send_signal(signum)

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGCONT)
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log.close()
        return self.popen.returncode


@pytest.fixture
def pg_app(make_app, pg_database_url):
    return make_app(DATABASE_URL=pg_database_url, BACKUP_LEASE_SECONDS=str(LEASE))


@pytest.fixture
def spawn(pg_app, tmp_path):
    """Start processes sharing the test app's PostgreSQL, keys, instance folder and storage."""
    config = services_of(pg_app).config
    started: list[Process] = []

    def _spawn(*args: str, script: str = "tests/multiprocess/mp_scheduler.py", database_url: str | None = None,
               ready: bool = True, **env_overrides) -> Process:
        env = {**os.environ, "DATABASE_URL": database_url or config.database_url,
               "ENCRYPTION_KEYS": config.encryption_keys, "INSTANCE_PATH": config.instance_path,
               "APP_BASE_URL": config.app_base_url, "CONNECT_ALLOWED_HOSTS": ",".join(config.connect_allowed_hosts),
               "BACKUP_LEASE_SECONDS": str(LEASE), "SCHEDULER_ENABLED": "false", "PYTHONUNBUFFERED": "1",
               **env_overrides}
        process = Process([script, *args], env, tmp_path / f"process-{len(started)}.log")
        started.append(process)
        if ready:
            process.wait_ready()
        return process

    yield _spawn
    for process in started:
        process.stop()


def worker_of(process: Process) -> str:
    return f":{process.pid}:"


def published(process: Process) -> list[str]:
    return re.findall(r"PUBLISHED ([0-9a-f]{32}) ", process.log())


def stored_entries(app, client_key: str) -> list[str]:
    """The tenant's snapshot folders, hidden leftovers included. Shared objects (`objects/`) a killed attempt left
    unreferenced are the sweep's to remove (tests/e2e/test_storage_crashes.py), not a published snapshot."""
    root = Path(services_of(app).config.backup_storage_url.removeprefix("file://")) / "tenants" / tenant_hash(client_key)
    return sorted(p.name for p in root.iterdir() if p.name != "objects") if root.is_dir() else []


def enqueue_manual(app, tenant_id) -> str:
    with app.app_context():
        return enqueue.enqueue_manual(db.session.get(Tenant, tenant_id), utcnow()).id


def due_tenants(app, count: int, **settings) -> list[int]:
    now = utcnow() - timedelta(minutes=1)
    values = {"next_run_at": now, "time_of_day": now.strftime("%H:%M"), **settings}
    return [add_tenant(app, f"site-{i:03d}", settings=values) for i in range(count)]


@pytest.mark.parametrize("processes", [2, 3])
def test_fifty_tenants_due_at_once_make_exactly_fifty_runs_and_snapshots(pg_app, spawn, processes):
    ids = due_tenants(pg_app, 50)
    procs = [spawn("--workers", "2", "--enqueue-every", "0.3", "--steps", "2") for _ in range(processes)]
    wait_until(lambda: len(runs(pg_app, status="succeeded")) == 50, 120, "50 succeeded runs")
    time.sleep(1.5)  # several more scheduler ticks in every process: still nothing doubled
    all_runs = runs(pg_app)
    assert len(all_runs) == 50 and {r.tenant_id for r in all_runs} == set(ids)
    assert all(r.status == "succeeded" and r.trigger == "scheduled" and r.attempts == 1 for r in all_runs)
    store = services_of(pg_app).store
    assert sum(len(store.list_snapshots(f"site-{i:03d}")) for i in range(50)) == 50
    publishes = [run_id for p in procs for run_id in published(p)]
    assert sorted(publishes) == sorted(r.id for r in all_runs)
    assert all(p.stop() == 0 for p in procs)


def test_back_up_now_pressed_in_two_processes_at_once_gives_one_202_and_one_409(pg_app, spawn, fake_jira):
    from tests.support.connect import install_tenant

    tenant = install_tenant(pg_app, fake_jira)
    start_at = f"{time.time() + 8:.3f}"
    presses = [spawn(tenant.client_key, tenant.shared_secret, start_at, script="tests/multiprocess/mp_backup_now.py",
                     ready=False) for _ in range(2)]
    codes = []
    for press in presses:
        press.popen.wait(timeout=60)
        codes.append(press.log().strip().splitlines()[-1])
    assert sorted(codes) == ["202", "409"], [p.log()[-2000:] for p in presses]
    assert len(runs(pg_app)) == 1


def test_a_killed_worker_s_run_is_taken_over_after_the_lease_and_succeeds_once(pg_app, spawn):
    [tid] = due_tenants(pg_app, 1, enabled=False)
    first = spawn("--workers", "1", "--no-schedule", "--steps", "20", "--step-seconds", "0.25")
    run_id = enqueue_manual(pg_app, tid)
    wait_until(lambda: worker_of(first) in (get_run(pg_app, run_id).worker_id or ""), 30, "the first claim")
    time.sleep(1.0)  # mid-run: local data written, nothing published
    first.signal(signal.SIGKILL)
    first.popen.wait()
    killed_at = time.monotonic()
    second = spawn("--workers", "1", "--steps", "4")
    run = wait_until(lambda: (r := get_run(pg_app, run_id)).status == "succeeded" and r, 60, "success")
    assert time.monotonic() - killed_at >= LEASE - 1.5  # not before the lease ran out
    assert worker_of(second) in run.worker_id and run.attempts == 2
    assert published(first) == [] and published(second) == [run_id]
    assert stored_entries(pg_app, "site-000") == [run_id]  # one snapshot, no hidden leftovers
    leftovers = Path(services_of(pg_app).config.instance_path, "tmp", "mp")
    assert list(leftovers.glob(f"{run_id}-*")) == []
    assert len(runs(pg_app)) == 1


def test_a_paused_worker_resumed_after_its_lease_stops_without_publishing(pg_app, spawn):
    [tid] = due_tenants(pg_app, 1, enabled=False)
    paused = spawn("--workers", "1", "--no-schedule", "--steps", "16", "--step-seconds", "0.25")
    run_id = enqueue_manual(pg_app, tid)
    wait_until(lambda: worker_of(paused) in (get_run(pg_app, run_id).worker_id or ""), 30, "the first claim")
    paused.signal(signal.SIGSTOP)
    other = spawn("--workers", "1", "--no-schedule", "--steps", "16", "--step-seconds", "0.25")
    wait_until(lambda: worker_of(other) in (get_run(pg_app, run_id).worker_id or ""), 30, "the takeover")
    paused.signal(signal.SIGCONT)  # wakes up while the other worker is mid-run
    wait_until(lambda: f"STOPPED {run_id}" in paused.log(), 30, "the resumed worker to stop")
    run = wait_until(lambda: (r := get_run(pg_app, run_id)).status == "succeeded" and r, 60, "success")
    # Normally the other worker finishes it (attempt 2). On a starved machine a worker's own heartbeat can come too
    # late, and the run is then taken over again legitimately (attempt 3 or more, by either process): whatever the
    # count, exactly one owner publishes, once, and the stale first attempt never does.
    owner, idle = (other, paused) if worker_of(other) in run.worker_id else (paused, other)
    assert run.attempts >= 2
    assert published(owner) == [run_id] and published(idle) == []
    assert stored_entries(pg_app, "site-000") == [run_id]


def test_restart_after_downtime_makes_one_catch_up_run_per_tenant(pg_app, spawn):
    three_days_ago = utcnow() - timedelta(days=3)
    ids = [add_tenant(pg_app, f"site-{i}", settings={"frequency": "every_6h", "time_of_day": "00:00",
                                                      "next_run_at": three_days_ago}) for i in range(5)]
    spawn("--workers", "2", "--enqueue-every", "0.3")
    wait_until(lambda: len(runs(pg_app, status="succeeded")) == 5, 60, "5 catch-up runs")
    time.sleep(1.5)
    now = utcnow()
    spec = get_settings(pg_app, ids[0])
    for tid in ids:
        [run] = runs(pg_app, tenant_id=tid)
        assert run.slot_at == schedule.last_slot_at_or_before(spec, now)
        assert get_settings(pg_app, tid).next_run_at > now


def test_storage_unavailable_during_a_run_fails_the_attempt_cleanly_and_the_retry_succeeds(pg_app, spawn):
    [tid] = due_tenants(pg_app, 1, enabled=False)
    storage = Path(services_of(pg_app).config.backup_storage_url.removeprefix("file://"))
    storage.mkdir(parents=True, exist_ok=True)
    storage.rename(storage.with_name("backups-away"))
    storage.write_text("not a folder: the storage is unavailable")
    spawn("--workers", "1", "--no-schedule", "--retry-delay", "2", "--steps", "2")
    run_id = enqueue_manual(pg_app, tid)
    failed = wait_until(lambda: (r := get_run(pg_app, run_id)).message and r, 30, "the failed attempt")
    assert failed.status == "queued" and failed.snapshot_key is None
    assert "Attempt 1 failed" in failed.message and "storage was unavailable" in failed.message
    storage.unlink()
    storage.with_name("backups-away").rename(storage)
    run = wait_until(lambda: (r := get_run(pg_app, run_id)).status == "succeeded" and r, 30, "the retry")
    assert run.attempts == 2
    assert stored_entries(pg_app, "site-000") == [run_id]


class TcpProxy:
    """A loopback TCP proxy the test can cut: the database becomes unreachable for one process only."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.down = False
        self.sockets: list[socket.socket] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down:
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def cut(self):
        self.down = True
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass
        self.sockets = []

    def restore(self):
        self.down = False

    def close(self):
        self.cut()
        self.listener.close()


def test_database_unavailable_during_a_run_stops_it_unpublished_and_it_is_retried(pg_app, spawn):
    from sqlalchemy.engine import make_url

    url = make_url(services_of(pg_app).config.database_url)
    proxy = TcpProxy(url.host, url.port or 5432)
    try:
        [tid] = due_tenants(pg_app, 1, enabled=False)
        worker = spawn("--workers", "1", "--steps", "12", "--step-seconds", "0.25",
                       database_url=url.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
        run_id = enqueue_manual(pg_app, tid)
        wait_until(lambda: worker_of(worker) in (get_run(pg_app, run_id).worker_id or ""), 30, "the claim")
        time.sleep(0.5)
        proxy.cut()
        wait_until(lambda: f"STOPPED {run_id}" in worker.log(), 30, "the worker to stop, cut off")
        assert published(worker) == []
        assert stored_entries(pg_app, "site-000") == []  # nothing half-published
        proxy.restore()
        run = wait_until(lambda: (r := get_run(pg_app, run_id)).status == "succeeded" and r, 60, "the retry")
        assert run.attempts == 2 and "stopped responding" in run.message  # taken over directly or requeued
        assert published(worker) == [run_id]
        assert stored_entries(pg_app, "site-000") == [run_id]
    finally:
        proxy.close()


# ---- the real backup engine: fake Jira sites, the Xray simulator, `mp_scheduler.py --real` ----------------

SMALL_PROJECT = [{"id": "10002", "key": "CHARLIE", "name": "Charlie"}]
LARGE_PROJECTS = [{"id": "10000", "key": "ALPHA", "name": "Alpha"}, {"id": "10001", "key": "BRAVO", "name": "Bravo"}]


@pytest.fixture
def xray():
    from sim.xray.server import XraySimulator

    with XraySimulator(scale=1) as simulator:
        yield simulator


@pytest.fixture
def make_sites(pg_app, monkeypatch):
    """Install `count` fake Jira sites with saved Xray credentials; return their (tenant id, client key)."""
    from types import SimpleNamespace

    import sim.jira
    from app.tenants import install
    from sim.xray.server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

    key = sim.jira.generate_rsa_key()
    monkeypatch.setattr(sim.jira, "generate_rsa_key", lambda: key)  # one RSA key for many sites: CPU is scarce
    sites = []
    connected = lambda *_: SimpleNamespace(status="connected", tests_visible=6, message=None)  # noqa: E731

    def _make(count: int, projects: list[dict]) -> list[tuple[int, str]]:
        made = []
        with pg_app.app_context():
            for _ in range(count):
                site = sim.jira.FakeJira().start()
                sites.append(site)
                site.projects = projects
                tenant = install(site.install_payload(), utcnow(), sealer=services_of(pg_app).sealer)
                services_of(pg_app).credentials.save(tenant, "admin-account",
                                 {"clientId": DEFAULT_CLIENT_ID, "clientSecret": DEFAULT_CLIENT_SECRET},
                                 verify=connected)
                db.session.commit()
                made.append((tenant.id, tenant.client_key))
        return made

    yield _make
    for site in sites:
        site.stop()


def make_due(app, tenant_ids):
    from app.backups.schedule.settings import settings_for

    now = utcnow() - timedelta(minutes=1)
    with app.app_context():
        for tid in tenant_ids:
            settings = settings_for(db.session.get(Tenant, tid), now)
            settings.time_of_day, settings.next_run_at = now.strftime("%H:%M"), now
        db.session.commit()


def local_leftovers(app, run_id) -> list[Path]:
    return list(Path(services_of(app).config.instance_path, "tmp", "backups").glob(f"{run_id}-*"))


def test_fifty_real_backups_due_at_once_with_three_processes(pg_app, spawn, make_sites, xray):
    sites = make_sites(50, SMALL_PROJECT)
    make_due(pg_app, [tid for tid, _ in sites])
    procs = [spawn("--real", "--workers", "2", "--enqueue-every", "0.3", XRAY_API_URL=xray.url) for _ in range(3)]
    wait_until(lambda: len(runs(pg_app, status="succeeded")) == 50 or
               any(r.status in ("failed", "skipped") for r in runs(pg_app)), 300, "50 real backups")
    time.sleep(1.0)
    all_runs = runs(pg_app)
    assert len(all_runs) == 50, [(r.status, r.message) for r in all_runs if r.status != "succeeded"][:3]
    assert all(r.status == "succeeded" and r.attempts == 1 for r in all_runs), \
        [(r.status, r.message) for r in all_runs if r.status != "succeeded"][:3]
    expected_tests = sum(1 for t in xray.dataset.tests if t["jira"]["key"].startswith("CHARLIE-"))
    assert expected_tests > 0 and {r.counts["tests"] for r in all_runs} == {expected_tests}
    store = services_of(pg_app).store
    by_tenant = {r.tenant_id: r for r in all_runs}
    for tid, client_key in sites:
        assert store.list_snapshots(client_key) == [by_tenant[tid].snapshot_key]
    assert all(p.stop() == 0 for p in procs)


def test_a_killed_real_backup_is_taken_over_and_succeeds_once_without_leftovers(pg_app, spawn, make_sites, xray):
    [(tid, client_key)] = make_sites(1, LARGE_PROJECTS)
    xray.set_faults(latency_ms=20)
    first = spawn("--real", "--workers", "1", "--no-schedule", XRAY_API_URL=xray.url)
    run_id = enqueue_manual(pg_app, tid)
    wait_until(lambda: worker_of(first) in (get_run(pg_app, run_id).worker_id or ""), 30, "the first claim")
    wait_until(lambda: local_leftovers(pg_app, run_id), 30, "the first attempt's local data")
    time.sleep(1.0)
    first.signal(signal.SIGKILL)
    first.popen.wait()
    assert get_run(pg_app, run_id).status == "running"  # killed mid-run, before it could publish
    second = spawn("--real", "--workers", "1", "--no-schedule", XRAY_API_URL=xray.url)
    run = wait_until(lambda: (r := get_run(pg_app, run_id)).status not in ("queued", "running") and r, 180,
                     "the taken-over run to end")
    assert run.status == "succeeded", run.message
    assert worker_of(second) in run.worker_id and run.attempts == 2
    assert stored_entries(pg_app, client_key) == [run_id]
    # The killed attempt's temporary data is gone too (the winner removes its own right after recording).
    wait_until(lambda: local_leftovers(pg_app, run_id) == [], 10, "no local leftovers")
    assert len(runs(pg_app)) == 1


def test_a_paused_real_backup_resumed_after_its_lease_stops_without_publishing(pg_app, spawn, make_sites, xray):
    [(tid, client_key)] = make_sites(1, LARGE_PROJECTS)
    xray.set_faults(latency_ms=20)
    paused = spawn("--real", "--workers", "1", "--no-schedule", XRAY_API_URL=xray.url)
    run_id = enqueue_manual(pg_app, tid)
    wait_until(lambda: worker_of(paused) in (get_run(pg_app, run_id).worker_id or ""), 30, "the first claim")
    time.sleep(1.0)
    paused.signal(signal.SIGSTOP)
    other = spawn("--real", "--workers", "1", "--no-schedule", XRAY_API_URL=xray.url)
    wait_until(lambda: worker_of(other) in (get_run(pg_app, run_id).worker_id or ""), 30, "the takeover")
    paused.signal(signal.SIGCONT)
    wait_until(lambda: "stopped without publishing" in paused.log(), 60, "the resumed worker to stop")
    run = wait_until(lambda: (r := get_run(pg_app, run_id)).status not in ("queued", "running") and r, 180,
                     "the run to end")
    assert run.status == "succeeded", run.message
    assert worker_of(other) in run.worker_id and run.attempts == 2
    assert stored_entries(pg_app, client_key) == [run_id]


def test_real_backup_with_storage_unavailable_fails_the_attempt_with_a_message_and_is_retried(
        pg_app, spawn, make_sites, xray):
    [(tid, client_key)] = make_sites(1, SMALL_PROJECT)
    storage = Path(services_of(pg_app).config.backup_storage_url.removeprefix("file://"))
    storage.mkdir(parents=True, exist_ok=True)
    storage.rename(storage.with_name("backups-away"))
    storage.write_text("not a folder: the storage is unavailable")
    spawn("--real", "--workers", "1", "--no-schedule", "--retry-delay", "3", XRAY_API_URL=xray.url)
    run_id = enqueue_manual(pg_app, tid)
    failed = wait_until(lambda: (r := get_run(pg_app, run_id)).message and r, 60, "the failed attempt")
    assert failed.status == "queued" and failed.snapshot_key is None, failed.message
    assert failed.message.startswith("Attempt 1 failed") and "stored" in failed.message
    storage.unlink()
    storage.with_name("backups-away").rename(storage)
    run = wait_until(lambda: (r := get_run(pg_app, run_id)).status not in ("queued", "running") and r, 60, "retry")
    assert run.status == "succeeded" and run.attempts == 2, run.message
    assert stored_entries(pg_app, client_key) == [run_id]
    wait_until(lambda: local_leftovers(pg_app, run_id) == [], 10, "no local leftovers")


def test_real_backup_with_the_database_cut_off_stops_unpublished_and_is_retried(pg_app, spawn, make_sites, xray):
    from sqlalchemy.engine import make_url

    [(tid, client_key)] = make_sites(1, LARGE_PROJECTS)
    xray.set_faults(latency_ms=20)
    url = make_url(services_of(pg_app).config.database_url)
    proxy = TcpProxy(url.host, url.port or 5432)
    try:
        worker = spawn("--real", "--workers", "1", "--no-schedule", XRAY_API_URL=xray.url,
                       database_url=url.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
        run_id = enqueue_manual(pg_app, tid)
        wait_until(lambda: worker_of(worker) in (get_run(pg_app, run_id).worker_id or ""), 30, "the claim")
        time.sleep(1.0)
        proxy.cut()
        wait_until(lambda: "stopped without publishing" in worker.log(), 60, "the cut-off worker to stop")
        assert stored_entries(pg_app, client_key) == []  # nothing half-published
        proxy.restore()
        run = wait_until(lambda: (r := get_run(pg_app, run_id)).status not in ("queued", "running") and r, 180,
                         "the retried run to end")
        assert run.status == "succeeded" and run.attempts == 2, run.message
        assert stored_entries(pg_app, client_key) == [run_id]
        wait_until(lambda: local_leftovers(pg_app, run_id) == [], 10, "no local leftovers")
    finally:
        proxy.close()


def test_several_scheduler_processes_send_one_alert_per_incident_and_one_recovery(pg_app, spawn, smtp_sink,
                                                                                  webhook_receiver):
    """Every scheduler process looks at the tenants' health when it starts: the database lets one of them alert."""
    later = utcnow() + timedelta(days=1)  # no slot due: only the alert job has something to do
    tid = add_tenant(pg_app, "alerting-site", settings={"next_run_at": later}, now=utcnow() - timedelta(days=5))
    with pg_app.app_context():
        tenant = db.session.get(Tenant, tid)
        services_of(pg_app).alerts.settings.update(tenant, "admin", {
            "emails": ["ops@example.com"], "webhookUrl": webhook_receiver.url + "/hook"}, utcnow())
        failed_at = utcnow() - timedelta(hours=1)
        db.session.add(BackupRun(tenant_id=tid, status="failed", trigger="scheduled", queued_at=failed_at,
                                 started_at=failed_at, finished_at=failed_at, message="Xray did not respond."))
        db.session.commit()

    def schedulers(count: int) -> list:
        processes = [spawn("--workers", "0", SMTP_URL=smtp_sink.url) for _ in range(count)]
        time.sleep(6)  # each process's alert job runs a second after it starts
        return processes

    first = schedulers(3)
    assert [d["event"] for d in webhook_receiver.deliveries("/hook")] == ["failed"]
    assert len(smtp_sink.messages) == 1
    assert all(p.stop() == 0 for p in first)

    with pg_app.app_context():
        done = utcnow()
        db.session.add(BackupRun(tenant_id=tid, status="succeeded", trigger="scheduled", queued_at=done,
                                 started_at=done, finished_at=done))
        db.session.commit()
    second = schedulers(3)
    assert [d["event"] for d in webhook_receiver.deliveries("/hook")] == ["failed", "recovered"]
    assert len(smtp_sink.messages) == 2
    assert all(p.stop() == 0 for p in second)
    with pg_app.app_context():
        [incident] = db.session.scalars(db.select(AlertIncident)).all()
        assert incident.notified_at and incident.resolved_at and incident.recovery_notified_at
