"""The outbound Jira client against the fake Jira, which verifies every JWT the app sends."""
from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from app.connect.cache import AdminCache
from app.connect.jira import JiraClient, JiraError, JiraUnavailable
from sim.jira import FakeJira


@pytest.fixture
def jira_with_path():
    """A site whose baseUrl has a path (/jira): the qsh must be relative to it."""
    with FakeJira(base_path="/jira") as jira:
        yield jira


def make_client(jira, *, app_key="xray-backup", secret=None, sleeps=None, **kwargs):
    site = SimpleNamespace(base_url=jira.url, client_key=jira.client_key)
    recorder = sleeps.append if sleeps is not None else (lambda _s: None)
    return JiraClient(site, shared_secret=secret or jira.shared_secret, app_key=app_key, sleep=recorder,
                      rng=random.Random(1), **kwargs)


def test_the_admin_check_is_signed_as_the_app_with_the_exact_qsh(fake_jira):
    client = make_client(fake_jira)
    assert client.has_global_permission("admin-account") is True
    assert client.has_global_permission("someone") is False
    assert [r["status"] for r in fake_jira.requests] == [200, 200]


def test_the_qsh_is_relative_to_a_base_url_with_a_path(jira_with_path):
    client = make_client(jira_with_path)
    assert client.has_global_permission("admin-account") is True
    assert jira_with_path.requests[-1]["path"] == "/rest/api/3/permissions/check"


def test_iss_set_to_the_client_key_is_refused_by_jira(fake_jira):
    # The classic mistake: REST calls must carry iss = app key, not the clientKey.
    client = make_client(fake_jira, app_key=fake_jira.client_key)
    with pytest.raises(JiraError) as info:
        client.has_global_permission("admin-account")
    assert info.value.status == 401
    assert fake_jira.requests[-1]["rejected"] == "iss is not the app key"


def test_a_wrong_secret_is_refused_by_jira_and_not_retried(fake_jira):
    client = make_client(fake_jira, secret="not-the-shared-secret-not-the-shared-secret")
    with pytest.raises(JiraError) as info:
        client.has_global_permission("admin-account")
    assert info.value.status == 401
    assert len(fake_jira.requests) == 1
    assert "not-the-shared-secret" not in str(info.value)


def test_project_search_follows_every_page_with_a_verified_query(fake_jira):
    fake_jira.projects = [{"id": str(10000 + i), "key": f"P{i}", "name": f"Project {i}"} for i in range(120)]
    projects = list(make_client(fake_jira).iter_projects(page_size=50))
    assert [p["key"] for p in projects] == [f"P{i}" for i in range(120)]
    assert [r["query"] for r in fake_jira.requests] == [
        "startAt=0&maxResults=50", "startAt=50&maxResults=50", "startAt=100&maxResults=50"]
    assert all(r["status"] == 200 for r in fake_jira.requests)
    assert all("jwt" not in r["query"] for r in fake_jira.requests)  # header only


def test_429_is_retried_after_the_time_jira_asks_for(fake_jira):
    fake_jira.fail_next, fake_jira.retry_after = [429, 429], "2"
    sleeps = []
    assert make_client(fake_jira, sleeps=sleeps).has_global_permission("admin-account")
    assert len(sleeps) == 2 and all(2 <= s <= 2.2 for s in sleeps)
    assert [r["status"] for r in fake_jira.requests] == [429, 429, 200]


def test_retry_after_is_capped(fake_jira):
    fake_jira.fail_next, fake_jira.retry_after = [429], "86400"
    sleeps = []
    make_client(fake_jira, sleeps=sleeps).has_global_permission("admin-account")
    assert sleeps and max(sleeps) <= 33


def test_5xx_is_retried_a_bounded_number_of_times(fake_jira):
    fake_jira.fail_next = [503] * 10
    sleeps = []
    with pytest.raises(JiraUnavailable):
        make_client(fake_jira, sleeps=sleeps, max_attempts=3).has_global_permission("admin-account")
    assert len(fake_jira.requests) == 3 and len(sleeps) == 2


def test_an_unreachable_jira_gives_up(fake_jira):
    url = fake_jira.url
    fake_jira.stop()
    client = JiraClient(SimpleNamespace(base_url=url), shared_secret="s" * 40, app_key="xray-backup",
                        sleep=lambda _s: None, max_attempts=2, timeout=(0.5, 0.5))
    with pytest.raises(JiraUnavailable):
        client.has_global_permission("admin-account")


def test_the_client_does_not_show_its_secret():
    client = JiraClient(SimpleNamespace(base_url="https://x.atlassian.net"), shared_secret="top-secret-value",
                        app_key="xray-backup")
    assert "top-secret-value" not in repr(client)


def test_the_admin_cache_expires_and_keeps_negative_answers_shorter():
    clock = [0.0]
    cache = AdminCache(ttl=300, negative_ttl=60, clock=lambda: clock[0])
    cache.put("t", "admin", True)
    cache.put("t", "user", False)
    clock[0] = 61
    assert cache.get("t", "admin") is True and cache.get("t", "user") is None
    clock[0] = 301
    assert cache.get("t", "admin") is None
    assert cache.get("other-tenant", "admin") is None


def test_a_4xx_answer_is_a_jira_error_with_its_status_and_not_retried(fake_jira):
    client = make_client(fake_jira)
    with pytest.raises(JiraError) as info:
        client.get_json("/rest/api/3/no-such-resource")
    assert info.value.status == 404
    assert len(fake_jira.requests) == 1


def test_a_200_that_is_not_json_is_a_jira_error(fake_jira, monkeypatch):
    import requests

    client = make_client(fake_jira)
    response = requests.Response()
    response.status_code, response._content = 200, b"<html>maintenance</html>"
    monkeypatch.setattr(client, "request", lambda *a, **k: response)
    with pytest.raises(JiraError, match="not JSON"):
        client.has_global_permission("admin-account")


def test_display_names_come_from_user_bulk_and_unknown_accounts_are_left_out(fake_jira):
    fake_jira.users["colleague"] = {"displayName": "Grace Hopper", "active": True}
    client = make_client(fake_jira)
    assert client.display_names(["colleague", "nobody", "colleague", None]) == {"colleague": "Grace Hopper"}
    assert fake_jira.requests[-1]["path"] == "/rest/api/3/user/bulk"


def test_a_project_is_looked_up_by_key_and_a_missing_one_is_none(fake_jira):
    client = make_client(fake_jira)
    assert client.project("XT") == {"id": "10001", "key": "XT", "name": "Xray tests"}
    assert client.project("NOPE") is None
    assert [r["status"] for r in fake_jira.requests] == [200, 404]


def test_components_and_versions_are_read_from_the_arrays_jira_answers(fake_jira):
    fake_jira.components = {"XT": [{"id": "1", "name": "API"}, {"id": "2", "name": "Backend ⚙"}]}
    fake_jira.versions = {"XT": [{"id": "7", "name": "1.0"}]}
    client = make_client(fake_jira)
    assert client.component_names("XT") == {"API", "Backend ⚙"}
    assert client.version_names("XT") == {"1.0"}
    assert client.component_names("DEMO") == set()


def test_a_json_object_where_an_array_is_expected_is_a_jira_error(fake_jira):
    client = make_client(fake_jira)
    with pytest.raises(JiraError, match="not a JSON array"):
        client.get_list("/rest/api/3/project/XT")


def test_existing_accounts_pages_through_user_bulk_with_verified_repeated_parameters(fake_jira):
    known = [f"acc-{i:03d}" for i in range(120)]
    fake_jira.users.update({a: {"displayName": a} for a in known})
    client = make_client(fake_jira)
    found = client.existing_accounts(known[:70] + ["gone-1", "gone-2"], batch=30)
    assert found == set(known[:70])
    assert all(r["status"] == 200 for r in fake_jira.requests)
    assert len(fake_jira.requests) >= 3
