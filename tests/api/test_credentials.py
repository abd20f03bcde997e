"""The /api/xray-credentials routes and the page, over real context tokens and a running Xray simulator."""
from __future__ import annotations

import pytest

from app.credentials.service import REJECTED_MESSAGE
from tests.support.connect import context_token, page_url
from tests.support.xray import GOOD_CLIENT_ID, GOOD_CLIENT_SECRET, start_xray_simulator

CONTRACT_KEYS = {"configured", "clientId", "region", "status", "verifiedAt", "updatedAt"}
GOOD = {"clientId": GOOD_CLIENT_ID, "clientSecret": GOOD_CLIENT_SECRET}


@pytest.fixture(scope="module")
def xray():
    sim, _pair = start_xray_simulator()
    yield sim
    sim.stop()


@pytest.fixture
def app(make_app, xray, fake_jira):
    """The app talking to the simulator (overrides the shared `app`, so `tenant` and `api` use it)."""
    xray.clear_faults()
    xray.reset_stats()
    return make_app(XRAY_API_URL=xray.url, CONNECT_INSTALL_KEYS_URL=fake_jira.keys_url)


def visible_tests(xray) -> int:
    return len(xray.dataset.tests)


def authentications(xray) -> int:
    return xray.stats().get("authenticate", 0)


# ------------------------------------------------------------------ authentication


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/api/xray-credentials"),
        ("PUT", "/api/xray-credentials"),
        ("DELETE", "/api/xray-credentials"),
        ("POST", "/api/xray-credentials/verify"),
        ("GET", "/api/xray-credentials/audit"),
        ("GET", "/pages/xray-credentials"),
    ],
)
def test_every_route_needs_a_token(client, method, path):
    response = client.open(path, method=method, json=GOOD if method == "PUT" else None)
    assert response.status_code == 401


def test_a_page_token_is_not_accepted_by_the_api(client, tenant):
    token = page_url(tenant, "/api/xray-credentials").split("jwt=")[1]
    response = client.get("/api/xray-credentials", headers={"Authorization": f"JWT {token}"})
    assert response.status_code == 401


def test_a_non_admin_is_forbidden(api, fake_jira, xray):
    response = api.as_account("not-an-admin").put("/api/xray-credentials", json=GOOD)
    assert response.status_code == 403
    assert api.get("/api/xray-credentials").get_json()["configured"] is False
    assert authentications(xray) == 0


# ------------------------------------------------------------------ read, save


def test_nothing_is_configured_at_first(api):
    body = api.get("/api/xray-credentials").get_json()
    assert CONTRACT_KEYS <= set(body)
    assert body["configured"] is False and body["clientId"] is None and body["status"] is None


def test_saving_a_good_pair_verifies_it_with_xray_and_stores_it(api, xray):
    response = api.put("/api/xray-credentials", json={**GOOD, "region": "global"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert CONTRACT_KEYS <= set(body)
    assert body["configured"] is True and body["clientId"] == GOOD_CLIENT_ID and body["region"] == "global"
    assert body["status"] == "connected" and body["verifiedAt"] and body["updatedAt"]
    assert body["testsVisible"] == visible_tests(xray)
    assert body["updatedBy"] == "admin-account"
    assert "clientSecret" not in body and GOOD_CLIENT_SECRET not in response.get_data(as_text=True)
    assert authentications(xray) >= 1
    assert api.get("/api/xray-credentials").get_json() == body


def test_values_are_trimmed(api):
    response = api.put("/api/xray-credentials",
                       json={"clientId": f"  {GOOD_CLIENT_ID}\t", "clientSecret": f" {GOOD_CLIENT_SECRET} "})
    assert response.status_code == 200
    assert response.get_json()["clientId"] == GOOD_CLIENT_ID


def test_a_wrong_secret_is_rejected_and_nothing_is_stored(api, xray):
    response = api.put("/api/xray-credentials", json={"clientId": GOOD_CLIENT_ID, "clientSecret": "wrong-secret"})
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "validation_failed"
    assert body["message"] == REJECTED_MESSAGE
    assert set(body["fields"]) == {"clientId", "clientSecret"}
    assert "wrong-secret" not in response.get_data(as_text=True)
    assert api.get("/api/xray-credentials").get_json()["configured"] is False
    assert authentications(xray) >= 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"clientSecret": GOOD_CLIENT_SECRET}, "clientId"),
        ({"clientId": GOOD_CLIENT_ID}, "clientSecret"),
        ({"clientId": "", "clientSecret": ""}, "clientId"),
        ({"clientId": "x" * 257, "clientSecret": GOOD_CLIENT_SECRET}, "clientId"),
        ({"clientId": GOOD_CLIENT_ID, "clientSecret": "y" * 257}, "clientSecret"),
        ({"clientId": "a\u0007b", "clientSecret": GOOD_CLIENT_SECRET}, "clientId"),
        ({"clientId": GOOD_CLIENT_ID, "clientSecret": "line\r\nbreak"}, "clientSecret"),
        ({"clientId": GOOD_CLIENT_ID, "clientSecret": GOOD_CLIENT_SECRET, "region": "moon"}, "region"),
        ({"clientId": 12, "clientSecret": GOOD_CLIENT_SECRET}, "clientId"),
    ],
)
def test_invalid_input_is_422_with_fields_and_xray_is_not_asked(api, xray, body, field):
    response = api.put("/api/xray-credentials", json=body)
    assert response.status_code == 422
    answer = response.get_json()
    assert answer["error"] == "validation_failed" and field in answer["fields"] and answer["message"]
    assert authentications(xray) == 0


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b'"text"', b""])
def test_a_body_that_is_not_a_json_object_is_422(api, raw):
    response = api.put("/api/xray-credentials", data=raw, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.get_json()["error"] == "validation_failed"


def test_an_empty_secret_on_update_keeps_the_stored_one(api, xray):
    assert api.put("/api/xray-credentials", json=GOOD).status_code == 200
    before = authentications(xray)
    response = api.put("/api/xray-credentials", json={"clientId": GOOD_CLIENT_ID, "clientSecret": "", "region": "eu"})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["region"] == "eu" and body["status"] == "connected"
    assert authentications(xray) > before  # verified again, with the stored secret


def test_a_rejected_change_keeps_the_working_pair(api):
    api.put("/api/xray-credentials", json=GOOD)
    response = api.put("/api/xray-credentials", json={"clientId": "someone-else", "clientSecret": "nope"})
    assert response.status_code == 422
    body = api.get("/api/xray-credentials").get_json()
    assert body["clientId"] == GOOD_CLIENT_ID and body["status"] == "connected"


# ------------------------------------------------------------------ Xray unreachable


def test_unreachable_xray_is_explained_and_stores_only_on_a_second_explicit_request(api, xray):
    xray.set_faults(error_every=1, error_status=503, fault_targets=["authenticate", "graphql"])
    response = api.put("/api/xray-credentials", json=GOOD)
    assert response.status_code == 422
    body = response.get_json()
    assert body["error"] == "xray_unreachable" and "not verified" in body["message"]
    assert api.get("/api/xray-credentials").get_json()["configured"] is False

    response = api.put("/api/xray-credentials", json={**GOOD, "storeUnverified": True})
    assert response.status_code == 200
    stored = response.get_json()
    assert stored["configured"] is True and stored["status"] == "unverified" and stored["verifiedAt"] is None

    xray.clear_faults()
    result = api.post("/api/xray-credentials/verify").get_json()
    assert result["ok"] is True
    assert api.get("/api/xray-credentials").get_json()["status"] == "connected"


# ------------------------------------------------------------------ verify, remove, audit


def test_verify_retests_the_stored_pair(api, xray):
    api.put("/api/xray-credentials", json=GOOD)
    response = api.post("/api/xray-credentials/verify")
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True and f"{visible_tests(xray)} tests visible" in body["message"]


def test_verify_reports_a_key_revoked_in_xray(api, xray):
    api.put("/api/xray-credentials", json=GOOD)
    revoked = xray.clients.pop(GOOD_CLIENT_ID)
    try:
        xray.revoke_tokens()
        body = api.post("/api/xray-credentials/verify").get_json()
    finally:
        xray.clients[GOOD_CLIENT_ID] = revoked
    assert body == {**body, "ok": False, "message": REJECTED_MESSAGE}
    assert api.get("/api/xray-credentials").get_json()["status"] == "rejected"


def test_verify_without_credentials_is_409(api):
    response = api.post("/api/xray-credentials/verify")
    assert response.status_code == 409
    assert response.get_json()["error"] == "conflict"


def test_remove_deletes_them(api):
    api.put("/api/xray-credentials", json=GOOD)
    response = api.delete("/api/xray-credentials")
    assert response.status_code == 204 and response.get_data() == b""
    assert api.get("/api/xray-credentials").get_json()["configured"] is False
    assert api.delete("/api/xray-credentials").status_code == 204


def test_the_audit_lists_who_did_what_without_values(api):
    api.put("/api/xray-credentials", json={"clientId": GOOD_CLIENT_ID, "clientSecret": "bad-one"})
    api.put("/api/xray-credentials", json=GOOD)
    api.as_account("admin-account").post("/api/xray-credentials/verify")
    api.delete("/api/xray-credentials")
    response = api.get("/api/xray-credentials/audit")
    entries = response.get_json()["entries"]
    assert [e["action"] for e in entries] == ["removed", "tested", "saved", "save_failed"]
    assert all(e["accountId"] == "admin-account" and e["at"] for e in entries)
    text = response.get_data(as_text=True)
    assert GOOD_CLIENT_SECRET not in text and GOOD_CLIENT_ID not in text and "bad-one" not in text


def test_credentials_are_per_tenant(app, api, fake_jira):
    """Another site's admin sees nothing of this tenant's credentials."""
    from tests.support.connect import ApiClient, install_tenant
    from sim.jira import FakeJira

    api.put("/api/xray-credentials", json=GOOD)
    with FakeJira() as other_jira:
        other = install_tenant(app, other_jira)
        other_api = ApiClient(app.test_client(), other)
        assert other_api.get("/api/xray-credentials").get_json()["configured"] is False
        assert other_api.delete("/api/xray-credentials").status_code == 204
    assert api.get("/api/xray-credentials").get_json()["configured"] is True


# ------------------------------------------------------------------ the page


def test_the_page_renders_the_current_state(client, api, tenant, xray):
    empty = client.get(page_url(tenant, "/pages/xray-credentials"))
    assert empty.status_code == 200
    assert "No Xray credentials yet" in empty.get_data(as_text=True)

    api.put("/api/xray-credentials", json=GOOD)
    response = client.get(page_url(tenant, "/pages/xray-credentials"))
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert GOOD_CLIENT_ID in html and GOOD_CLIENT_SECRET not in html
    assert f"{visible_tests(xray)} tests visible, verified just now" in html and "Connected Connected" not in html
    assert "Stored " in html and "by you" in html
    assert "https://connect-cdn.atl-paas.net/all.js" in html
    assert "script-src 'self' https://connect-cdn.atl-paas.net;" in html  # the page's CSP meta tag
    assert "frame-ancestors" in response.headers["Content-Security-Policy"]


def test_a_script_in_the_client_id_is_rendered_as_text(app, client, api, tenant, xray):
    payload = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    xray.add_client(payload, "xss-secret")
    assert api.put("/api/xray-credentials", json={"clientId": payload, "clientSecret": "xss-secret"}).status_code == 200
    html = client.get(page_url(tenant, "/pages/xray-credentials")).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in html and "<img src=x" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_a_key_for_a_regional_tenant_needs_its_region(api, xray):
    """The global host issues the token, but the data query fails outside the key's region: say so."""
    xray.add_client("eu-client-id", "eu-client-secret", region="eu")
    pair = {"clientId": "eu-client-id", "clientSecret": "eu-client-secret"}
    response = api.put("/api/xray-credentials", json={**pair, "region": "global"})
    assert response.status_code == 422
    body = response.get_json()
    assert "region" in body["fields"] and "region" in body["message"]
    assert api.get("/api/xray-credentials").get_json()["configured"] is False

    response = api.put("/api/xray-credentials", json={**pair, "region": "eu"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["status"] == "connected" and response.get_json()["region"] == "eu"


def test_the_audit_pages_to_older_entries_and_names_other_admins_from_jira(api, fake_jira):
    fake_jira.users["colleague"] = {"displayName": "Grace Hopper", "active": True}
    api.put("/api/xray-credentials", json=GOOD)
    colleague = api.as_account("colleague")
    fake_jira.admins.add("colleague")
    for _ in range(12):
        assert colleague.post("/api/xray-credentials/verify").status_code == 200
    first = api.get("/api/xray-credentials/audit").get_json()
    assert len(first["entries"]) == 10 and first["more"] is True
    assert first["entries"][0]["accountName"] == "Grace Hopper"
    older = api.get(f"/api/xray-credentials/audit?before={first['entries'][-1]['id']}").get_json()
    assert len(older["entries"]) == 3 and older["more"] is False
    assert older["entries"][-1]["action"] == "saved" and older["entries"][-1]["accountName"] is None  # mine
    ids = [e["id"] for e in first["entries"] + older["entries"]]
    assert len(set(ids)) == 13 and ids == sorted(ids, reverse=True)
    assert colleague.get("/api/xray-credentials").get_json()["updatedByName"] == "Site Admin"  # who stored them
    assert api.get("/api/xray-credentials").get_json()["updatedByName"] is None  # "you": Jira is not asked
    bad = api.get("/api/xray-credentials/audit?before=abc")
    assert bad.status_code == 422 and "before" in bad.get_json()["fields"]
