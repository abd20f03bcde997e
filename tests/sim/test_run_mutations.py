"""Results recorded on test runs through the mutations: status, comment, dates, steps, evidence, defects."""
from __future__ import annotations

import pytest

from tests.support.sim_api import b64, unchanged

GRACE = "5b10ac8d82e05b22cc7d4ef5"
RUN = """query($id: String) { getTestRunById(id: $id) {
  status { name } comment startedOn finishedOn assigneeId executedById defects
  evidence { id filename size downloadLink } customFields { id name values }
  steps { id status { name } comment actualResult defects evidence { id filename size } } } }"""


@pytest.fixture
def run(ds):
    """A run of a manual test with steps (and no iterations)."""
    return next(r for r in ds.test_runs if len(r["steps"]) >= 2 and not r["_iterations"])


def read(api, run_id):
    return api.data(RUN, {"id": run_id})["getTestRunById"]


def test_update_test_run_sets_its_fields_and_normalises_dates(api, ds, run):
    document = """mutation($id: String!, $cf: [CustomFieldInput]) { updateTestRun(id: $id, comment: "Done ✓",
      startedOn: "2026-03-01T10:00:00+02:00", finishedOn: "2026-03-01T08:30:00Z", assigneeId: "%s",
      executedById: "%s", customFields: $cf) { warnings } }""" % (GRACE, GRACE)
    custom = [{"id": f"rcf-{ds.test_by_id[run['_test']]['projectId']}", "value": "build 7"}]
    assert api.data(document, {"id": run["id"], "cf": custom})["updateTestRun"] == {"warnings": []}
    served = read(api, run["id"])
    assert served["comment"] == "Done ✓" and served["startedOn"] == "2026-03-01T08:00:00.000Z"
    assert served["finishedOn"] == "2026-03-01T08:30:00.000Z"
    assert served["assigneeId"] == served["executedById"] == GRACE
    assert served["customFields"][0]["values"] == ["build 7"]


@pytest.mark.parametrize("arguments, words", [
    ('executedById: "nobody"', "nobody"),
    ('startedOn: "yesterday"', "yesterday"),
    ('customFields: [{id: "rcf-none", value: 1}]', "rcf-none"),
])
def test_update_test_run_refuses_unknown_users_dates_and_fields(api, ds, run, arguments, words):
    with unchanged(ds):
        assert words in api.error(f'mutation($id: String!) {{ updateTestRun(id: $id, {arguments}) {{ warnings }} }}',
                                  {"id": run["id"]})


def test_status_and_comment_are_set_and_unknown_runs_or_statuses_are_refused(api, ds, run):
    api.data('mutation($id: String!) { updateTestRunStatus(id: $id, status: "BLOCKED ⛔") }', {"id": run["id"]})
    api.data('mutation($id: String!) { updateTestRunComment(id: $id, comment: "see log") }', {"id": run["id"]})
    served = read(api, run["id"])
    assert served["status"] == {"name": "BLOCKED ⛔"} and served["comment"] == "see log"
    with unchanged(ds):
        assert "'SKIPPED' is not a valid test run status" in api.error(
            'mutation($id: String!) { updateTestRunStatus(id: $id, status: "SKIPPED") }', {"id": run["id"]})
        assert "'feedface' was not found" in api.refused("updateTestRunComment", id="feedface", comment="x")


def test_a_step_result_is_recorded_with_evidence_served_back_byte_for_byte(api, ds, run):
    step_id = run["steps"][1]["id"]
    document = """mutation($run: String!, $step: String!, $data: UpdateTestRunStepInput!) {
      updateTestRunStep(testRunId: $run, stepId: $step, updateData: $data) {
        addedDefects removedDefects addedEvidence removedEvidence warnings } }"""
    data = {"status": "FAILED", "comment": "crashed", "actualResult": "500 error",
            "defects": {"add": [ds.tests[0]["jira"]["key"], "70001"]},
            "evidence": {"add": [{"filename": "trace.log", "mimeType": "text/plain", "data": b64(b"Traceback...")}]}}
    answer = api.data(document, {"run": run["id"], "step": step_id, "data": data})["updateTestRunStep"]
    assert answer["addedDefects"] == [ds.tests[0]["issueId"], "70001"] and len(answer["addedEvidence"]) == 1
    step = read(api, run["id"])["steps"][1]
    assert step["status"] == {"name": "FAILED"} and step["comment"] == "crashed" and step["actualResult"] == "500 error"
    assert step["evidence"][-1]["filename"] == "trace.log" and step["evidence"][-1]["size"] == 12
    assert api.download(answer["addedEvidence"][0]).content == b"Traceback..."

    removal = {"defects": {"remove": ["70001"]}, "evidence": {"removeIds": answer["addedEvidence"]}}
    removed = api.data(document, {"run": run["id"], "step": step_id, "data": removal})["updateTestRunStep"]
    assert removed["removedDefects"] == ["70001"] and removed["removedEvidence"] == answer["addedEvidence"]
    assert api.download(answer["addedEvidence"][0]).status_code == 404
    with unchanged(ds):
        assert "not a valid step status" in api.error(document, {"run": run["id"], "step": step_id,
                                                                 "data": {"status": "BLOCKED ⛔"}})
        assert "is not in test run" in api.error(document, {"run": run["id"], "step": "no-step", "data": {}})


def test_run_evidence_is_added_and_removed(api, ds, run):
    files = [{"filename": "shot.png", "mimeType": "image/png", "data": b64(b"\x00png")},
             {"filename": "empty.txt", "mimeType": "text/plain", "data": ""}]
    ids = api.mutate("addEvidenceToTestRun", "addedEvidence warnings", id=run["id"], evidence=files)["addedEvidence"]
    served = {e["id"]: e for e in read(api, run["id"])["evidence"]}
    assert served[ids[0]]["size"] == 4 and served[ids[1]]["size"] == 0
    assert served[ids[0]]["downloadLink"] == f"{api.url}/api/v2/attachments/{ids[0]}"
    assert api.download(ids[0]).content == b"\x00png" and api.download(ids[1]).content == b""
    removed = api.mutate("removeEvidenceFromTestRun", "removedEvidence", id=run["id"], evidenceFilenames=["empty.txt"])
    assert removed["removedEvidence"] == [ids[1]] and ids[1] not in ds.attachments


def test_step_evidence_and_defects_have_their_own_mutations(api, ds, run):
    step = {"testRunId": run["id"], "stepId": run["steps"][0]["id"]}
    evidence = api.mutate("addEvidenceToTestRunStep", "addedEvidence", **step,
                          evidence=[{"filename": "s.txt", "data": b64(b"step")}])["addedEvidence"]
    assert api.download(evidence[0]).content == b"step"
    api.mutate("removeEvidenceFromTestRunStep", "removedEvidence", **step, evidenceIds=evidence)
    added = api.mutate("addDefectsToTestRunStep", "addedDefects", **step, issues=["70002"])["addedDefects"]
    assert added == ["70002"] and "70002" in run["steps"][0]["defects"]
    api.mutate("removeDefectsFromTestRunStep", "removedDefects", **step, issues=["70002"])
    assert "70002" not in run["steps"][0]["defects"] and evidence[0] not in ds.attachments


def test_run_defects_are_added_by_id_or_key_and_removed(api, ds, run):
    added = api.mutate("addDefectsToTestRun", "addedDefects", id=run["id"], issues=["BRAVO-3", "80001"])
    bravo_3 = next(r["issueId"] for r in ds.tests + ds.preconditions if r["jira"]["key"] == "BRAVO-3")
    assert added["addedDefects"] == [bravo_3, "80001"]
    api.mutate("removeDefectsFromTestRun", id=run["id"], issues=["80001"])
    assert "80001" not in read(api, run["id"])["defects"]
    with unchanged(ds):
        assert "not an issue id or key" in api.refused("addDefectsToTestRun", "addedDefects", id=run["id"],
                                                       issues=["not a key"])


def test_iterations_take_a_status_and_their_step_results_take_evidence(api, ds):
    run = next(r for r in ds.test_runs if len(r["_iterations"]) == 2)
    api.mutate("updateIterationStatus", "warnings", testRunId=run["id"], iterationRank="2", status="FAILED")
    assert run["_iterations"][1]["status"]["name"] == "FAILED"
    step_id = run["_iterations"][1]["_step_results"][0]["id"]
    evidence = api.mutate("addEvidenceToTestRunStep", "addedEvidence", testRunId=run["id"], stepId=step_id,
                          iterationRank="2", evidence=[{"filename": "i.txt", "data": b64(b"it")}])["addedEvidence"]
    assert run["_iterations"][1]["_step_results"][0]["evidence"][-1]["id"] == evidence[0]
    assert ds.attachments[evidence[0]]["owner"] == {"kind": "iteration_step", "id": f"{run['id']}/1/{step_id}"}
    with unchanged(ds):
        assert "iteration '9'" in api.refused("updateIterationStatus", "warnings", testRunId=run["id"],
                                              iterationRank="9", status="FAILED")
