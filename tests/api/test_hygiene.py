"""Response hygiene: security headers on every response; pages framed only by the tenant's Jira; /healthz."""
from __future__ import annotations

import pytest
from flask import Response

from app import create_app
from tests.support.connect import context_token, page_url


def assert_hygienic(response):
    cache = response.headers.get("Cache-Control", "")
    assert "no-cache" in cache and "no-store" in cache
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "X-Frame-Options" not in response.headers


@pytest.fixture
def probed(app):
    app.add_url_rule("/pages/_probe", "page_probe", lambda: "<p>page</p>")
    app.add_url_rule("/api/_probe", "api_probe", lambda: {"ok": True})

    def framed_elsewhere():
        response = Response("<p>x</p>", mimetype="text/html")
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Content-Security-Policy"] = "script-src 'self' https://connect-cdn.atl-paas.net"
        return response

    app.add_url_rule("/pages/_own_csp", "own_csp", framed_elsewhere)
    return app


def test_every_kind_of_response_carries_the_headers_and_hsts_over_https(probed, tenant):
    client = probed.test_client()
    responses = [
        client.get("/atlassian-connect.json"),
        client.get("/healthz"),
        client.get("/no-such-page"),
        client.get("/api/_probe"),
        client.get("/pages/_probe", headers={"Accept": "text/html"}),
        client.get("/api/_probe", headers={"Authorization": f"JWT {context_token(tenant)}"}),
        client.get(page_url(tenant, "/pages/_probe")),
        client.post("/installed", data="x"),
    ]
    assert [r.status_code for r in responses] == [200, 200, 404, 401, 401, 200, 200, 400]
    for response in responses:
        assert_hygienic(response)
        assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_no_hsts_over_plain_http(make_app):
    response = make_app(APP_BASE_URL="http://localhost:8000").test_client().get("/healthz")
    assert_hygienic(response)
    assert "Strict-Transport-Security" not in response.headers


def test_pages_may_be_framed_by_the_tenant_base_and_display_url_only(probed, tenant):
    from app.extensions import db
    from app.models import Tenant

    with probed.app_context():
        row = db.session.get(Tenant, tenant.id)
        row.display_url = "https://custom-domain.example.com"
        db.session.commit()
    csp = probed.test_client().get(page_url(tenant, "/pages/_probe")).headers["Content-Security-Policy"]
    assert csp == f"frame-ancestors 'self' {tenant.base_url} https://custom-domain.example.com"


def test_a_site_url_stored_with_control_characters_never_reaches_a_header(probed, tenant):
    from app.extensions import db
    from app.models import Tenant

    with probed.app_context():
        row = db.session.get(Tenant, tenant.id)
        row.display_url = "https://custom-domain.example.com\r\nX-Injected: 1"
        db.session.commit()
    response = probed.test_client().get(page_url(tenant, "/pages/_probe"))
    assert response.status_code == 200
    assert "X-Injected" not in response.headers
    assert response.headers["Content-Security-Policy"] == f"frame-ancestors 'self' {tenant.base_url}"


def test_a_refused_page_is_still_frameable_by_allowed_jira_hosts(probed):
    response = probed.test_client().get("/pages/_probe", headers={"Accept": "text/html"})
    assert response.status_code == 401
    assert "frame-ancestors 'self' https://*.atlassian.net" in response.headers["Content-Security-Policy"]


def test_json_responses_may_not_be_framed(probed, tenant):
    response = probed.test_client().get("/api/_probe", headers={"Authorization": f"JWT {context_token(tenant)}"})
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_a_view_csp_is_kept_and_gets_frame_ancestors_and_x_frame_options_is_dropped(probed, tenant):
    response = probed.test_client().get(page_url(tenant, "/pages/_own_csp"))
    assert response.status_code == 200
    assert "X-Frame-Options" not in response.headers
    csp = response.headers["Content-Security-Policy"]
    assert csp.startswith("script-src 'self' https://connect-cdn.atl-paas.net; frame-ancestors 'self' ")
    assert tenant.base_url in csp


def test_healthz_is_public_and_says_nothing_about_data(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_healthz_reports_an_unreachable_database(make_config):
    # A database file that cannot be opened.
    app = create_app(make_config(DATABASE_URL="sqlite:////nonexistent-dir/none.db"))
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable"}
    assert_hygienic(response)
