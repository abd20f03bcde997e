"""The Xray simulator behaves like Xray Cloud where the backup depends on it."""
from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
import requests

from sim.xray import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, THROTTLE_TEXT, Dataset, XraySimulator, public
from tests.support.paths import ROOT



@pytest.fixture(scope="module")
def xray():
    with XraySimulator() as sim:
        yield sim


@pytest.fixture(autouse=True)
def _clean(xray):
    xray.clear_faults()
    yield
    xray.clear_faults()


def authenticate(base: str, client_id=DEFAULT_CLIENT_ID, secret=DEFAULT_CLIENT_SECRET) -> requests.Response:
    return requests.post(f"{base}/api/v2/authenticate", json={"client_id": client_id, "client_secret": secret},
                         timeout=10)


@pytest.fixture
def token(xray):
    return authenticate(xray.url).json()


def gql(base: str, token: str, query: str, variables: dict | None = None) -> requests.Response:
    return requests.post(f"{base}/api/v2/graphql", json={"query": query, "variables": variables or {}},
                         headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_dataset_is_deterministic_and_scales():
    one, again, ten = Dataset(scale=1, seed=7), Dataset(scale=1, seed=7), Dataset(scale=3, seed=7)
    assert one.tests == again.tests and one.test_runs == again.test_runs
    assert one.attachment_bytes(next(iter(one.attachments))) == again.attachment_bytes(next(iter(again.attachments)))
    assert len(ten.tests) > 2.5 * len(one.tests)
    assert len(ten.test_runs) > 2 * len(one.test_runs)
    assert Dataset(seed=8).tests != one.tests


def test_dataset_holds_the_edge_cases_exporters_break_on():
    data = Dataset()
    assert sum(t["projectId"] == "10000" for t in data.tests) > 100
    assert max(len(s["_tests"]) for s in data.test_sets) == 250
    assert any(len(s["_tests"]) == 0 for s in data.test_sets)
    assert max(len(e["_tests"]) for e in data.test_executions) == 110
    assert max(len(p["_tests"]) for p in data.preconditions) >= 120
    assert max(len(t["steps"]) for t in data.tests) == 130
    assert max(len(r["_iterations"]) for r in data.test_runs) == 105
    assert max(len(it["_step_results"]) for r in data.test_runs for it in r["_iterations"]) == 130
    assert max(len(t["jira"]["description"] or "") for t in data.tests) >= 100_000
    assert any("<script>" in t["jira"]["summary"] for t in data.tests)
    assert any("测试" in (t["jira"]["summary"] or "") for t in data.tests)
    assert any(t["jira"]["description"] is None and t["jira"]["labels"] == [] for t in data.tests)
    assert {t["testType"]["name"] for t in data.tests} == {"Manual", "Cucumber", "Generic"}
    stored_in_jira = [a for a in data.attachments.values() if a["storedInJira"]]
    assert stored_in_jira and any(a["size"] == 0 for a in data.attachments.values())
    with pytest.raises(KeyError):
        data.attachment_bytes(stored_in_jira[0]["id"])
    assert not any(k.startswith("_") for k in public(data.tests[0]))
    assert [p["key"] for p in data.projects] == ["ALPHA", "BRAVO", "CHARLIE", "DELTA"]


def test_authenticate_returns_a_quoted_hs256_token_valid_24_hours(xray):
    response = authenticate(xray.url)
    assert response.status_code == 200
    assert response.text.startswith('"') and response.text.endswith('"')
    claims = jwt.decode(response.json(), options={"verify_signature": False})
    assert jwt.get_unverified_header(response.json())["alg"] == "HS256"
    assert claims["exp"] - claims["iat"] == 86400


def test_authenticate_rejects_wrong_pairs_and_malformed_bodies(xray):
    assert authenticate(xray.url, secret="wrong").status_code == 401
    assert authenticate(xray.url, client_id="nobody").status_code == 401
    bad = requests.post(f"{xray.url}/api/v2/authenticate", data="client_id=x", timeout=5)
    assert bad.status_code == 400 and bad.text == "Wrong request syntax."


def test_graphql_pages_tests_by_project_in_a_stable_order(xray, token):
    query = """query($p: String, $s: Int) { getTests(projectId: $p, limit: 100, start: $s) {
                 total start limit results { issueId jira(fields: ["key", "summary"]) testType { name } } } }"""
    seen, start = [], 0
    while True:
        page = gql(xray.url, token, query, {"p": "10000", "s": start}).json()["data"]["getTests"]
        seen += page["results"]
        start += page["limit"]
        if start >= page["total"]:
            break
    expected = [t for t in xray.dataset.tests if t["projectId"] == "10000"]
    assert [t["issueId"] for t in seen] == [t["issueId"] for t in expected]
    assert seen[1]["jira"] == {"key": expected[1]["jira"]["key"], "summary": expected[1]["jira"]["summary"]}


def test_child_connections_report_totals_beyond_their_limit(xray, token):
    big = max(xray.dataset.test_sets, key=lambda s: len(s["_tests"]))
    query = """query($id: String) { getTestSet(issueId: $id) { tests(limit: 100, start: 200) {
                 total start results { issueId } } } }"""
    tests = gql(xray.url, token, query, {"id": big["issueId"]}).json()["data"]["getTestSet"]["tests"]
    assert tests["total"] == 250 and [t["issueId"] for t in tests["results"]] == big["_tests"][200:]


@pytest.mark.parametrize("query, fragment", [
    ("{ getTests(limit: 101) { total } }", "between 1 and 100"),
    ("{ getTests(limit: 0) { total } }", "between 1 and 100"),
    ("{ getTests(limit: 100) { results { preconditions(limit: 100) { total } } } }", "10100 items"),
])
def test_limits_are_enforced_as_graphql_errors(xray, token, query, fragment):
    response = gql(xray.url, token, query)
    assert response.status_code == 200
    body = response.json()
    assert body["data"] is None and fragment in body["errors"][0]["message"]


def test_unknown_fields_answer_400(xray, token):
    response = gql(xray.url, token, "{ getTests(limit: 1) { results { issueId notAField } } }")
    assert response.status_code == 400 and "notAField" in response.text


def test_too_many_paged_resolvers_in_one_call_are_refused(xray, token):
    fields = " ".join(f"a{i}: preconditions(limit: 1) {{ total }}" for i in range(26))
    body = gql(xray.url, token, f"{{ getTests(limit: 1) {{ results {{ {fields} }} }} }}").json()
    assert "resolvers" in body["errors"][0]["message"]


def test_attachments_download_with_the_bearer_token(xray, token):
    att = next(a for a in xray.dataset.attachments.values() if not a["storedInJira"] and a["size"] > 1000)
    url = f"{xray.url}/api/v2/attachments/{att['id']}"
    assert requests.get(url, timeout=5).status_code == 401
    response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert response.status_code == 200
    assert hashlib.sha256(response.content).hexdigest() == xray.dataset.attachment_sha256(att["id"])
    jira_kept = next(a for a in xray.dataset.attachments.values() if a["storedInJira"])
    missing = requests.get(f"{xray.url}/api/v2/attachments/{jira_kept['id']}",
                           headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert missing.status_code == 404


def test_download_links_point_at_the_attachment_route(xray, token):
    query = '{ getTests(limit: 10, projectId: "10000") { results { steps { attachments { id downloadLink } } } } }'
    links = [a for t in gql(xray.url, token, query).json()["data"]["getTests"]["results"]
             for s in t["steps"] for a in s["attachments"]]
    assert links and all(a["downloadLink"] == f"{xray.url}/api/v2/attachments/{a['id']}" for a in links)


def test_redirected_downloads_refuse_a_forwarded_authorization_header(xray, token):
    att = next(a for a in xray.dataset.attachments.values() if not a["storedInJira"] and a["size"] > 0)
    xray.set_faults(redirect_attachments=True)
    first = requests.get(f"{xray.url}/api/v2/attachments/{att['id']}",
                         headers={"Authorization": f"Bearer {token}"}, allow_redirects=False, timeout=5)
    assert first.status_code == 302 and first.headers["Location"].startswith("http://localhost:")
    with_auth = requests.get(first.headers["Location"].replace("localhost", "127.0.0.1"),
                             headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert with_auth.status_code == 400
    assert requests.get(first.headers["Location"], timeout=5).content == xray.dataset.attachment_bytes(att["id"])


def test_rate_limit_answers_429_with_and_without_retry_after():
    with XraySimulator(rate_limit=3, rate_window=60) as sim:
        token = authenticate(sim.url).json()  # the authentication counts too
        statuses = [gql(sim.url, token, "{ getStatuses { name } }") for _ in range(3)]
        assert [r.status_code for r in statuses] == [200, 200, 429]
        limited = statuses[-1]
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        assert limited.json()["error"]["text"] == THROTTLE_TEXT
        assert limited.json()["error"]["nextValidRequestDate"]
        sim.set_faults(retry_after=None)
        assert "Retry-After" not in gql(sim.url, token, "{ getStatuses { name } }").headers
        assert sim.stats()["rate_limited"] == 2 and sim.stats()["max_in_window"] == 3


def test_faults_are_switched_over_http_and_counted(xray, token):
    control = requests.post(f"{xray.url}/_sim/faults", json={"error_every": 2, "error_status": 503}, timeout=5)
    assert control.status_code == 200 and control.json()["error_every"] == 2
    codes = [gql(xray.url, token, "{ getStatuses { name } }").status_code for _ in range(4)]
    assert codes == [200, 503, 200, 503]
    assert requests.post(f"{xray.url}/_sim/faults", json={"nope": 1}, timeout=5).status_code == 400
    stats = requests.get(f"{xray.url}/_sim/stats", timeout=5).json()
    assert stats["fault_error"] >= 2 and stats["by_query"]["getStatuses"] >= 2


def test_connection_reset_truncated_json_and_throttled_200(xray, token):
    xray.set_faults(reset_every=1)
    with pytest.raises(requests.ConnectionError):
        gql(xray.url, token, "{ getStatuses { name } }")
    xray.set_faults(truncate_every=1)
    truncated = gql(xray.url, token, "{ getStatuses { name } }")
    assert truncated.status_code == 200
    with pytest.raises(ValueError):
        json.loads(truncated.text)
    xray.set_faults(throttle_body_every=1)
    throttled = gql(xray.url, token, "{ getStatuses { name } }")
    assert throttled.status_code == 200 and throttled.json()["error"]["text"] == THROTTLE_TEXT


def test_revoked_tokens_answer_401_until_reauthentication(xray):
    token = authenticate(xray.url).json()
    assert gql(xray.url, token, "{ getStatuses { name } }").status_code == 200
    assert requests.post(f"{xray.url}/_sim/revoke-tokens", timeout=5).status_code == 204
    assert gql(xray.url, token, "{ getStatuses { name } }").status_code == 401
    assert gql(xray.url, authenticate(xray.url).json(), "{ getStatuses { name } }").status_code == 200


def test_regions_are_served_under_prefixes_and_bind_region_keys(xray):
    xray.add_client("eu-client", "eu-secret", region="eu")
    token = authenticate(xray.url, "eu-client", "eu-secret").json()  # the global host issues the token
    assert gql(xray.url, token, "{ getStatuses { name } }").status_code == 401
    assert gql(xray.region_url("eu"), token, "{ getStatuses { name } }").status_code == 200
    assert authenticate(xray.region_url("au")).status_code == 200


def test_latency_fault_delays_answers(xray, token):
    import time

    xray.set_faults(latency_ms=120)
    started = time.monotonic()
    gql(xray.url, token, "{ getStatuses { name } }")
    assert time.monotonic() - started >= 0.12


def test_simulator_runs_as_a_module():
    process = subprocess.Popen([sys.executable, "-m", "sim.xray", "--port", "0", "--scale", "1"], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        assert authenticate(url).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_stopped_simulator_no_longer_answers_pooled_connections():
    sim = XraySimulator().start()
    session = requests.Session()
    assert session.post(f"{sim.url}/api/v2/authenticate", json={"client_id": DEFAULT_CLIENT_ID,
                                                                "client_secret": DEFAULT_CLIENT_SECRET}).ok
    sim.stop()
    with pytest.raises(requests.ConnectionError):
        session.post(f"{sim.url}/api/v2/authenticate", json={}, timeout=2)


def test_dataset_query_answers_without_limits_for_ground_truth():
    data = Dataset()
    big = max(data.test_sets, key=lambda s: len(s["_tests"]))
    body = data.query('query($id: String) { getTestSet(issueId: $id) { tests(limit: 1000) { total results { issueId } } } }',
                      {"id": big["issueId"]})
    tests = body["data"]["getTestSet"]["tests"]
    assert tests["total"] == 250 and [t["issueId"] for t in tests["results"]] == big["_tests"]


def test_jql_is_limited_to_100_matches_and_a_small_subset(xray, token):
    small = gql(xray.url, token, '{ getTests(limit: 100, jql: "project = CHARLIE") { total } }').json()
    assert small["data"]["getTests"]["total"] == sum(t["projectId"] == "10002" for t in xray.dataset.tests)
    big = gql(xray.url, token, '{ getTests(limit: 100, jql: "project = ALPHA") { total } }').json()
    assert "more than 100" in big["errors"][0]["message"]
    unknown = gql(xray.url, token, '{ getTests(limit: 1, jql: "summary ~ x") { total } }').json()
    assert "jql" in unknown["errors"][0]["message"]


def test_filters_by_modified_since_and_folder(xray, token):
    since = sorted(t["lastModified"] for t in xray.dataset.tests)[-5]
    recent = gql(xray.url, token, '{ getTests(limit: 100, modifiedSince: "%s") { total } }' % since).json()
    assert recent["data"]["getTests"]["total"] == sum(t["lastModified"] > since for t in xray.dataset.tests) == 4
    query = ('{ getTests(limit: 100, projectId: "10000", folder: {path: "/Regression", includeDescendants: true}) '
             '{ total } }')
    inside = gql(xray.url, token, query).json()["data"]["getTests"]["total"]
    assert inside == sum(t["projectId"] == "10000" and (t["folder"] or {}).get("path", "").startswith("/Regression")
                         for t in xray.dataset.tests)
    tree = gql(xray.url, token, '{ getFolder(projectId: "10000", path: "/") { path folders } }').json()
    assert tree["data"]["getFolder"]["folders"] == xray.dataset.folders["10000"]["folders"]
