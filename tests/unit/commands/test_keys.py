"""`flask keys generate` (without any configuration) and `flask keys rotate` (refused while a live process lacks
the new key) on SQLite and PostgreSQL."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from sqlalchemy import select

from app import create_app
from app.crypto import DecryptionError, KeyRing, generate_key
from app.extensions import db
from app.models import Tenant, TenantDataKey, XrayCredential, utcnow
from app.ops.heartbeats import ProcessBeat
from app.sealing import Sealer
from app.services import current_services
from app.tenants import install, shared_secret
from sim.jira import FakeJira
from tests.support.paths import ROOT


def test_generate_prints_a_key_the_key_ring_accepts(runner):
    result = runner.invoke(args=["keys", "generate", "--kid", "k7"])
    assert result.exit_code == 0
    ring = KeyRing.parse(result.output.strip())
    assert ring.primary_kid == "k7" and len(ring.keys[0][1]) == 32
    assert runner.invoke(args=["keys", "generate"]).output != result.output


def _seed(app, jira):
    """Two tenants with every kind of sealed value, written under the app's (old) key."""
    secrets = {}
    with app.app_context():
        for index in range(2):
            payload = jira.install_payload(clientKey=f"jira:tenant-{index}", sharedSecret=f"shared-secret-{index}" * 3)
            tenant = install(payload, utcnow(), sealer=current_services().sealer)
            db.session.add(XrayCredential(tenant_id=tenant.id, client_id=f"cid-{index}", updated_at=utcnow(),
                                          client_secret_enc=current_services().sealer.seal(tenant.client_key, "xray_client_secret", f"xs-{index}")))
            db.session.add(TenantDataKey(tenant_id=tenant.id, created_at=utcnow(),
                                         wrapped_key=current_services().sealer.seal(tenant.client_key, "snapshot_data_key", bytes([index]) * 32)))
            secrets[tenant.client_key] = (payload["sharedSecret"], f"xs-{index}", bytes([index]) * 32)
        db.session.commit()
    return secrets


def _rotated_app(make_config, db_app, keys: str):
    """A second app on the same database with a new key ring (no database reset)."""
    return create_app(make_config(DATABASE_URL=db_app.config["SQLALCHEMY_DATABASE_URI"], ENCRYPTION_KEYS=keys))


def test_rotate_re_encrypts_every_secret_under_the_first_key(db_app, make_config, encryption_keys):
    with FakeJira() as jira:
        expected = _seed(db_app, jira)
    new_entry = f"k2:{generate_key()}"
    app = _rotated_app(make_config, db_app, f"{new_entry},{encryption_keys}")
    try:
        result = app.test_cli_runner().invoke(args=["keys", "rotate"])
        assert result.exit_code == 0, result.output
        assert "tenants.shared_secret_enc: 2 re-encrypted, 0 already current, 0 failed" in result.output
        assert "xray_credentials.client_secret_enc: 2 re-encrypted" in result.output
        assert "tenant_data_keys.wrapped_key: 2 re-encrypted" in result.output
        new_only = KeyRing.parse(new_entry)
        with app.app_context():
            for tenant in db.session.scalars(select(Tenant)):
                shared, xray, data_key = expected[tenant.client_key]
                assert tenant.shared_secret_enc.startswith("v1:k2:")
                assert Sealer(new_only).open_text(tenant.client_key, "connect_shared_secret", tenant.shared_secret_enc) == shared
                cred = db.session.scalars(select(XrayCredential).where(XrayCredential.tenant_id == tenant.id)).one()
                assert Sealer(new_only).open_text(tenant.client_key, "xray_client_secret", cred.client_secret_enc) == xray
                wrapped = db.session.get(TenantDataKey, tenant.id).wrapped_key
                assert Sealer(new_only).open_bytes(tenant.client_key, "snapshot_data_key", wrapped) == data_key
        again = app.test_cli_runner().invoke(args=["keys", "rotate"])
        assert again.exit_code == 0
        assert "total: 0 re-encrypted, 0 failed" in again.output
        assert "2 already current" in again.output
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_rotate_reports_values_no_key_can_open_and_leaves_them(db_app, make_config):
    with FakeJira() as jira:
        _seed(db_app, jira)
    app = _rotated_app(make_config, db_app, f"k9:{generate_key()}")  # the old key is gone
    try:
        result = app.test_cli_runner().invoke(args=["keys", "rotate"])
        assert result.exit_code != 0
        assert "6 failed" in result.output
        with app.app_context():
            assert all(t.shared_secret_enc.startswith("v1:k1:") for t in db.session.scalars(select(Tenant)))
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.mark.parametrize("column", ["shared_secret_enc"])
def test_a_sealed_secret_moved_to_another_tenant_does_not_open(app, column):
    with FakeJira() as jira, app.app_context():
        a = install(jira.install_payload(clientKey="jira:a"), utcnow(), sealer=current_services().sealer)
        b = install(jira.install_payload(clientKey="jira:b", sharedSecret="other-secret" * 4), utcnow(),
                    sealer=current_services().sealer)
        setattr(b, column, getattr(a, column))
        with pytest.raises(DecryptionError):
            shared_secret(b, current_services().sealer)


# ---------------------------------------------------------------- generating without configuration


def _flask(args: list[str], env: dict, tmp_path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in ("ENCRYPTION_KEYS", "DATABASE_URL", "APP_BASE_URL")}
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, env={**clean, "INSTANCE_PATH": str(tmp_path / "instance"), **env})


def test_generate_works_in_production_before_any_key_exists(tmp_path):
    result = _flask(["keys", "generate"], {"APP_ENV": "production"}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert KeyRing.parse(result.stdout.strip()).primary_kid.startswith("k")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "instance").exists()  # nothing was configured, created or connected to


def test_generate_needs_no_configuration_at_all_and_takes_a_kid(tmp_path):
    result = _flask(["keys", "generate", "--kid", "k2026"], {"APP_ENV": "production",
                                                             "BACKUP_STORAGE_URL": "ftp://nonsense"}, tmp_path)
    assert result.returncode == 0, result.stderr
    assert KeyRing.parse(result.stdout.strip()).primary_kid == "k2026"


def test_other_commands_under_a_broken_configuration_say_why_in_one_line(tmp_path):
    result = _flask(["db", "upgrade"], {"APP_ENV": "production", "APP_BASE_URL": "https://x.example"}, tmp_path)
    assert result.returncode != 0
    assert "Configuration error: ENCRYPTION_KEYS: required in production" in result.stderr
    assert "Traceback" not in result.stderr


# ---------------------------------------------------------------- rotation waits for every live process


def _beat(app, keys: str) -> ProcessBeat:
    with app.app_context():
        return ProcessBeat(db.engine, kind="web", key_ids=KeyRing.parse(keys).kids).start()


def test_rotate_is_refused_while_a_live_process_lacks_the_new_key_then_succeeds(db_app, make_config, encryption_keys):
    with FakeJira() as jira:
        expected = _seed(db_app, jira)
    new_keys = f"k2:{generate_key()},{encryption_keys}"
    old_process = _beat(db_app, encryption_keys)  # a web worker still on the old key list
    app = _rotated_app(make_config, db_app, new_keys)
    try:
        refused = app.test_cli_runner().invoke(args=["keys", "rotate"])
        assert refused.exit_code == 1
        assert f"Refusing to rotate: web process {old_process.host}:{old_process.pid}" in refused.output
        assert "holds k1, not k2" in refused.output
        with app.app_context():  # nothing was re-encrypted
            assert all(t.shared_secret_enc.startswith("v1:k1:") for t in db.session.scalars(select(Tenant)))
        old_process.stop()
        restarted = _beat(db_app, new_keys)  # restarted with the new list: it holds k2
        try:
            result = app.test_cli_runner().invoke(args=["keys", "rotate"])
        finally:
            restarted.stop()
        assert result.exit_code == 0, result.output
        assert "tenants.shared_secret_enc: 2 re-encrypted" in result.output
        assert "Snapshot objects were not rewritten" in result.output
        with app.app_context():
            for tenant in db.session.scalars(select(Tenant)):
                assert shared_secret(tenant, current_services().sealer) == expected[tenant.client_key][0]
    finally:
        old_process.stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
