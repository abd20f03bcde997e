"""The Xray pacer shared through the database: one window per tenant across threads, processes and hosts."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import create_engine, inspect, select, text

from app.backups.lifecycle.purge import purge_due
from app.backups.runs.runner import paced_client
from app.credentials.service import XrayAccess
from app.crypto import tenant_hash
from app.extensions import db
from app.models import Tenant, XrayPacerHold, XrayPacerSlot
from app.services import services_of
from app.xray.shared_pacer import DatabasePacer
from tests.support.paths import ROOT
from tests.support.pg_admin import fresh_database
from tests.support.queue import T0, add_tenant

TENANT = "https://acme.atlassian.net"
JITTER = 0.051  # DatabasePacer adds up to 0.05 s of jitter to every wait


class FakeTime:
    def __init__(self, start: float = 1_800_000_000.0):
        self.now = start
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time():
    return FakeTime()


@pytest.fixture
def make_pacer(db_app, fake_time):
    """A DatabasePacer on the test database; several of them stand for several processes."""

    def _make(limit=3, window=10.0, margin=0.5, tenant=TENANT):
        with db_app.app_context():
            engine = db.engine
        return DatabasePacer(engine, tenant, limit, window, margin, clock=fake_time.clock, sleep=fake_time.sleep,
                             rng=random.Random(3))

    return _make


def slot_rows(app) -> list[XrayPacerSlot]:
    with app.app_context():
        return db.session.scalars(select(XrayPacerSlot).order_by(XrayPacerSlot.at)).all()


# ---------------------------------------------------------------- behaviour (injected clock, SQLite and PostgreSQL)


def test_the_limit_holds_across_pacers_of_the_same_tenant(make_pacer, fake_time):
    first, second = make_pacer(), make_pacer()
    start = fake_time.now
    assert first.acquire() == 0
    fake_time.now += 1
    assert second.acquire() == 0
    fake_time.now += 1
    assert first.acquire() == 0
    assert first.used() == second.used() == 3
    assert second.delay() == pytest.approx(10.5 - 2)  # the first request leaves the window 10.5 s after it counted
    waited = second.acquire()
    assert 8.5 <= waited <= 8.5 + JITTER
    assert first.used() == 3  # the one that left the window was replaced by the waiting request
    assert first.delay() == pytest.approx(start + 1 + 10.5 - fake_time.now)


def test_another_tenant_has_its_own_window(make_pacer):
    busy, other = make_pacer(limit=2), make_pacer(limit=2, tenant="https://other.atlassian.net")
    busy.acquire(), busy.acquire()
    assert busy.delay() > 0 and other.delay() == 0 and other.acquire() == 0


def test_a_slot_counts_from_when_the_answer_arrives(make_pacer, fake_time):
    pacer = make_pacer(limit=2, window=10, margin=0)
    start = fake_time.now
    with pacer.slot() as waited:
        assert waited == 0
        fake_time.now += 4  # the request is in flight
    fake_time.now += 1
    pacer.acquire()
    assert pacer.delay() == pytest.approx(start + 4 + 10 - fake_time.now)  # from the answer, not the start
    fake_time.now = start + 14.01
    assert pacer.delay() == 0 and pacer.used() == 1


def test_a_slot_in_flight_counts_for_the_other_processes(make_pacer, fake_time):
    first, second = make_pacer(limit=1, window=10, margin=0), make_pacer(limit=1, window=10, margin=0)
    with first.slot():
        fake_time.now += 1
        assert second.used() == 1 and second.delay() > 0
    assert second.delay() == pytest.approx(10)


def test_a_hold_is_seen_by_every_process_and_never_shortened(make_pacer, fake_time):
    first, second = make_pacer(limit=100), make_pacer(limit=100)
    first.hold(12)
    second.hold(5)  # a shorter hold from another process keeps the longer one
    assert first.delay() == pytest.approx(12)
    waited = second.acquire()
    assert 12 <= waited <= 12 + JITTER
    second.hold(3)
    assert first.delay() == pytest.approx(3)


def test_concurrent_holds_end_with_one_row_at_the_latest_moment(make_pacer, db_app, fake_time):
    pacers = [make_pacer(limit=100) for _ in range(3)]
    for seconds, pacer in zip((4, 9, 6), pacers):
        pacer.hold(seconds)
    with db_app.app_context():
        holds = db.session.scalars(select(XrayPacerHold)).all()
    assert [h.hold_until for h in holds] == [pytest.approx(fake_time.now + 9)]
    assert holds[0].tenant_hash == tenant_hash(TENANT)


def test_old_rows_are_pruned_and_the_client_key_is_never_stored(make_pacer, db_app, fake_time):
    pacer, other = make_pacer(limit=10), make_pacer(limit=10, tenant="https://other.atlassian.net")
    for _ in range(4):
        pacer.acquire()
    other.acquire()
    pacer.hold(1)
    fake_time.now += 10.6
    assert pacer.used() == 0
    assert pacer.prune() == 4
    rows = slot_rows(db_app)
    assert [r.tenant_hash for r in rows] == [tenant_hash("https://other.atlassian.net")]
    with db_app.app_context():
        assert db.session.scalars(select(XrayPacerHold)).all() == []
        dump = " ".join(str(v) for r in db.session.execute(select(XrayPacerSlot.__table__)) for v in r)
    assert "atlassian" not in dump and len(tenant_hash(TENANT)) == 32


def test_taking_slots_prunes_on_the_way(make_pacer, db_app, fake_time):
    pacer = make_pacer(limit=1000, window=1, margin=0)
    for _ in range(60):
        pacer.acquire()
        fake_time.now += 0.5
    assert len(slot_rows(db_app)) < 60  # rows that left the window were deleted by later takes


def test_a_database_failure_falls_back_to_pacing_in_this_process(fake_time):
    engine = create_engine("sqlite://")  # no pacer tables: every statement fails
    pacer = DatabasePacer(engine, TENANT, 2, 10, 0, clock=fake_time.clock, sleep=fake_time.sleep)
    with pacer.slot() as waited:
        assert waited == 0
    pacer.hold(1)  # logged, held in this process instead
    engine.dispose()


# ---------------------------------------------------------------- wiring


def test_the_apps_tenant_pacer_is_shared_through_its_database(db_app):
    pacers = services_of(db_app).pacers
    with db_app.app_context():
        pacer = pacers.for_tenant(TENANT)
        assert isinstance(pacer, DatabasePacer) and pacer.engine is db.engine
        assert pacers.for_tenant(TENANT) is pacer and pacer.limit == services_of(db_app).config.xray_rate_limit
        assert pacers.for_tenant("https://other.atlassian.net") is not pacer


def test_the_runner_and_the_credential_checks_use_the_shared_pacer(app):
    services = services_of(app)
    tenant = SimpleNamespace(client_key=TENANT)
    with app.app_context():
        client = paced_client(services)(tenant, XrayAccess("http://127.0.0.1:9", "id", "secret", "global"))
        assert isinstance(client.pacer, DatabasePacer) and client.pacer.tenant == tenant_hash(TENANT)
        assert services.credentials.paced_verifier(tenant).pacer is client.pacer
        client.close()


def test_a_credential_check_answers_at_once_when_a_backup_used_the_budget(app):
    tenant = SimpleNamespace(client_key=TENANT + "-busy")
    with app.app_context():
        verify = services_of(app).credentials.paced_verifier(tenant)
        for _ in range(verify.pacer.limit):
            verify.pacer.acquire()
        # Port 9 is closed: had the check gone to "Xray", the answer would name an unreachable host.
        result = verify("http://127.0.0.1:9", "id", "secret")
    assert result.status == "unreachable"
    assert "backup is using this site's Xray request budget" in result.message


def test_the_uninstall_purge_deletes_the_tenants_pacer_rows(db_app, fake_time):
    gone, kept = add_tenant(db_app, "gone-key"), add_tenant(db_app, "kept-key")
    with db_app.app_context():
        for key in ("gone-key", "kept-key"):
            pacer = DatabasePacer(db.engine, key, 10, clock=fake_time.clock, sleep=fake_time.sleep)
            pacer.acquire()
            pacer.hold(30)
        tenant = db.session.get(Tenant, gone)
        tenant.installed, tenant.purge_after = False, T0 - timedelta(days=1)
        db.session.commit()
        assert purge_due(T0, services_of(db_app).store) == 1
        assert db.session.get(Tenant, kept) is not None
        left = {r.tenant_hash for r in db.session.scalars(select(XrayPacerSlot))}
        held = {r.tenant_hash for r in db.session.scalars(select(XrayPacerHold))}
    assert left == held == {tenant_hash("kept-key")}


# ---------------------------------------------------------------- the migration


@pytest.fixture
def fresh_pg_url():
    """An empty PostgreSQL database of its own (the session one is migrated already)."""
    with fresh_database("xb_mig") as url:
        yield url


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_the_migration_upgrades_a_0001_database_and_is_idempotent(backend, make_config, tmp_path, request):
    from flask_migrate import downgrade, upgrade

    from app import create_app

    url = request.getfixturevalue("fresh_pg_url") if backend == "postgresql" else f"sqlite:///{tmp_path / 'm.db'}"
    app = create_app(make_config(DATABASE_URL=url))
    try:
        with app.app_context():
            upgrade(revision="0001")
            tables = set(inspect(db.engine).get_table_names())
            assert "tenants" in tables and "xray_pacer_slots" not in tables
            with db.engine.begin() as conn:
                conn.execute(text("INSERT INTO tenants (client_key, shared_secret_enc, base_url, product_type, "
                                  "installed, enabled, installed_at, updated_at) VALUES ('k', 's', 'https://x', "
                                  "'jira', true, true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
            upgrade(revision="0002")
            upgrade(revision="0002")  # a second `flask db upgrade` changes nothing
            tables = set(inspect(db.engine).get_table_names())
            assert {"xray_pacer_slots", "xray_pacer_holds"} <= tables
            with db.engine.connect() as conn:
                assert conn.scalar(text("SELECT version_num FROM alembic_version")) == "0002"
                assert conn.scalar(text("SELECT count(*) FROM tenants")) == 1
            indexes = {i["name"] for i in inspect(db.engine).get_indexes("xray_pacer_slots")}
            assert "ix_xray_pacer_slots_tenant_at" in indexes
            pacer = DatabasePacer(db.engine, TENANT, 5)
            assert pacer.acquire() == 0 and pacer.used() == 1
            downgrade(revision="0001")
            assert "xray_pacer_slots" not in set(inspect(db.engine).get_table_names())
            upgrade()
            assert "xray_pacer_holds" in set(inspect(db.engine).get_table_names())
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


# ---------------------------------------------------------------- two real processes against the Xray simulator

LIMIT, WINDOW, PER_PROCESS = 20, 3.0, 15  # each process alone stays under the limit; together they exceed it


def _race(mode: str, db_url: str) -> tuple[dict, list[dict]]:
    from sim.xray import XraySimulator

    from tests.multiprocess.mp_shared_pacer import CLIENT_ID, CLIENT_SECRET

    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with XraySimulator(scale=1, clients={CLIENT_ID: CLIENT_SECRET}, rate_limit=LIMIT, rate_window=WINDOW) as sim:
        start_at = time.time() + 3.0  # both processes are up and connected by then
        procs = [subprocess.Popen([sys.executable, str(ROOT / "tests" / "multiprocess" / "mp_shared_pacer.py"), mode, db_url, sim.url,
                                   str(LIMIT), str(WINDOW), str(PER_PROCESS), str(start_at)],
                                  cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        results = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-2000:]
            results.append(json.loads(out.strip().splitlines()[-1]))
        return sim.stats(), results


@pytest.fixture(params=["sqlite-file", "postgresql"])
def race_db_url(request, make_app, tmp_path):
    """A migrated database both processes reach by URL."""
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_database_url")
        make_app(DATABASE_URL=url)
        return url
    url = f"sqlite:///{tmp_path / 'race.db'}"
    make_app(DATABASE_URL=url)
    return url


def test_two_processes_together_stay_under_the_limit(race_db_url):
    served, results = _race("db", race_db_url)
    sent = sum(r["requests"] for r in results)
    assert sent == 2 * (PER_PROCESS + 1)  # every GraphQL call and one authentication each, no retries
    assert served.get("rate_limited", 0) == 0 and sum(r["throttled"] for r in results) == 0
    assert served["max_in_window"] <= LIMIT
    assert sum(r["rate_limit_waits"] for r in results) >= 1  # somebody waited for the other's requests
    assert max(r["wall"] for r in results) >= WINDOW - 0.5  # 32 requests at 20 per 3 s need a second window


def test_control_two_processes_with_their_own_windows_cause_429s(tmp_path):
    served, results = _race("local", "unused")
    assert served.get("rate_limited", 0) > 0  # what the shared pacer prevents
    assert all(r["rate_limit_waits"] == 0 or r["throttled"] > 0 for r in results)  # neither paced by itself
