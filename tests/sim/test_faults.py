"""Faults on mutations and credentials, and the counters tests assert on (mutations sent, rate limit)."""
from __future__ import annotations

import requests

from sim.xray import XraySimulator
from tests.support.sim_api import SimApi, unchanged

CREATE_SET = """mutation { createTestSet(jira: {fields: {summary: "S", project: {key: "ALPHA"}}}) {
  testSet { issueId } } }"""
READ = "{ getStatuses { name } }"


def test_a_chosen_mutation_fails_the_number_of_times_asked_then_works(xray, api, ds):
    xray.set_faults(fail_mutation={"name": "createTestSet", "times": 2, "status": 503})
    with unchanged(ds):
        assert [api.graphql(CREATE_SET).status_code for _ in range(2)] == [503, 503]
        assert api.graphql(READ).status_code == 200  # other requests are untouched
    assert api.data(CREATE_SET)["createTestSet"]["testSet"]["issueId"]
    stats = xray.stats()
    assert stats["fault_mutation"] == 2 and stats["by_mutation"] == {"createTestSet": 3}


def test_a_mutation_fault_with_status_200_is_a_graphql_error(xray, api, ds):
    requests.post(f"{xray.url}/_sim/faults", json={"fail_mutation": [{"name": "deleteTest", "status": 200}]},
                  timeout=5)
    with unchanged(ds):
        for _ in range(3):  # no "times": every time
            assert "deleteTest failed" in api.error('mutation($id: String!) { deleteTest(issueId: $id) }',
                                                    {"id": ds.tests[0]["issueId"]})
    assert api.data(CREATE_SET)["createTestSet"]


def test_a_malformed_mutation_fault_is_refused(xray):
    answer = requests.post(f"{xray.url}/_sim/faults", json={"fail_mutation": {"times": 1}}, timeout=5)
    assert answer.status_code == 400 and "fail_mutation" in answer.json()["error"]


def test_rejected_credentials_fail_the_token_in_use_and_every_new_authentication_until_cleared(xray, api):
    assert api.graphql(READ).status_code == 200
    requests.post(f"{xray.url}/_sim/faults", json={"reject_credentials": True}, timeout=5)
    assert api.graphql(READ).status_code == 401
    assert api.authenticate().status_code == 401
    assert api.post("/api/v2/import/execution", {"info": {"project": "ALPHA"}, "tests": []}).status_code == 401
    xray.clear_faults()
    api.token = api.authenticate().json()
    assert api.graphql(READ).status_code == 200
    assert xray.stats()["auth_rejected"] == 1


def test_stats_count_each_mutation_and_each_import_route_and_reads_send_none(xray, api, ds):
    xray.reset_stats()
    api.data(READ)
    api.data('{ getTests(limit: 1) { total } }')
    assert xray.stats()["mutations"] == 0 and xray.stats()["by_mutation"] == {}
    api.data(CREATE_SET)
    api.graphql('mutation($id: String!) { deleteTest(issueId: $id) a: deleteTestSet(issueId: "1") }',
                {"id": ds.tests[0]["issueId"]})
    api.post("/api/v2/import/test/bulk", [{"testtype": "Manual", "summary": "x", "project": {"key": "ALPHA"}}])
    api.post("/api/v2/import/execution", {"info": {"project": "ALPHA"}, "tests": []})
    stats = xray.stats()
    assert stats["by_mutation"] == {"createTestSet": 1, "deleteTest": 1, "deleteTestSet": 1}
    assert stats["mutations"] == 3 and stats["graphql"] == 4
    assert stats["by_query"] == {"getStatuses": 1, "getTests": 1}
    assert stats["import_test_bulk"] == 1 and stats["import_execution"] == 1


def test_mutations_count_against_the_rate_limit_like_queries():
    with XraySimulator(rate_limit=3, rate_window=60) as sim:
        api = SimApi(sim)  # the authentication counts too
        sets = len(sim.dataset.test_sets)
        answers = [api.graphql(CREATE_SET), api.graphql(READ), api.graphql(CREATE_SET)]
        assert [a.status_code for a in answers] == [200, 200, 429]
        assert len(sim.dataset.test_sets) == sets + 1
        stats = sim.stats()
        assert stats["max_in_window"] == 3 and stats["rate_limited"] == 1
        assert stats["by_mutation"] == {"createTestSet": 2}  # sent twice, applied once


def test_every_nth_faults_hit_mutations_and_leave_the_data_unchanged(xray, api, ds):
    xray.set_faults(reset_every=1)
    with unchanged(ds):
        try:
            api.graphql(CREATE_SET)
        except requests.ConnectionError:
            pass
        else:
            raise AssertionError("the connection was not reset")
    xray.set_faults(too_many_every=1, retry_after=2)
    with unchanged(ds):
        limited = api.graphql(CREATE_SET)
    assert limited.status_code == 429 and limited.headers["Retry-After"] == "2"
