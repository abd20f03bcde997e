"""Lifecycle callbacks over real signed requests from the fake Jira: installs, the bad-input matrix, uninstall."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.connect import install_keys
from app.extensions import db
from app.models import BackupRun, BackupSettings, Tenant, XrayCredential, utcnow
from app.models import SHARED_SECRET_FIELD
from app.tenants import shared_secret
from tests.support.connect import context_token
from sim.jira import FakeJira, generate_rsa_key, public_pem
from app.services import current_services, services_of

BASE = "https://xray-backup.example.test"


@pytest.fixture
def lifecycle_app(make_app, fake_jira):
    return make_app(APP_BASE_URL=BASE, CONNECT_INSTALL_KEYS_URL=fake_jira.keys_url)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_app(request, make_app, fake_jira):
    env = {"APP_BASE_URL": BASE, "CONNECT_INSTALL_KEYS_URL": fake_jira.keys_url}
    if request.param == "postgresql":
        env["DATABASE_URL"] = request.getfixturevalue("pg_database_url")
    return make_app(**env)


def send(app, jira, event="installed", *, token=None, payload=None, data=None, headers=None, query="",
         **token_kwargs):
    """POST a lifecycle call as Jira would (every part overridable)."""
    path = "/" + event
    if payload is None:
        payload = jira.install_payload(event)
    if token is None:
        if event in ("installed", "uninstalled"):
            token = jira.install_token(BASE, path, **token_kwargs)
        else:
            token = jira.hs256_token("POST", path, app_base_url=BASE, account_id=None, **token_kwargs)
    all_headers = {"Authorization": f"JWT {token}"} if token else {}
    all_headers.update(headers or {})
    body = data if data is not None else json.dumps(payload)
    return app.test_client().post(path + query, data=body, headers=all_headers, content_type="application/json")


def tenant_rows(app):
    with app.app_context():
        return [
            (t.client_key, t.shared_secret_enc, t.base_url, t.installed, t.enabled, t.uninstalled_at)
            for t in db.session.scalars(select(Tenant).order_by(Tenant.id))
        ]


def stored_secret(app, client_key):
    with app.app_context():
        tenant = db.session.scalars(select(Tenant).where(Tenant.client_key == client_key)).one()
        return shared_secret(tenant, current_services().sealer)


# ---------------------------------------------------------------- the happy paths, on SQLite and PostgreSQL


def test_signed_install_creates_the_tenant_with_an_encrypted_secret(any_db_app, fake_jira):
    response = send(any_db_app, fake_jira)
    assert response.status_code == 204, response.data
    with any_db_app.app_context():
        tenant = db.session.scalars(select(Tenant)).one()
        assert tenant.client_key == fake_jira.client_key
        assert tenant.base_url == fake_jira.url
        assert tenant.installed and tenant.enabled
        assert fake_jira.shared_secret not in tenant.shared_secret_enc
        assert shared_secret(tenant, current_services().sealer) == fake_jira.shared_secret


def test_reinstall_replaces_the_secret_and_keeps_the_row_and_settings(any_db_app, fake_jira):
    assert send(any_db_app, fake_jira).status_code == 204
    with any_db_app.app_context():
        tenant = db.session.scalars(select(Tenant)).one()
        tenant_id = tenant.id
        db.session.add(BackupSettings(tenant_id=tenant.id, frequency="weekly", time_of_day="03:15", day_of_week=2,
                                      updated_at=utcnow()))
        db.session.commit()
    fake_jira.shared_secret = "a-brand-new-shared-secret-from-the-reinstall-0123"
    assert send(any_db_app, fake_jira).status_code == 204
    with any_db_app.app_context():
        tenant = db.session.scalars(select(Tenant)).one()
        assert tenant.id == tenant_id
        assert shared_secret(tenant, current_services().sealer) == fake_jira.shared_secret
        settings = db.session.get(BackupSettings, tenant_id)
        assert (settings.frequency, settings.time_of_day, settings.day_of_week) == ("weekly", "03:15", 2)


def test_uninstall_marks_the_tenant_deletes_credentials_and_keeps_settings(any_db_app, fake_jira):
    app = any_db_app
    app.add_url_rule("/api/_probe_uninstalled", "probe_uninstalled", lambda: "ok")
    assert send(app, fake_jira).status_code == 204
    with app.app_context():
        tenant = db.session.scalars(select(Tenant)).one()
        now = utcnow()
        db.session.add(XrayCredential(tenant_id=tenant.id, client_id="cid", client_secret_enc="v1:x:y", updated_at=now))
        db.session.add(BackupSettings(tenant_id=tenant.id, time_of_day="02:00", updated_at=now))
        db.session.add(BackupRun(tenant_id=tenant.id, status="queued", queued_at=now))
        db.session.commit()
    before = utcnow()
    assert send(app, fake_jira, "uninstalled").status_code == 204
    with app.app_context():
        tenant = db.session.scalars(select(Tenant)).one()
        assert not tenant.installed
        assert tenant.uninstalled_at >= before
        assert tenant.purge_after - tenant.uninstalled_at == timedelta(days=30)
        assert db.session.scalars(select(XrayCredential)).all() == []
        assert db.session.get(BackupSettings, tenant.id) is not None
        assert db.session.scalars(select(BackupRun)).one().status == "cancelled"
    # The uninstalled tenant's tokens no longer open anything.
    token = context_token(type("T", (), {"client_key": fake_jira.client_key, "shared_secret": fake_jira.shared_secret}))
    assert app.test_client().get("/api/_probe_uninstalled", headers={"Authorization": f"JWT {token}"}).status_code == 401


def test_reinstall_within_the_grace_period_cancels_the_purge(lifecycle_app, fake_jira):
    send(lifecycle_app, fake_jira)
    send(lifecycle_app, fake_jira, "uninstalled")
    assert send(lifecycle_app, fake_jira).status_code == 204
    with lifecycle_app.app_context():
        tenant = db.session.scalars(select(Tenant)).one()
        assert tenant.installed and tenant.uninstalled_at is None and tenant.purge_after is None


def test_grace_days_follow_configuration(make_app, fake_jira):
    app = make_app(APP_BASE_URL=BASE, CONNECT_INSTALL_KEYS_URL=fake_jira.keys_url, UNINSTALL_GRACE_DAYS="7")
    send(app, fake_jira)
    send(app, fake_jira, "uninstalled")
    with app.app_context():
        tenant = db.session.scalars(select(Tenant)).one()
        assert tenant.purge_after - tenant.uninstalled_at == timedelta(days=7)


def test_uninstall_of_an_unknown_tenant_is_acknowledged_and_creates_nothing(lifecycle_app, fake_jira):
    assert send(lifecycle_app, fake_jira, "uninstalled").status_code == 204
    assert tenant_rows(lifecycle_app) == []


def test_enabled_and_disabled_are_verified_with_the_shared_secret_and_recorded(lifecycle_app, fake_jira):
    send(lifecycle_app, fake_jira)
    assert send(lifecycle_app, fake_jira, "disabled").status_code == 204
    assert tenant_rows(lifecycle_app)[0][4] is False
    assert send(lifecycle_app, fake_jira, "enabled").status_code == 204
    assert tenant_rows(lifecycle_app)[0][4] is True


def test_install_keys_are_fetched_once_per_kid(lifecycle_app, fake_jira):
    for _ in range(3):
        assert send(lifecycle_app, fake_jira).status_code == 204
    assert fake_jira.key_requests == [fake_jira.kid]


# ---------------------------------------------------------------- the bad-input matrix: 401 and nothing changes


@pytest.fixture
def installed(lifecycle_app, fake_jira):
    """The app with the fake site installed; yields the rows as they must stay."""
    assert send(lifecycle_app, fake_jira).status_code == 204
    return tenant_rows(lifecycle_app)


def _forged_payload(jira):
    # Every forged install tries to plant this secret.
    return jira.install_payload(sharedSecret="attacker-chosen-secret-attacker-chosen-secret")


def _hs_on_install(jira):
    return jira.install_token(BASE, algorithm="HS256", key=jira.shared_secret)


def _public_pem_as_hmac(jira):
    import base64
    import hashlib
    import hmac

    def b64(data: bytes) -> bytes:
        return base64.urlsafe_b64encode(data).rstrip(b"=")

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": jira.kid}).encode())
    claims = json.loads(base64.urlsafe_b64decode(jira.install_token(BASE).split(".")[1] + "=="))
    body = b64(json.dumps(claims).encode())
    pem = jira.public_keys[jira.kid].encode()
    return (header + b"." + body + b"." + b64(hmac.new(pem, header + b"." + body, hashlib.sha256).digest())).decode()


def _alg_none(jira):
    import jwt as pyjwt

    claims = pyjwt.decode(jira.install_token(BASE), options={"verify_signature": False})
    return pyjwt.encode(claims, None, algorithm="none", headers={"kid": jira.kid})


BAD_TOKENS = {
    "missing token": lambda j: "",
    "garbled token": lambda j: "not-a-jwt",
    "alg none": _alg_none,
    "HS256 on install": _hs_on_install,
    "public PEM as HMAC secret": _public_pem_as_hmac,
    "wrong key": lambda j: j.install_token(BASE, private_key=generate_rsa_key()),
    "unknown kid": lambda j: j.install_token(BASE, kid="0e50fccb-2c57-4bfc-bdc4-a0e5d0bf8a71"),
    "kid with ../": lambda j: j.install_token(BASE, kid="../../rest/api/3/permissions"),
    "kid with URL characters": lambda j: j.install_token(BASE, kid="x?y=1#@evil.example"),
    "kid with percent encoding": lambda j: j.install_token(BASE, kid="%2e%2e%2fadmin"),
    "expired": lambda j: j.install_token(BASE, now=utcnow() - timedelta(minutes=10)),
    "issued in the future": lambda j: j.install_token(BASE, now=utcnow() + timedelta(minutes=10)),
    "wrong aud": lambda j: j.install_token(BASE, aud=["https://another-app.example.test"]),
    "missing aud": lambda j: j.install_token(BASE, aud=None),
    "missing qsh": lambda j: j.install_token(BASE, qsh=None),
    "wrong qsh": lambda j: j.install_token(BASE, "/uninstalled"),
    "context qsh": lambda j: j.install_token(BASE, qsh="context-qsh"),
    "iss is another clientKey": lambda j: j.install_token(BASE, iss="jira:another-site"),
    "page token (HS256 with the shared secret)": lambda j: j.hs256_token("POST", "/installed", app_base_url=BASE),
}


@pytest.mark.parametrize("case", list(BAD_TOKENS))
def test_forged_install_is_refused_and_cannot_replace_the_shared_secret(lifecycle_app, fake_jira, installed, case):
    response = send(lifecycle_app, fake_jira, token=BAD_TOKENS[case](fake_jira), payload=_forged_payload(fake_jira))
    assert response.status_code == 401, (case, response.data)
    assert response.json["error"] == "unauthorized"
    assert tenant_rows(lifecycle_app) == installed
    assert stored_secret(lifecycle_app, fake_jira.client_key) == fake_jira.shared_secret


@pytest.mark.parametrize("case", ["alg none", "wrong key", "expired", "iss is another clientKey", "wrong qsh"])
def test_forged_uninstall_is_refused_and_changes_nothing(lifecycle_app, fake_jira, installed, case):
    token = BAD_TOKENS[case](fake_jira)
    if case == "wrong qsh":
        token = fake_jira.install_token(BASE, "/installed")
    response = send(lifecycle_app, fake_jira, "uninstalled", token=token)
    assert response.status_code == 401
    assert tenant_rows(lifecycle_app) == installed


def test_a_valid_token_for_one_site_cannot_overwrite_another(lifecycle_app, fake_jira, installed):
    other = FakeJira()  # not started: only its identity is used
    other.private_key, other.kid = fake_jira.private_key, fake_jira.kid
    token = other.install_token(BASE)  # genuinely signed, iss = the other site
    response = send(lifecycle_app, fake_jira, token=token, payload=_forged_payload(fake_jira))
    assert response.status_code == 401
    assert stored_secret(lifecycle_app, fake_jira.client_key) == fake_jira.shared_secret


@pytest.mark.parametrize("mode", ["down", "garbage"])
def test_install_fails_closed_when_the_key_server_misbehaves(lifecycle_app, fake_jira, mode):
    fake_jira.key_server_mode = mode
    fake_jira.kid = "kid-for-" + mode  # not cached yet
    fake_jira.public_keys[fake_jira.kid] = public_pem(fake_jira.private_key)
    assert send(lifecycle_app, fake_jira).status_code == 401
    assert tenant_rows(lifecycle_app) == []


def test_install_fails_closed_when_the_key_server_is_slow(lifecycle_app, fake_jira, monkeypatch):
    monkeypatch.setattr(services_of(lifecycle_app).install_keys, "timeout", (0.5, 0.5))
    fake_jira.key_server_mode, fake_jira.key_server_delay = "slow", 3
    assert send(lifecycle_app, fake_jira).status_code == 401
    assert tenant_rows(lifecycle_app) == []


def test_the_key_fetch_timeout_is_at_most_five_seconds():
    assert sum(install_keys.FETCH_TIMEOUT) <= 5


def test_wrong_event_type_is_refused(lifecycle_app, fake_jira, installed):
    payload = _forged_payload(fake_jira)
    payload["eventType"] = "uninstalled"
    assert send(lifecycle_app, fake_jira, payload=payload).status_code == 401
    assert stored_secret(lifecycle_app, fake_jira.client_key) == fake_jira.shared_secret


@pytest.mark.parametrize("base_url", ["https://evil.example.com", "http://site.atlassian.net", "https://atlassian.net.evil.com"])
def test_a_base_url_outside_the_allowed_hosts_is_refused(lifecycle_app, fake_jira, base_url):
    response = send(lifecycle_app, fake_jira, payload=fake_jira.install_payload(baseUrl=base_url))
    assert response.status_code == 401
    assert tenant_rows(lifecycle_app) == []


def test_a_token_in_both_header_and_query_is_refused(lifecycle_app, fake_jira):
    token = fake_jira.install_token(BASE)
    assert send(lifecycle_app, fake_jira, token=token, query=f"?jwt={token}").status_code == 401
    assert tenant_rows(lifecycle_app) == []


def test_enabled_refuses_unknown_tenants_context_tokens_and_install_tokens(lifecycle_app, fake_jira, installed):
    with FakeJira() as stranger:
        assert send(lifecycle_app, stranger, "disabled").status_code == 401
    assert send(lifecycle_app, fake_jira, "disabled", token=fake_jira.context_token(None)).status_code == 401
    assert send(lifecycle_app, fake_jira, "disabled", token=fake_jira.install_token(BASE, "/disabled")).status_code == 401
    payload = fake_jira.install_payload("disabled", clientKey="jira:someone-else")
    assert send(lifecycle_app, fake_jira, "disabled", payload=payload).status_code == 401
    assert tenant_rows(lifecycle_app) == installed


# ---------------------------------------------------------------- malformed bodies: 400 / 413


def test_an_oversized_body_gets_413(lifecycle_app, fake_jira):
    payload = fake_jira.install_payload(description="x" * (70 * 1024))
    response = send(lifecycle_app, fake_jira, payload=payload)
    assert response.status_code == 413
    assert response.json["error"] == "request_entity_too_large"
    assert tenant_rows(lifecycle_app) == []


@pytest.mark.parametrize("body", ["not json", "[1, 2]", "", "{\"clientKey\": 5}", "\xff\xfe"])
def test_a_non_json_or_malformed_body_gets_400(lifecycle_app, fake_jira, body):
    response = send(lifecycle_app, fake_jira, data=body)
    assert response.status_code == 400
    assert response.json["error"] == "bad_request"
    assert tenant_rows(lifecycle_app) == []


def test_missing_fields_are_named(lifecycle_app, fake_jira):
    payload = fake_jira.install_payload()
    del payload["sharedSecret"], payload["baseUrl"]
    response = send(lifecycle_app, fake_jira, payload=payload)
    assert response.status_code == 400
    assert set(response.json["fields"]) == {"sharedSecret", "baseUrl"}


def test_refusals_never_echo_the_secret_or_the_token(lifecycle_app, fake_jira, caplog):
    token = BAD_TOKENS["wrong key"](fake_jira)
    response = send(lifecycle_app, fake_jira, token=token, payload=_forged_payload(fake_jira))
    text = response.get_data(as_text=True) + caplog.text
    assert "attacker-chosen-secret" not in text and token not in text and fake_jira.shared_secret not in text


def test_the_shared_secret_is_sealed_for_its_tenant(lifecycle_app, fake_jira):
    from app.crypto import DecryptionError
    from app.services import current_services, services_of

    send(lifecycle_app, fake_jira)
    with lifecycle_app.app_context():
        sealed = db.session.scalars(select(Tenant)).one().shared_secret_enc
        assert current_services().sealer.open_text(fake_jira.client_key, SHARED_SECRET_FIELD, sealed) == fake_jira.shared_secret
        with pytest.raises(DecryptionError):
            current_services().sealer.open_text("jira:another-tenant", SHARED_SECRET_FIELD, sealed)


# ---------------------------------------------------------------- over real HTTP, and concurrently


def test_the_fake_jira_installs_the_app_over_real_http(lifecycle_app, fake_jira):
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, lifecycle_app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        app_url = f"http://127.0.0.1:{server.server_port}"
        assert fake_jira.install_into(app_url, BASE) == 204
        assert fake_jira.install_into(app_url, BASE, "disabled") == 204
        assert fake_jira.install_into(app_url, BASE, "uninstalled") == 204
    finally:
        server.shutdown()
    rows = tenant_rows(lifecycle_app)
    assert [(r[0], r[3], r[4]) for r in rows] == [(fake_jira.client_key, False, False)]


def test_concurrent_installs_of_one_site_leave_one_row(any_db_app, fake_jira):
    import threading

    from app.tenants import install

    barrier = threading.Barrier(4)
    errors = []

    def worker(index):
        try:
            with any_db_app.app_context():
                barrier.wait(timeout=10)
                install(fake_jira.install_payload(sharedSecret=f"secret-from-install-{index}-" * 2), utcnow(),
                        sealer=services_of(any_db_app).sealer)
                db.session.remove()
        except Exception as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    rows = tenant_rows(any_db_app)
    assert len(rows) == 1
    assert stored_secret(any_db_app, fake_jira.client_key).startswith("secret-from-install-")


# ---------------------------------------------------------------- the Connect↔Forge link (installationId)

INSTALLATION = "ari:cloud:ecosystem::installation/5a0e5c9b-6f55-4a4f-9c39-0a9a4bd2ac11"
REINSTALLATION = "ari:cloud:ecosystem::installation/0c1d8e2f-3b4a-4c5d-8e6f-7a8b9c0d1e2f"


def installation_ids(app) -> dict:
    with app.app_context():
        return dict(db.session.execute(select(Tenant.client_key, Tenant.installation_id)).all())


def test_a_forge_install_stores_the_installation_id_on_the_tenant(any_db_app, fake_jira):
    response = send(any_db_app, fake_jira, payload=fake_jira.install_payload(installationId=INSTALLATION))
    assert response.status_code == 204, response.data
    assert installation_ids(any_db_app) == {fake_jira.client_key: INSTALLATION}


def test_a_reinstall_replaces_the_installation_id_and_keeps_the_tenant(any_db_app, fake_jira):
    send(any_db_app, fake_jira, payload=fake_jira.install_payload(installationId=INSTALLATION))
    with any_db_app.app_context():
        tenant_id = db.session.scalars(select(Tenant)).one().id
    send(any_db_app, fake_jira, payload=fake_jira.install_payload(installationId=REINSTALLATION))
    assert installation_ids(any_db_app) == {fake_jira.client_key: REINSTALLATION}
    with any_db_app.app_context():
        assert db.session.scalars(select(Tenant)).one().id == tenant_id


def test_a_plain_connect_reinstall_drops_the_forge_link(lifecycle_app, fake_jira):
    send(lifecycle_app, fake_jira, payload=fake_jira.install_payload(installationId=INSTALLATION))
    send(lifecycle_app, fake_jira)
    assert installation_ids(lifecycle_app) == {fake_jira.client_key: None}


def test_uninstall_removes_the_installation_id(any_db_app, fake_jira):
    send(any_db_app, fake_jira, payload=fake_jira.install_payload(installationId=INSTALLATION))
    assert send(any_db_app, fake_jira, "uninstalled").status_code == 204
    assert installation_ids(any_db_app) == {fake_jira.client_key: None}


def test_an_installation_id_moves_to_the_site_that_installed_last(any_db_app, fake_jira):
    with FakeJira() as other_site:
        send(any_db_app, fake_jira, payload=fake_jira.install_payload(installationId=INSTALLATION))
        # Atlassian signs every site's installs with the same keys: the app's key server is fake_jira's.
        token = other_site.install_token(BASE, "/installed", private_key=fake_jira.private_key, kid=fake_jira.kid)
        response = send(any_db_app, other_site, token=token,
                        payload=other_site.install_payload(installationId=INSTALLATION))
        assert response.status_code == 204, response.data
        assert installation_ids(any_db_app) == {fake_jira.client_key: None, other_site.client_key: INSTALLATION}


def test_an_unverified_install_never_links_an_installation(lifecycle_app, fake_jira):
    send(lifecycle_app, fake_jira, payload=fake_jira.install_payload(installationId=INSTALLATION))
    forged = fake_jira.install_token(BASE, "/installed", private_key=generate_rsa_key())
    response = send(lifecycle_app, fake_jira, token=forged,
                    payload=fake_jira.install_payload(installationId=REINSTALLATION))
    assert response.status_code == 401
    assert installation_ids(lifecycle_app) == {fake_jira.client_key: INSTALLATION}


@pytest.mark.parametrize("bad", [12345, ["x"], "x" * 256])
def test_a_malformed_installation_id_is_refused_naming_the_field(lifecycle_app, fake_jira, bad):
    response = send(lifecycle_app, fake_jira, payload=fake_jira.install_payload(installationId=bad))
    assert response.status_code == 400
    assert "installationId" in response.json["fields"]
    assert tenant_rows(lifecycle_app) == []


# ---------------------------------------------------------------- security round 2: one URL policy for baseUrl


@pytest.mark.parametrize("suffix", ["\\@127.0.0.1:9", "\\@victim.atlassian.net", "@victim.atlassian.net"])
def test_a_base_url_that_parsers_read_differently_never_installs(lifecycle_app, fake_jira, suffix):
    # urlsplit reads the host after the backslash, urllib3 (what requests connects with) the one before it.
    canary = FakeJira(host="127.0.0.2").start()
    try:
        payload = fake_jira.install_payload(baseUrl=canary.origin + suffix)
        response = send(lifecycle_app, fake_jira, payload=payload)
        assert response.status_code in (400, 401), response.data
        assert tenant_rows(lifecycle_app) == []
        assert canary.requests == []
    finally:
        canary.stop()


@pytest.mark.parametrize("tail", ["\r\n", "\r\nX-Injected: 1", "\n2024-01-01 INFO forged log line", "\t"])
def test_a_base_url_with_control_characters_is_refused_naming_the_field(lifecycle_app, fake_jira, tail):
    response = send(lifecycle_app, fake_jira, payload=fake_jira.install_payload(baseUrl=fake_jira.url + tail))
    assert response.status_code == 400
    assert "baseUrl" in response.json["fields"]
    assert tenant_rows(lifecycle_app) == []


def test_only_the_canonical_base_url_is_stored(lifecycle_app, fake_jira):
    raw = fake_jira.url.replace("http://", "HTTP://") + "/"
    assert send(lifecycle_app, fake_jira, payload=fake_jira.install_payload(baseUrl=raw, displayUrl=raw)).status_code \
        == 204
    assert tenant_rows(lifecycle_app)[0][2] == fake_jira.url


# ---------------------------------------------------------------- security round 2: single-use lifecycle tokens


def test_an_install_token_replayed_with_another_body_is_refused(any_db_app, fake_jira):
    token = fake_jira.install_token(BASE)
    assert send(any_db_app, fake_jira, token=token).status_code == 204
    before = tenant_rows(any_db_app)
    replay = send(any_db_app, fake_jira, token=token, payload=fake_jira.install_payload(
        sharedSecret="attacker-chosen-secret-attacker-chosen-secret", baseUrl=f"http://localhost:{fake_jira.url[-5:]}"))
    assert replay.status_code == 401
    assert tenant_rows(any_db_app) == before
    assert stored_secret(any_db_app, fake_jira.client_key) == fake_jira.shared_secret


def test_the_identical_request_again_answers_as_before_and_changes_nothing(lifecycle_app, fake_jira):
    token, payload = fake_jira.install_token(BASE), fake_jira.install_payload()
    assert send(lifecycle_app, fake_jira, token=token, payload=payload).status_code == 204
    # A newer reinstall, then Atlassian's retry of the first one: the retry must not bring the old secret back.
    fake_jira.shared_secret = "the-secret-of-the-newer-reinstall-0123456789"
    assert send(lifecycle_app, fake_jira).status_code == 204
    assert send(lifecycle_app, fake_jira, token=token, payload=payload).status_code == 204
    assert stored_secret(lifecycle_app, fake_jira.client_key) == fake_jira.shared_secret


def test_a_used_token_stays_used_for_another_process_on_the_same_database(make_app, fake_jira, pg_database_url):
    env = dict(APP_BASE_URL=BASE, CONNECT_INSTALL_KEYS_URL=fake_jira.keys_url, DATABASE_URL=pg_database_url)
    first, second = make_app(**env), make_app(**env)
    token = fake_jira.install_token(BASE)
    assert send(first, fake_jira, token=token).status_code == 204
    forged = fake_jira.install_payload(sharedSecret="attacker-chosen-secret-attacker-chosen-secret")
    assert send(second, fake_jira, token=token, payload=forged).status_code == 401
    assert stored_secret(second, fake_jira.client_key) == fake_jira.shared_secret


def test_disabled_and_uninstalled_tokens_are_single_use_too(lifecycle_app, fake_jira, installed):
    token = fake_jira.hs256_token("POST", "/disabled", app_base_url=BASE, account_id=None)
    assert send(lifecycle_app, fake_jira, "disabled", token=token).status_code == 204
    other = fake_jira.install_payload("disabled", description="another body")
    assert send(lifecycle_app, fake_jira, "disabled", token=token, payload=other).status_code == 401


def test_accepted_tokens_are_kept_as_digests_and_pruned_after_they_expire(lifecycle_app, fake_jira):
    from app.connect.models import AcceptedLifecycleToken

    old = fake_jira.install_token(BASE, now=utcnow() - timedelta(seconds=150))
    assert send(lifecycle_app, fake_jira, token=old).status_code == 204
    with lifecycle_app.app_context():
        rows = db.session.scalars(select(AcceptedLifecycleToken)).all()
        assert len(rows) == 1 and rows[0].token_sha256 != old and len(rows[0].token_sha256) == 64
        assert rows[0].applied
    # Once the old token expired, the next accepted callback prunes it.
    from app.connect import replay

    with lifecycle_app.app_context():
        replay.claim_token("another-token", b"{}", "installed", exp=utcnow().timestamp() + 180,
                           now=utcnow() + timedelta(minutes=5))
        assert [r.token_sha256 for r in db.session.scalars(select(AcceptedLifecycleToken))] != [rows[0].token_sha256]
        assert db.session.get(AcceptedLifecycleToken, rows[0].token_sha256) is None


def test_a_reinstall_moving_the_site_to_another_host_needs_a_fresh_token(lifecycle_app, fake_jira, installed):
    moved = fake_jira.install_payload(baseUrl=fake_jira.url.replace("127.0.0.1", "localhost"))
    stale = fake_jira.install_token(BASE, now=utcnow() - timedelta(seconds=120))  # still within its 3 minutes
    assert send(lifecycle_app, fake_jira, token=stale, payload=moved).status_code == 401
    assert tenant_rows(lifecycle_app) == installed
    assert send(lifecycle_app, fake_jira, payload=moved).status_code == 204
    assert tenant_rows(lifecycle_app)[0][2] == moved["baseUrl"]


# ---------------------------------------------------------------- security round 2: nested JSON before auth


@pytest.mark.parametrize("body", ["[" * 30000 + "]" * 30000, '{"a":' * 10000 + "1" + "}" * 10000,
                                  '{"clientKey": ' + "[" * 40 + "]" * 40 + "}"], ids=["arrays", "objects", "field"])
def test_deeply_nested_json_gets_400_without_a_traceback(lifecycle_app, fake_jira, body, caplog):
    response = send(lifecycle_app, fake_jira, data=body)
    assert response.status_code == 400
    assert response.json["error"] == "bad_request"
    assert "nested" in response.json["message"]
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL") or r.exc_info]
    assert tenant_rows(lifecycle_app) == []


def test_unauthenticated_installs_with_an_unknown_kid_cause_one_key_fetch(lifecycle_app, fake_jira):
    token = fake_jira.install_token(BASE, kid="0e50fccb-2c57-4bfc-bdc4-a0e5d0bf8a71")
    for _ in range(10):
        assert send(lifecycle_app, fake_jira, token=token).status_code == 401
    assert fake_jira.key_requests == ["0e50fccb-2c57-4bfc-bdc4-a0e5d0bf8a71"]


# ---------------------------------------------------------------- security round 2: disabled sites are not served


def test_a_disabled_site_gets_403_on_pages_and_api_and_queues_nothing_until_enabled(lifecycle_app, fake_jira,
                                                                                    installed):
    from app.backups.runs.enqueue import enqueue_due
    from app.models import BackupSettings
    from tests.support.connect import ApiClient, page_url

    tenant = type("T", (), {"client_key": fake_jira.client_key, "shared_secret": fake_jira.shared_secret,
                            "app_base_url": BASE})
    api = ApiClient(lifecycle_app.test_client(), tenant)
    assert api.get("/api/backups").status_code == 200
    with lifecycle_app.app_context():
        tenant_id = db.session.scalars(select(Tenant)).one().id
        db.session.add(BackupSettings(tenant_id=tenant_id, time_of_day="02:00", updated_at=utcnow(),
                                      next_run_at=utcnow() - timedelta(minutes=5)))
        # Scheduled backups need credentials to be queued at all (a site without them waits for credentials).
        db.session.add(XrayCredential(tenant_id=tenant_id, client_id="CID", updated_at=utcnow(),
                                      client_secret_enc=current_services().sealer.seal(fake_jira.client_key,
                                                                                         "xray_client_secret", "S")))
        db.session.commit()

    assert send(lifecycle_app, fake_jira, "disabled").status_code == 204
    for response in (api.get("/api/backups"), api.post("/api/backups"), api.get("/api/backup-settings")):
        assert response.status_code == 403
        assert response.json["error"] == "forbidden" and "disabled on this Jira site" in response.json["message"]
    page = lifecycle_app.test_client().get(page_url(tenant, "/pages/backups"))
    assert page.status_code == 403 and "disabled on this Jira site" in page.get_data(as_text=True)
    with lifecycle_app.app_context():
        assert enqueue_due(utcnow()) == 0  # scheduled backups pause
        assert db.session.scalars(select(BackupRun)).all() == []

    assert send(lifecycle_app, fake_jira, "enabled").status_code == 204
    assert api.get("/api/backups").status_code == 200
    assert lifecycle_app.test_client().get(page_url(tenant, "/pages/backups")).status_code == 200
    with lifecycle_app.app_context():
        assert enqueue_due(utcnow()) == 1  # and resume: the missed slot runs once
        assert [r.trigger for r in db.session.scalars(select(BackupRun))] == ["scheduled"]
