"""The fake Jira itself: its JWT rules stand apart from the app's, and its REST resources answer in Jira's shapes.

Tokens here are built by hand from canonical requests written out in full, so neither the app's JWT code
nor the fake's can make a test pass by agreeing with itself. The resources are called with the app's own
`JiraClient`, which is how the coming features will call them.
"""
from __future__ import annotations

import ast
import hashlib
import random
import time
from pathlib import Path
from types import SimpleNamespace

import jwt as pyjwt
import pytest
import requests

from app.connect.jira import JiraClient, JiraError
from sim.jira import ADMIN_ACCOUNT, FakeJira
from sim.jira_auth import CONTEXT_QSH, request_qsh

SIM = Path(__file__).resolve().parents[2] / "sim"


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def app_token(jira, canonical: str, **overrides) -> str:
    """A token as the app should send it, for a canonical request written out by the test."""
    now = int(time.time())
    claims = {"iss": jira.app_key, "iat": now, "exp": now + 180, "qsh": sha(canonical)}
    claims.update(overrides.pop("claims", {}))
    claims = {k: v for k, v in claims.items() if v is not None}
    return pyjwt.encode(claims, overrides.pop("secret", jira.shared_secret), algorithm=overrides.pop("alg", "HS256"))


def client_for(jira) -> JiraClient:
    site = SimpleNamespace(base_url=jira.url, client_key=jira.client_key)
    return JiraClient(site, shared_secret=jira.shared_secret, app_key=jira.app_key, sleep=lambda _s: None,
                      rng=random.Random(1))


# ---------------------------------------------------------------- independence


def test_nothing_under_sim_imports_the_app():
    offenders = []
    for path in SIM.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            offenders += [f"{path.relative_to(SIM.parent)}: {n}" for n in names if n == "app" or n.startswith("app.")]
    assert offenders == []


@pytest.mark.parametrize("method,path,query,base_path,canonical", [
    ("GET", "/path/to/service", "zee_last=param&repeated=parameter 1&first=param&repeated=parameter 2", "",
     "GET&/path/to/service&first=param&repeated=parameter%201,parameter%202&zee_last=param"),
    ("POST", "/simple", "foo=humbug&foo=bah", "", "POST&/simple&foo=bah,humbug"),
    ("GET", "/and/more/", "foo=humbug&foo=bah&first=param1&last=param 2&last=param 1", "",
     "GET&/and/more&first=param1&foo=bah,humbug&last=param%201,param%202"),
    ("GET", "/some/path", "foo=bah%2Bbah", "", "GET&/some/path&foo=bah%2Bbah"),
    ("GET", "/some/path&a=b", "x=y", "", "GET&/some/path%26a=b&x=y"),
    ("GET", "/hello-world", "a&b=foo&c", "", "GET&/hello-world&a=&b=foo&c="),
    ("GET", "/jira/rest/api/2/project/jira", "x=y", "/jira", "GET&/rest/api/2/project/jira&x=y"),
    ("GET", "/jira/", "", "/jira", "GET&/&"),
    ("GET", "/application/x", "", "/app", "GET&/application/x&"),
    ("GET", "/", "", "", "GET&/&"),
    ("GET", "/path/to/service", "a=1&A=2&b=3&B=4", "", "GET&/path/to/service&A=2&B=4&a=1&b=3"),
    ("GET", "/rest/api/3/user/bulk", "accountId=557058%3Ab&accountId=5b10a", "",
     "GET&/rest/api/3/user/bulk&accountId=557058%3Ab,5b10a"),
])
def test_the_fake_hashes_requests_as_the_protocol_examples_say(method, path, query, base_path, canonical):
    assert request_qsh(method, path, query, base_path) == sha(canonical)


def test_the_fake_matches_the_published_hashes():
    assert request_qsh("GET", "/") == "c88caad15a1c1a900b8ac08aa9686f4e8184539bea1deda36e2f649430df3239"
    assert request_qsh("GET", "/path") == "799be84a7fa35570087163c0cd9af3abff7ac05c2c12ba0bb1d7eebc984b3ac2"


def test_page_and_lifecycle_tokens_hash_the_path_relative_to_the_app_base_url():
    jira = FakeJira()  # not started: only its signing is used
    page = jira.page_token("/pages/backups", "b=2&a=1", app_base_url="https://apps.example.test/xb")
    assert pyjwt.decode(page, jira.shared_secret, algorithms=["HS256"])["qsh"] == sha("GET&/pages/backups&a=1&b=2")
    install = jira.install_token("https://apps.example.test/xb")
    assert pyjwt.decode(install, options={"verify_signature": False})["qsh"] == sha("POST&/installed&")
    assert pyjwt.decode(jira.context_token(), jira.shared_secret, algorithms=["HS256"])["qsh"] == CONTEXT_QSH


# ---------------------------------------------------------------- checking the app's tokens


@pytest.fixture
def site():
    with FakeJira(base_path="/jira") as jira:
        yield jira


def _get(jira, path_and_query: str, token: str | None, in_query: bool = False):
    headers = {"Authorization": f"JWT {token}"} if token and not in_query else {}
    url = jira.origin + path_and_query
    if in_query:
        url += ("&" if "?" in url else "?") + f"jwt={token}"
    return requests.get(url, headers=headers, timeout=5)


def test_a_token_for_the_exact_request_relative_to_the_base_path_is_accepted(site):
    token = app_token(site, "GET&/rest/api/3/project/DEMO&")
    response = _get(site, "/jira/rest/api/3/project/DEMO", token)
    assert response.status_code == 200 and response.json()["key"] == "DEMO"


@pytest.mark.parametrize("case,make,reason", [
    ("no token", lambda j: None, "no JWT in the Authorization header"),
    ("wrong secret", lambda j: app_token(j, "GET&/rest/api/3/project/DEMO&", secret="x" * 40),
     "JWT rejected: InvalidSignatureError"),
    ("iss is the clientKey", lambda j: app_token(j, "GET&/rest/api/3/project/DEMO&", claims={"iss": j.client_key}),
     "iss is not the app key"),
    ("qsh over the unstripped path", lambda j: app_token(j, "GET&/jira/rest/api/3/project/DEMO&"),
     "qsh does not match the request"),
    ("context qsh", lambda j: app_token(j, "x", claims={"qsh": CONTEXT_QSH}), "qsh does not match the request"),
    ("no exp", lambda j: app_token(j, "GET&/rest/api/3/project/DEMO&", claims={"exp": None}),
     "JWT rejected: MissingRequiredClaimError"),
    ("expired", lambda j: app_token(j, "GET&/rest/api/3/project/DEMO&",
                                    claims={"iat": int(time.time()) - 900, "exp": int(time.time()) - 600}),
     "JWT rejected: ExpiredSignatureError"),
    ("HS512", lambda j: app_token(j, "GET&/rest/api/3/project/DEMO&", alg="HS512"),
     "JWT rejected: InvalidAlgorithmError"),
])
def test_the_fake_refuses_what_jira_refuses(site, case, make, reason):
    response = _get(site, "/jira/rest/api/3/project/DEMO", make(site))
    assert response.status_code == 401, case
    assert site.requests[-1]["rejected"] == reason


def test_a_token_in_the_query_is_refused(site):
    token = app_token(site, "GET&/rest/api/3/project/DEMO&")
    assert _get(site, "/jira/rest/api/3/project/DEMO", token, in_query=True).status_code == 401


# ---------------------------------------------------------------- resources, called as the app


def test_users_bulk_answers_the_known_accounts_in_pages(fake_jira):
    fake_jira.users.update({
        "557058:aaaa-1": {"displayName": "Ada", "active": True},
        "5b10ac8d82e05b22cc7d4ef5": {"displayName": "Gone", "active": False},
    })
    fake_jira.users.update({f"bulk-{i}": {"displayName": f"User {i}"} for i in range(12)})
    wanted = ["557058:aaaa-1", "unknown-account", "5b10ac8d82e05b22cc7d4ef5"]
    page = client_for(fake_jira).get_json("/rest/api/3/user/bulk", [("accountId", a) for a in wanted])
    assert [u["accountId"] for u in page["values"]] == ["557058:aaaa-1", "5b10ac8d82e05b22cc7d4ef5"]
    assert [(u["displayName"], u["active"]) for u in page["values"]] == [("Ada", True), ("Gone", False)]
    assert page["isLast"] is True and page["total"] == 2 and page["startAt"] == 0
    assert {"self", "accountType", "avatarUrls", "timeZone"} <= set(page["values"][0])

    many = [("accountId", f"bulk-{i}") for i in range(12)]
    first = client_for(fake_jira).get_json("/rest/api/3/user/bulk", many)
    assert len(first["values"]) == 10 and first["isLast"] is False and "nextPage" in first  # Jira's default page
    rest = client_for(fake_jira).get_json("/rest/api/3/user/bulk", many + [("startAt", 10)])
    assert [u["displayName"] for u in rest["values"]] == ["User 10", "User 11"] and rest["isLast"] is True
    assert all(r["status"] == 200 for r in fake_jira.requests)


def test_users_bulk_needs_an_account_id(fake_jira):
    with pytest.raises(JiraError) as info:
        client_for(fake_jira).get_json("/rest/api/3/user/bulk")
    assert info.value.status == 400


def test_a_project_is_found_by_key_or_id_and_an_unknown_one_is_404(fake_jira):
    client = client_for(fake_jira)
    by_key = client.get_json("/rest/api/3/project/DEMO")
    assert (by_key["id"], by_key["key"], by_key["name"]) == ("10000", "DEMO", "Demo project")
    assert by_key["lead"]["accountId"] == ADMIN_ACCOUNT and by_key["projectTypeKey"] == "software"
    assert client.get_json("/rest/api/3/project/10001")["key"] == "XT"
    with pytest.raises(JiraError) as info:
        client.get_json("/rest/api/3/project/NOPE")
    assert info.value.status == 404
    assert fake_jira.requests[-1]["status"] == 404 and "rejected" not in fake_jira.requests[-1]


def test_components_and_versions_are_the_lists_the_test_set(fake_jira):
    fake_jira.components["DEMO"] = [{"id": "10100", "name": "Backend", "leadAccountId": ADMIN_ACCOUNT}]
    fake_jira.versions["DEMO"] = [{"id": "10200", "name": "1.0", "released": True, "releaseDate": "2026-01-15"}]
    client = client_for(fake_jira)
    get_list = lambda path: client.request("GET", path).json()  # noqa: E731 - Jira answers a JSON array here
    components = get_list("/rest/api/3/project/DEMO/components")
    assert [(c["id"], c["name"], c["project"], c["projectId"]) for c in components] == [
        ("10100", "Backend", "DEMO", 10000)]
    assert components[0]["lead"]["displayName"] == "Site Admin"
    assert components[0]["self"].endswith("/rest/api/3/component/10100")
    versions = get_list("/rest/api/3/project/10000/versions")  # by id: the same project
    assert [(v["id"], v["name"], v["released"], v["archived"], v["projectId"]) for v in versions] == [
        ("10200", "1.0", True, False, 10000)]
    assert get_list("/rest/api/3/project/XT/components") == []
    assert client.get_json("/rest/api/3/project/DEMO")["versions"][0]["name"] == "1.0"
    for tail in ("components", "versions"):
        with pytest.raises(JiraError) as info:
            client.request("GET", f"/rest/api/3/project/NOPE/{tail}")
        assert info.value.status == 404


@pytest.mark.parametrize("path", [
    "/rest/api/3/user/bulk?accountId=admin-account", "/rest/api/3/project/DEMO",
    "/rest/api/3/project/DEMO/components", "/rest/api/3/project/DEMO/versions",
])
def test_every_new_resource_checks_the_app_token(fake_jira, path):
    assert requests.get(fake_jira.url + path, timeout=5).status_code == 401
    signed_elsewhere = app_token(fake_jira, "GET&/rest/api/3/project/XT&")
    assert _get(fake_jira, path, signed_elsewhere).status_code == 401
    assert fake_jira.requests[-1]["rejected"] == "qsh does not match the request"
