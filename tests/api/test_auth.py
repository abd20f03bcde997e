"""Request authentication: every non-public route refuses anonymous and forged tokens; pages vs context tokens."""
from __future__ import annotations

import json
from datetime import timedelta

import jwt as pyjwt
import pytest
from flask import g, jsonify
from sqlalchemy import select

from app.connect.auth import is_public, request_qsh
from app.extensions import db
from app.models import Tenant, utcnow
from tests.support.shared_data import shared_file
from tests.support.connect import context_token, page_url
from app.services import current_services, services_of

PUBLIC_ENDPOINTS = {
    "descriptor.descriptor",
    "lifecycle.installed",
    "lifecycle.uninstalled",
    "lifecycle.enabled",
    "lifecycle.disabled",
    "health.healthz",
    "health.readyz",
    # Not a Connect route: METRICS_TOKEN guards it (absent in production without one).
    "metrics.metrics_view",
    # Single-use, short-lived snapshot links: the token in the path is the credential (no JWT in URLs).
    "downloads.download_snapshot",
    # Forge Remote: no Connect JWT comes from Forge; the view verifies the Forge Invocation Token itself.
    "forge_remote.backup_status",
}


def _sample_url(rule) -> str:
    values = {}
    for name, converter in rule._converters.items():
        kind = type(converter).__name__
        values[name] = 1 if kind in ("IntegerConverter", "NumberConverter") else "probe-value"
    return rule.build(values, append_unknown=False)[1]


def _protected(app):
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or is_public(app.view_functions[rule.endpoint]):
            continue
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, _sample_url(rule)


def _forged_tokens(tenant):
    now = int(utcnow().timestamp())
    claims = {"iss": tenant.client_key, "sub": "admin-account", "iat": now, "exp": now + 180, "qsh": "context-qsh"}
    none_token = pyjwt.encode(claims, None, algorithm="none")
    fake_secret = pyjwt.encode(claims, "fake-secret-fake-secret-fake-secret-0000", algorithm="HS256")
    return {"none": none_token, "fake secret": fake_secret, "garbled": "abc.def.ghi"}


def test_only_the_expected_endpoints_are_public(app):
    public = {r.endpoint for r in app.url_map.iter_rules()
              if r.endpoint != "static" and is_public(app.view_functions[r.endpoint])}
    assert public <= PUBLIC_ENDPOINTS, public - PUBLIC_ENDPOINTS


def test_every_non_public_route_answers_401_without_a_valid_token(app, tenant):
    client = app.test_client()
    routes = list(_protected(app))
    assert any(url.startswith("/api/") for _, url in routes)
    assert any(url.startswith("/pages/") for _, url in routes)
    forged = _forged_tokens(tenant)
    for method, url in routes:
        response = client.open(url, method=method, json={"probe": True})
        assert response.status_code == 401, (method, url, response.status_code)
        for name, token in forged.items():
            response = client.open(url, method=method, headers={"Authorization": f"JWT {token}"}, json={})
            assert response.status_code == 401, (method, url, name)
            response = client.open(f"{url}?jwt={token}", method=method, json={})
            assert response.status_code == 401, (method, url, name, "query")
    assert tenant.fake_jira.requests == []  # refused before any admin check


# ---------------------------------------------------------------- probes: what a view sees


@pytest.fixture
def probed(app):
    def who():
        return jsonify(tenant=g.tenant.client_key, account=g.account_id, context=g.claims.get("context"))

    app.add_url_rule("/api/_probe", "api_probe", who, methods=["GET", "POST"])
    app.add_url_rule("/pages/_probe", "page_probe", lambda: f"<p>{g.account_id}</p>")
    return app


def _api(app, token, path="/api/_probe", **kwargs):
    return app.test_client().get(path, headers={"Authorization": f"JWT {token}"}, **kwargs)


def test_a_context_token_authenticates_the_api_and_sets_g(probed, tenant):
    response = _api(probed, context_token(tenant))
    assert response.status_code == 200
    assert response.json == {"tenant": tenant.client_key, "account": "admin-account", "context": {}}


def test_a_page_token_authenticates_the_page(probed, tenant):
    response = probed.test_client().get(page_url(tenant, "/pages/_probe", query={"lic": "none", "tz": "Europe/Paris"}))
    assert response.status_code == 200
    assert b"admin-account" in response.data


def test_a_context_token_is_refused_on_a_page(probed, tenant):
    response = probed.test_client().get(f"/pages/_probe?jwt={context_token(tenant)}", headers={"Accept": "text/html"})
    assert response.status_code == 401
    assert b"context token" in response.data


def test_a_page_token_is_refused_on_the_api(probed, tenant):
    token = page_url(tenant, "/api/_probe").split("jwt=")[1]
    assert _api(probed, token).status_code == 401
    assert probed.test_client().get(f"/api/_probe?jwt={token}").status_code == 401


def test_a_page_token_for_another_query_is_refused(probed, tenant):
    url = page_url(tenant, "/pages/_probe", query={"a": "1"})
    assert probed.test_client().get(url.replace("a=1", "a=2")).status_code == 401


def test_the_api_takes_context_tokens_only_in_the_header(probed, tenant):
    token = context_token(tenant)
    assert probed.test_client().get(f"/api/_probe?jwt={token}").status_code == 401
    assert _api(probed, token, path=f"/api/_probe?jwt={token}").status_code == 401  # both places


def test_a_token_in_header_and_query_is_refused_on_a_page(probed, tenant):
    url = page_url(tenant, "/pages/_probe")
    token = url.split("jwt=")[1]
    assert probed.test_client().get(url, headers={"Authorization": f"JWT {token}"}).status_code == 401


@pytest.mark.parametrize("header", ["Bearer x", "JWT", "JWT ", "jwt"])
def test_malformed_authorization_headers_are_refused(probed, tenant, header):
    assert probed.test_client().get("/api/_probe", headers={"Authorization": header}).status_code == 401


def test_expired_and_future_context_tokens_are_refused(probed, tenant):
    assert _api(probed, context_token(tenant, now=utcnow() - timedelta(hours=1))).status_code == 401
    assert _api(probed, context_token(tenant, now=utcnow() + timedelta(minutes=5))).status_code == 401
    assert _api(probed, context_token(tenant, now=utcnow() + timedelta(seconds=20))).status_code == 200


def test_an_unknown_tenant_is_refused(probed, tenant):
    stranger = type("T", (), {"client_key": "jira:unknown", "shared_secret": tenant.shared_secret})
    assert _api(probed, context_token(stranger)).status_code == 401


def test_an_uninstalled_tenant_is_refused(probed, tenant):
    from app.tenants import uninstall

    with probed.app_context():
        uninstall(tenant.client_key, utcnow(), 30, forget=services_of(probed).tenant_cache.invalidate)
    response = _api(probed, context_token(tenant))
    assert response.status_code == 401
    assert response.json["error"] == "unauthorized"


def test_a_token_without_sub_is_forbidden_and_a_non_string_sub_refused(probed, tenant):
    assert _api(probed, context_token(tenant, sub=None)).status_code == 403
    assert _api(probed, context_token(tenant, sub=42)).status_code == 401


# ---------------------------------------------------------------- admin authorization


def test_non_admins_get_403_json_on_the_api_and_an_html_page_on_pages(probed, tenant):
    response = _api(probed, context_token(tenant, "plain-user"))
    assert response.status_code == 403
    assert response.json["error"] == "forbidden"
    response = probed.test_client().get(page_url(tenant, "/pages/_probe", "plain-user"), headers={"Accept": "text/html"})
    assert response.status_code == 403
    assert response.mimetype == "text/html"


def test_the_admin_check_is_made_as_the_app_and_cached_per_tenant_and_account(probed, tenant):
    jira = tenant.fake_jira
    for _ in range(5):
        assert _api(probed, context_token(tenant)).status_code == 200
    checks = [r for r in jira.requests if r["path"] == "/rest/api/3/permissions/check"]
    assert len(checks) == 1 and checks[0]["status"] == 200  # the fake verified the app's JWT
    assert _api(probed, context_token(tenant, "plain-user")).status_code == 403
    assert _api(probed, context_token(tenant, "plain-user")).status_code == 403
    assert len([r for r in jira.requests if r["path"] == "/rest/api/3/permissions/check"]) == 2


def test_a_revoked_admin_is_refused_once_the_cache_expires(probed, tenant):
    assert _api(probed, context_token(tenant)).status_code == 200
    tenant.fake_jira.admins.clear()
    assert _api(probed, context_token(tenant)).status_code == 200  # still cached
    services_of(probed).admin_cache.clear()
    assert _api(probed, context_token(tenant)).status_code == 403


def test_jira_unavailable_for_the_admin_check_gives_503_and_is_not_cached(probed, tenant, monkeypatch):
    import app.connect.jira as jira_module

    monkeypatch.setattr(jira_module.time, "sleep", lambda _s: None)
    tenant.fake_jira.fail_next = [503] * 4
    response = _api(probed, context_token(tenant))
    assert response.status_code == 503
    assert _api(probed, context_token(tenant)).status_code == 200


# ---------------------------------------------------------------- the qsh through the Flask adapter


def test_request_qsh_matches_atlassians_vectors_through_flask(app):
    data = json.loads(shared_file("testdata", "jwt-signed-urls.json").read_text())
    for case in data["tests"]:
        url = case["signedUrl"].split("example.com", 1)[1]
        token = url.split("jwt=")[1].split("&")[0]
        with app.test_request_context(url):
            assert request_qsh(services_of(app).config.app_base_url) == pyjwt.decode(token, options={"verify_signature": False})["qsh"], case["name"]


def test_pages_work_when_the_app_is_mounted_under_a_base_url_path(make_app, fake_jira):
    from tests.support.connect import install_tenant

    app = make_app(APP_BASE_URL="https://apps.example.test/xray-backup")
    app.add_url_rule("/pages/_probe", "page_probe", lambda: "ok")
    tenant = install_tenant(app, fake_jira)
    # Jira hashes the path relative to the app's baseUrl; the proxy mounts the app at /xray-backup.
    url = page_url(tenant, "/pages/_probe", query={"x": "a b"})
    response = app.test_client().get(url, base_url="https://apps.example.test/xray-backup")
    assert response.status_code == 200, response.data
    # A qsh over the unstripped path is not what Jira sends: refused.
    unstripped = fake_jira.page_token("/xray-backup/pages/_probe")
    assert app.test_client().get(f"/pages/_probe?jwt={unstripped}",
                                 base_url="https://apps.example.test/xray-backup").status_code == 401


def test_tokens_never_reach_the_logs(probed, tenant, caplog):
    caplog.set_level("DEBUG")
    bad = context_token(tenant, "plain-user")
    _api(probed, bad)
    _api(probed, "x" + bad)
    assert bad not in caplog.text and tenant.shared_secret not in caplog.text
    with probed.app_context():
        assert tenant.shared_secret not in db.session.scalars(select(Tenant)).one().shared_secret_enc


# ---------------------------------------------------------------- the short-lived tenant cache


def test_an_uninstall_in_this_process_takes_effect_at_once(probed, tenant):
    from app.tenants import uninstall

    assert _api(probed, context_token(tenant)).status_code == 200  # now cached
    with probed.app_context():
        uninstall(tenant.client_key, utcnow(), 30, forget=services_of(probed).tenant_cache.invalidate)
    assert _api(probed, context_token(tenant)).status_code == 401


def test_a_reinstall_by_another_process_is_honoured_at_once(probed, tenant):
    assert _api(probed, context_token(tenant)).status_code == 200  # old secret cached
    with probed.app_context():  # another worker stored the reinstall's new secret (no invalidation here)
        row = db.session.get(Tenant, tenant.id)
        row.shared_secret_enc = current_services().sealer.seal(tenant.client_key, "connect_shared_secret", "the-new-secret-after-reinstall-000")
        db.session.commit()
    tenant.shared_secret = "the-new-secret-after-reinstall-000"
    assert _api(probed, context_token(tenant)).status_code == 200
    tenant.shared_secret = tenant.fake_jira.shared_secret
    assert _api(probed, context_token(tenant)).status_code == 401


def test_an_uninstall_by_another_process_is_seen_when_the_cache_entry_expires(probed, tenant):
    clock = [0.0]
    cache = services_of(probed).tenant_cache
    cache._clock = lambda: clock[0]
    assert _api(probed, context_token(tenant)).status_code == 200
    with probed.app_context():
        db.session.get(Tenant, tenant.id).installed = False
        db.session.commit()
    clock[0] = cache.ttl + 0.1
    assert _api(probed, context_token(tenant)).status_code == 401
    assert cache.ttl <= 5


def test_a_cached_tenant_is_a_usable_session_object(probed, tenant):
    probed.view_functions["api_probe"] = lambda: {"tenant": g.tenant.client_key, "id": g.tenant.id,
                                                  "base": g.tenant.base_url}
    first = _api(probed, context_token(tenant)).json
    second = _api(probed, context_token(tenant)).json
    assert first == second == {"tenant": tenant.client_key, "id": tenant.id, "base": tenant.base_url}


def test_context_tokens_and_the_tenant_cache_work_on_every_database(db_app, fake_jira):
    from tests.support.connect import install_tenant

    db_app.add_url_rule("/api/_probe_db", "probe_db", lambda: {"id": g.tenant.id, "key": g.tenant.client_key})
    tenant = install_tenant(db_app, fake_jira)
    for _ in range(3):  # the first reads the row, the next ones use the cached copy
        response = _api(db_app, context_token(tenant), path="/api/_probe_db")
        assert response.json == {"id": tenant.id, "key": tenant.client_key}
    assert _api(db_app, context_token(tenant, "plain-user"), path="/api/_probe_db").status_code == 403
