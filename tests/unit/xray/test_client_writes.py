"""Writes through the Xray client: never repeated when they may have been applied; the REST imports."""
from __future__ import annotations

import random

import pytest

from app.xray.client import XrayClient
from app.xray.errors import XrayNotFound, XrayQueryError, XrayUncertain
from sim.xray import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, XraySimulator

CREATE_SET = """
mutation CreateSet($jira: JSON!) { createTestSet(jira: $jira) { testSet { issueId } } }
"""


@pytest.fixture
def xray():
    with XraySimulator(import_delay=0.01) as sim:
        yield sim


@pytest.fixture
def client(xray):
    sleeps: list[float] = []
    with XrayClient(xray.url, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, sleep=sleeps.append, rng=random.Random(1),
                    timeout=(2, 5)) as made:
        made.sleeps = sleeps
        yield made


def new_set(summary: str) -> dict:
    return {"jira": {"fields": {"summary": summary, "project": {"key": "ALPHA"}}}}


def sets_named(xray, summary: str) -> int:
    return sum(1 for s in xray.dataset.test_sets if s["jira"]["summary"] == summary)


def test_a_write_whose_answer_was_cut_is_not_sent_again(xray, client):
    xray.set_faults(truncate_every=1)
    with pytest.raises(XrayUncertain):
        client.graphql("CreateSet", CREATE_SET, new_set("Cut answer"), write=True)
    assert xray.stats()["mutations"] == 1
    assert sets_named(xray, "Cut answer") == 1  # applied once, and only once


def test_a_read_whose_answer_was_cut_is_retried(xray, client):
    xray.set_faults(truncate_every=2)
    client.graphql("Statuses", "query { getStatuses { name } }")
    data = client.graphql("Statuses", "query { getStatuses { name } }")  # the 2nd request is cut, then repeated
    assert data["getStatuses"]
    assert xray.stats()["graphql"] == 3 and xray.stats()["fault_truncate"] == 1


def test_a_throttled_write_is_retried_because_xray_did_nothing(xray, client):
    xray.set_faults(fault_targets=["graphql"], too_many_every=2)
    client.graphql("Statuses", "query { getStatuses { name } }")  # the 1st counted request passes
    created = client.graphql("CreateSet", CREATE_SET, new_set("Throttled"), write=True)
    assert created["createTestSet"]["testSet"]["issueId"]
    assert sets_named(xray, "Throttled") == 1
    assert xray.stats()["fault_too_many"] == 1


def test_a_write_refused_with_a_gateway_error_is_uncertain_not_repeated(xray, client):
    xray.set_faults(fail_mutation={"name": "createTestSet", "times": 1, "status": 502})
    with pytest.raises(XrayUncertain):
        client.graphql("CreateSet", CREATE_SET, new_set("Gateway"), write=True)
    assert xray.stats()["mutations"] == 1 and sets_named(xray, "Gateway") == 0


def test_the_execution_import_answers_its_issue_and_refusals_carry_xrays_text(xray, client):
    test = xray.dataset.tests[10]
    answer = client.send("ImportExecution", "POST", "/api/v2/import/execution", write=True, body={
        "info": {"project": "ALPHA", "summary": "Imported"},
        "tests": [{"testKey": test["jira"]["key"], "status": "PASSED"}]})
    assert answer["key"].startswith("ALPHA-")
    with pytest.raises(XrayQueryError, match="testKey"):
        client.send("ImportExecution", "POST", "/api/v2/import/execution", write=True,
                    body={"info": {"project": "ALPHA"}, "tests": [{"testKey": "NOPE-1", "status": "PASSED"}]})


def test_bulk_import_jobs_are_submitted_and_followed_and_an_unknown_job_is_not_found(xray, client):
    job = client.send("ImportTests", "POST", "/api/v2/import/test/bulk", params={"project": "BRAVO"}, write=True,
                      body=[{"testtype": "Manual", "fields": {"summary": "Bulk one"}, "steps": []}])
    status = {"status": "pending"}
    for _ in range(200):
        status = client.send("ImportTestsStatus", "GET", f"/api/v2/import/test/bulk/{job['jobId']}/status")
        if status["status"] not in ("pending", "working"):
            break
    assert status["status"] == "successful"
    assert status["result"]["issues"][0]["key"].startswith("BRAVO-")
    with pytest.raises(XrayNotFound):
        client.send("ImportTestsStatus", "GET", "/api/v2/import/test/bulk/nope/status")
