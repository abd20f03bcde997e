"""`POST /forge/remote/backup-status`: the FIT matrix against a loopback JWKS, the installation link, the answers."""
from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta

import jwt as pyjwt
import pytest
from werkzeug.serving import make_server

from app.backups.schedule.settings import default_settings
from app.extensions import db
from app.models import BackupRun, BackupSettings, XrayCredential, utcnow
from app.presentation import iso
from app.tenants import find_tenant
from sim.forge import new_key
from tests.support.connect import context_token
from tests.support.forge import INSTALLATION, hand_signed, public_pem_of

PATH = "/forge/remote/backup-status"
BASE = "https://xray-backup.example.test"
OTHER_INSTALLATION = "ari:cloud:ecosystem::installation/9d4c2b1a-0f1e-4d3c-8b7a-6f5e4d3c2b1a"


def install(app, jira, installation_id: str | None = INSTALLATION, event: str = "installed"):
    """A real signed lifecycle call from the fake Jira, as Forge sends it for a Connect-on-Forge install."""
    payload = jira.install_payload(event, **({"installationId": installation_id} if installation_id else {}))
    token = jira.install_token(BASE, "/" + event)
    response = app.test_client().post("/" + event, data=json.dumps(payload), content_type="application/json",
                                      headers={"Authorization": f"JWT {token}"})
    assert response.status_code == 204, response.data
    return response


def call(app, token: str | None, headers: dict | None = None, **kwargs):
    all_headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    all_headers.update(headers or {})
    return app.test_client().post(PATH, json={}, headers=all_headers, **kwargs)


@pytest.fixture
def linked(forge_app, fake_jira):
    install(forge_app, fake_jira)
    return forge_app


# ---------------------------------------------------------------- the answer


def test_a_valid_fit_gets_the_linked_sites_backup_status(linked, fake_forge, fake_jira):
    started = time.monotonic()
    response = call(linked, fake_forge.fit(INSTALLATION))
    assert response.status_code == 200, response.data
    assert time.monotonic() - started < 5.0  # Forge's event budget
    body = response.json
    assert set(body) == {"installationId", "siteUrl", "configured", "lastBackup", "nextRunAt"}
    assert body["installationId"] == INSTALLATION
    assert body["siteUrl"] == fake_jira.url
    assert body["configured"] is False
    assert body["lastBackup"] is None
    assert body["nextRunAt"].endswith("Z")


def test_the_status_shows_credentials_and_the_newest_run(linked, fake_forge, fake_jira):
    now = utcnow()
    with linked.app_context():
        tenant = find_tenant(fake_jira.client_key)
        db.session.add(XrayCredential(tenant_id=tenant.id, client_id="cid", client_secret_enc="v1:x:y", updated_at=now))
        db.session.add(BackupRun(id="a" * 32, tenant_id=tenant.id, status="failed", trigger="scheduled",
                                 queued_at=now - timedelta(days=1), finished_at=now - timedelta(hours=23)))
        db.session.add(BackupRun(id="b" * 32, tenant_id=tenant.id, status="succeeded", trigger="manual",
                                 queued_at=now - timedelta(hours=2), started_at=now - timedelta(hours=2),
                                 finished_at=now - timedelta(hours=1)))
        db.session.commit()
    body = call(linked, fake_forge.fit(INSTALLATION)).json
    assert body["configured"] is True
    assert body["lastBackup"]["id"] == "b" * 32
    assert body["lastBackup"]["status"] == "succeeded"
    assert body["lastBackup"]["trigger"] == "manual"
    assert body["lastBackup"]["finishedAt"].endswith("Z")
    assert set(body["lastBackup"]) == {"id", "status", "trigger", "finishedAt"}


def test_the_next_run_follows_the_stored_schedule_and_a_disabled_one_has_none(linked, fake_forge, fake_jira):
    now = utcnow()
    with linked.app_context():
        tenant_id = find_tenant(fake_jira.client_key).id
        settings = default_settings(find_tenant(fake_jira.client_key), now)
        db.session.add(settings)
        db.session.commit()
        expected = iso(settings.next_run_at)
    assert call(linked, fake_forge.fit(INSTALLATION)).json["nextRunAt"] == expected
    with linked.app_context():
        db.session.get(BackupSettings, tenant_id).enabled = False
        db.session.commit()
    assert call(linked, fake_forge.fit(INSTALLATION)).json["nextRunAt"] is None


def test_the_answer_never_writes_tenant_data(linked, fake_forge):
    with linked.app_context():
        before = db.session.execute(db.text("SELECT count(*) FROM backup_settings")).scalar()
    call(linked, fake_forge.fit(INSTALLATION))
    with linked.app_context():
        assert db.session.execute(db.text("SELECT count(*) FROM backup_settings")).scalar() == before == 0


# ---------------------------------------------------------------- the FIT matrix (401, a JSON error, no tenant data)


def _matrix(forge):
    claims = forge.claims(INSTALLATION)
    return {
        "no Authorization": lambda: None,
        "wrong aud": lambda: forge.fit(INSTALLATION, aud="ari:cloud:ecosystem::app/00000000-0000-4000-8000-000000000000"),
        "wrong iss": lambda: forge.fit(INSTALLATION, iss="forge/something-else"),
        "expired": lambda: forge.fit(INSTALLATION, now=time.time() - 120),
        "not yet valid": lambda: forge.fit(INSTALLATION, nbf=int(time.time()) + 300, exp=int(time.time()) + 400),
        "issued in the future": lambda: forge.fit(INSTALLATION, iat=int(time.time()) + 300, exp=int(time.time()) + 400),
        "unknown kid": lambda: forge.fit(INSTALLATION, kid="forge/invocation-token/unknown"),
        "alg none": lambda: hand_signed({"alg": "none", "kid": forge.kid}, claims, None),
        "HS256 signed with the public key": lambda: hand_signed({"alg": "HS256", "kid": forge.kid}, claims,
                                                                public_pem_of(forge)),
        "bad signature": lambda: forge.fit(INSTALLATION, key=new_key()),
        "garbage": lambda: "not-a-token",
    }


MATRIX = ["no Authorization", "wrong aud", "wrong iss", "expired", "not yet valid", "issued in the future",
          "unknown kid", "alg none", "HS256 signed with the public key", "bad signature", "garbage"]


@pytest.mark.parametrize("case", MATRIX)
def test_the_fit_matrix_answers_401_with_a_json_error_and_no_tenant_data(linked, fake_forge, case):
    response = call(linked, _matrix(fake_forge)[case]())
    assert response.status_code == 401, (case, response.data)
    assert set(response.json) == {"error", "message"}
    assert response.json["error"] == "unauthorized"
    assert "siteUrl" not in response.get_data(as_text=True)


def test_a_fit_without_an_installation_id_is_refused_but_not_as_unknown(linked, fake_forge):
    response = call(linked, fake_forge.fit(None))
    assert 400 <= response.status_code < 500 and response.status_code != 404
    assert "installationId" in response.json["message"]


@pytest.mark.parametrize("header", ["JWT {token}", "Basic {token}", "{token}", "Bearer"])
def test_the_fit_is_taken_only_as_a_bearer_token(linked, fake_forge, header):
    token = fake_forge.fit(INSTALLATION)
    response = linked.test_client().post(PATH, json={}, headers={"Authorization": header.format(token=token)})
    assert response.status_code == 401


def test_a_fit_in_the_query_string_is_not_accepted(linked, fake_forge):
    response = linked.test_client().post(f"{PATH}?jwt={fake_forge.fit(INSTALLATION)}", json={})
    assert response.status_code == 401


def test_a_connect_token_does_not_open_a_forge_route(linked, fake_jira):
    token = context_token(type("T", (), {"client_key": fake_jira.client_key, "shared_secret": fake_jira.shared_secret}))
    for scheme in ("JWT", "Bearer"):
        response = linked.test_client().post(PATH, json={}, headers={"Authorization": f"{scheme} {token}"})
        assert response.status_code == 401


def test_only_post_is_routed(linked, fake_forge):
    response = linked.test_client().get(PATH, headers={"Authorization": f"Bearer {fake_forge.fit(INSTALLATION)}"})
    assert response.status_code == 405


# ---------------------------------------------------------------- the installation link


def test_an_installation_no_site_installed_answers_404_unknown_installation(linked, fake_forge):
    response = call(linked, fake_forge.fit(OTHER_INSTALLATION))
    assert response.status_code == 404
    assert response.json == {"error": "unknown_installation", "message": response.json["message"]}


def test_after_uninstall_the_installation_is_unknown(linked, fake_forge, fake_jira):
    install(linked, fake_jira, None, "uninstalled")
    response = call(linked, fake_forge.fit(INSTALLATION))
    assert response.status_code == 404 and response.json["error"] == "unknown_installation"


def test_a_reinstall_moves_the_link_to_the_new_installation_and_keeps_the_tenant(linked, fake_forge, fake_jira):
    with linked.app_context():
        tenant_id = find_tenant(fake_jira.client_key).id
    install(linked, fake_jira, OTHER_INSTALLATION)
    assert call(linked, fake_forge.fit(INSTALLATION)).status_code == 404
    response = call(linked, fake_forge.fit(OTHER_INSTALLATION))
    assert response.status_code == 200 and response.json["installationId"] == OTHER_INSTALLATION
    with linked.app_context():
        assert find_tenant(fake_jira.client_key).id == tenant_id


def test_a_connect_only_install_is_not_reachable_from_forge(forge_app, fake_forge, fake_jira):
    install(forge_app, fake_jira, None)
    assert call(forge_app, fake_forge.fit(INSTALLATION)).status_code == 404


# ---------------------------------------------------------------- configuration and the key server


def test_without_forge_app_id_the_route_answers_503_forge_not_configured(make_app, fake_forge, fake_jira):
    app = make_app(FORGE_JWKS_URL=fake_forge.jwks_url, CONNECT_INSTALL_KEYS_URL=fake_jira.keys_url)
    install(app, fake_jira)
    response = call(app, fake_forge.fit(INSTALLATION))
    assert response.status_code == 503
    assert response.json["error"] == "forge_not_configured"
    assert fake_forge.jwks_requests == 0


def test_the_jwks_is_fetched_once_for_many_calls_and_once_more_for_a_rotated_key(linked, fake_forge):
    for _ in range(3):
        assert call(linked, fake_forge.fit(INSTALLATION)).status_code == 200
    assert fake_forge.jwks_requests == 1
    fake_forge.rotate()
    assert call(linked, fake_forge.fit(INSTALLATION)).status_code == 200
    assert fake_forge.jwks_requests == 2


def test_an_unknown_kid_costs_one_refetch(linked, fake_forge):
    assert call(linked, fake_forge.fit(INSTALLATION)).status_code == 200
    assert call(linked, fake_forge.fit(INSTALLATION, kid="forge/invocation-token/unknown")).status_code == 401
    assert fake_forge.jwks_requests == 2


@pytest.mark.parametrize("mode", ["down", "garbage", "hang"])
def test_an_unusable_key_server_fails_closed_within_the_event_budget(linked, fake_forge, mode):
    fake_forge.mode = mode
    fake_forge.delay = 8.0
    started = time.monotonic()
    response = call(linked, fake_forge.fit(INSTALLATION))
    assert response.status_code == 401
    assert time.monotonic() - started < 5.0


# ---------------------------------------------------------------- over real HTTP: nothing secret reaches a log


def test_a_forge_event_over_http_is_answered_and_its_tokens_never_logged(linked, fake_forge, caplog):
    oauth = "opaque-app-system-token-9f8e7d6c5b4a"
    caplog.set_level(logging.DEBUG)
    server = make_server("127.0.0.1", 0, linked, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sent = []
    original_fit = fake_forge.fit

    def recording_fit(*args, **kwargs):
        sent.append(original_fit(*args, **kwargs))
        return sent[-1]

    fake_forge.fit = recording_fit
    try:
        url = f"http://127.0.0.1:{server.server_port}"
        ok = fake_forge.invoke(url, PATH, INSTALLATION, oauth_system=oauth)
        assert ok.status_code == 200 and ok.json()["installationId"] == INSTALLATION
        refused = fake_forge.invoke(url, PATH, OTHER_INSTALLATION, oauth_system=oauth)
        assert refused.status_code == 404
        fake_forge.rotate(keep_old=False)
        fake_forge.signing_key = new_key()  # signs with a key the JWKS does not list: refused, and logged
        assert fake_forge.invoke(url, PATH, INSTALLATION, oauth_system=oauth).status_code == 401
    finally:
        server.shutdown()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "refused" in logged  # the refusal is logged, without its token
    for secret in [oauth, *sent]:
        assert secret not in logged
        for part in secret.split("."):
            assert part not in logged


def test_claims_of_a_refused_token_are_not_echoed(linked, fake_forge):
    token = fake_forge.fit(INSTALLATION, iss="forge/something-else")
    body = call(linked, token).get_data(as_text=True)
    assert token not in body and INSTALLATION not in body
    assert pyjwt.get_unverified_header(token)["kid"] not in body


# ---------------------------------------------------------------- moving an installed Connect site onto Forge


def test_an_installed_connect_site_moves_onto_forge_keeping_all_its_data(forge_app, fake_forge, fake_jira):
    install(forge_app, fake_jira, None)  # the Connect app, installed before the Forge adoption
    now = utcnow()
    with forge_app.app_context():
        tenant = find_tenant(fake_jira.client_key)
        tenant_id = tenant.id
        db.session.add(XrayCredential(tenant_id=tenant_id, client_id="cid", client_secret_enc="v1:x:y", updated_at=now))
        db.session.add(default_settings(tenant, now))
        db.session.add(BackupRun(id="c" * 32, tenant_id=tenant_id, status="succeeded", trigger="scheduled",
                                 queued_at=now, finished_at=now))
        db.session.commit()
    assert call(forge_app, fake_forge.fit(INSTALLATION)).status_code == 404  # not on Forge yet
    # Atlassian replaces the Connect version by the Forge one without an `uninstalled` event, then sends the
    # Forge version's signed `installed`: same clientKey, now with the installationId.
    install(forge_app, fake_jira, INSTALLATION)
    body = call(forge_app, fake_forge.fit(INSTALLATION)).json
    assert body["configured"] is True and body["lastBackup"]["id"] == "c" * 32
    with forge_app.app_context():
        tenant = find_tenant(fake_jira.client_key)
        assert tenant.id == tenant_id and tenant.installed and tenant.installation_id == INSTALLATION
        assert db.session.get(BackupSettings, tenant_id) is not None
        assert db.session.scalars(db.select(XrayCredential)).one().tenant_id == tenant_id
