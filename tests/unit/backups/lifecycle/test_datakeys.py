"""Per-tenant data keys on SQLite and PostgreSQL: created once, wrapped, bound to the tenant, shreddable."""
from __future__ import annotations

import base64
import subprocess
import sys
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.backups.lifecycle import datakeys
from app.backups.lifecycle.datakeys import data_key_for, has_data_key, shred
from app.backups.store.repository import SnapshotIntegrityError
from app.crypto import DecryptionError
from app.extensions import db
from app.models import Tenant, TenantDataKey
from app.services import current_services
from tests.support.storage import file_store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=timezone.utc)


def add_tenant(app, client_key: str) -> int:
    with app.app_context():
        tenant = Tenant(client_key=client_key, shared_secret_enc="sealed", base_url="https://acme.atlassian.net",
                        installed_at=NOW, updated_at=NOW)
        db.session.add(tenant)
        db.session.commit()
        return tenant.id


def tenant(tenant_id: int) -> Tenant:
    return db.session.get(Tenant, tenant_id)


def key_rows(tenant_id: int) -> list[TenantDataKey]:
    return db.session.scalars(select(TenantDataKey).where(TenantDataKey.tenant_id == tenant_id)).all()


def test_a_data_key_is_created_once_and_stored_only_wrapped(db_app):
    tid = add_tenant(db_app, "jira:acme")
    with db_app.app_context():
        assert not has_data_key(tenant(tid))
        key = data_key_for(tenant(tid), NOW, current_services().sealer)
        assert len(key) == 32
        assert data_key_for(tenant(tid), NOW, current_services().sealer) == key
        (row,) = key_rows(tid)
        assert row.created_at == NOW
        for text in (key.hex(), base64.b64encode(key).decode(), base64.urlsafe_b64encode(key).decode().rstrip("=")):
            assert text not in row.wrapped_key
        assert current_services().sealer.open_bytes("jira:acme", "snapshot_data_key", row.wrapped_key) == key


def test_the_key_survives_a_rolled_back_caller(db_app):
    """Creating the key commits it: a snapshot encrypted with it must never outlive its key."""
    tid = add_tenant(db_app, "jira:acme")
    with db_app.app_context():
        key = data_key_for(tenant(tid), NOW, current_services().sealer)
        db.session.rollback()
    with db_app.app_context():
        assert data_key_for(tenant(tid), NOW, current_services().sealer) == key


def test_each_tenant_has_its_own_key_and_a_wrapped_key_cannot_be_moved(db_app):
    acme, globex = add_tenant(db_app, "jira:acme"), add_tenant(db_app, "jira:globex")
    with db_app.app_context():
        assert data_key_for(tenant(acme), NOW, current_services().sealer) != data_key_for(tenant(globex), NOW, current_services().sealer)
        (acme_row,) = key_rows(acme)
        (globex_row,) = key_rows(globex)
        globex_row.wrapped_key = acme_row.wrapped_key  # a database-level copy to the other tenant
        db.session.commit()
        with pytest.raises(DecryptionError):
            data_key_for(tenant(globex), NOW, current_services().sealer)


def test_shredding_the_key_makes_published_snapshots_unreadable(db_app, tmp_path):
    tid = add_tenant(db_app, "jira:acme")
    folder = tmp_path / "snap"
    folder.mkdir()
    (folder / "manifest.json").write_text("{}")
    store = file_store(tmp_path / "store")
    with db_app.app_context():
        old_key = data_key_for(tenant(tid), NOW, current_services().sealer)
        snapshot = store.publish("jira:acme", "run1", folder, old_key)
        assert shred(tenant(tid)) is True
        assert key_rows(tid) == [] and not has_data_key(tenant(tid))
        assert shred(tenant(tid)) is False
        new_key = data_key_for(tenant(tid), NOW, current_services().sealer)  # a later backup starts a new key
        assert new_key != old_key
        with pytest.raises(SnapshotIntegrityError, match="data key"):
            [b"".join(chunks) for _, chunks in store.iter_files(snapshot, new_key)]


def test_a_creator_that_lost_the_race_uses_the_winners_key(db_app, monkeypatch):
    tid = add_tenant(db_app, "jira:acme")
    with db_app.app_context():
        winner = data_key_for(tenant(tid), NOW, current_services().sealer)  # "the other process" inserted first
    real_stored = datakeys._stored
    reads = []

    def stale_first_read(t):
        reads.append(t.id)
        return None if len(reads) == 1 else real_stored(t)  # our first read predates the other's insert

    monkeypatch.setattr(datakeys, "_stored", stale_first_read)
    with db_app.app_context():
        assert data_key_for(tenant(tid), NOW, current_services().sealer) == winner
        assert len(key_rows(tid)) == 1
    assert len(reads) == 2


def test_many_concurrent_creators_end_with_one_key(db_app):
    tid = add_tenant(db_app, "jira:acme")
    workers = 6
    barrier, keys, errors = threading.Barrier(workers), [], []

    def create():
        with db_app.app_context():
            try:
                t = tenant(tid)
                barrier.wait(10)
                keys.append(data_key_for(t, NOW, current_services().sealer))
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=create) for _ in range(workers)]
    [t.start() for t in threads]
    [t.join(60) for t in threads]
    assert errors == []
    assert len(keys) == workers and len(set(keys)) == 1
    with db_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(TenantDataKey)) == 1


_CREATOR = """
import sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from app import create_app
from app.config import load_config
from app.backups.lifecycle.datakeys import data_key_for
from app.extensions import db
from app.models import Tenant
from app.services import current_services
from datetime import datetime, timezone

app = create_app(load_config({env!r}, instance_path={instance!r}))
with app.app_context():
    tenant = db.session.get(Tenant, {tenant_id})
    print("ready", flush=True)
    while not Path({go!r}).exists():
        time.sleep(0.005)
    print(data_key_for(tenant, datetime.now(timezone.utc), current_services().sealer).hex(), flush=True)
"""


@pytest.mark.multiprocess
def test_two_processes_creating_the_key_at_once_end_with_one_key(make_app, make_config, pg_database_url, tmp_path):
    app = make_app(DATABASE_URL=pg_database_url)
    tid = add_tenant(app, "jira:acme")
    config = make_config(DATABASE_URL=pg_database_url)
    env = {"DATABASE_URL": pg_database_url, "ENCRYPTION_KEYS": config.encryption_keys, "SCHEDULER_ENABLED": "false",
           "APP_BASE_URL": config.app_base_url}
    go = tmp_path / "go"
    script = _CREATOR.format(root=str(Path(__file__).resolve().parents[4]), env=env, tenant_id=tid, go=str(go),
                             instance=str(tmp_path / "instance"))
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready"
        go.touch()
        keys = [proc.stdout.readline().strip() for proc in procs]
        assert all(proc.wait(60) == 0 for proc in procs)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    assert len(keys[0]) == 64 and keys[0] == keys[1]
    with app.app_context():
        (row,) = key_rows(tid)
        assert data_key_for(tenant(tid), NOW, current_services().sealer).hex() == keys[0]
