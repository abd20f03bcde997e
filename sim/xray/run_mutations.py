"""Resolvers of the mutations that record results on test runs (see ``sim.xray.run_changes``)."""
from __future__ import annotations

from . import run_changes as runs
from .mutations import mutation


@mutation("updateTestRun")
def update_test_run(ds, stamp, id, **args):
    names = {"comment": "comment", "startedOn": "started_on", "finishedOn": "finished_on",
             "assigneeId": "assignee_id", "executedById": "executed_by_id", "customFields": "custom_fields"}
    runs.update_run(ds, runs.require_run(ds, id), stamp, **{names[k]: v for k, v in args.items()})
    return {"warnings": []}


@mutation("updateTestRunStatus")
def update_test_run_status(ds, stamp, id, status):
    runs.update_run(ds, runs.require_run(ds, id), stamp, status=status)
    return f"The status of test run {id} is now {status}."


@mutation("updateTestRunComment")
def update_test_run_comment(ds, stamp, id, comment):
    runs.update_run(ds, runs.require_run(ds, id), stamp, comment=comment)
    return f"The comment of test run {id} was updated."


@mutation("updateTestRunStep")
def update_test_run_step(ds, stamp, testRunId, stepId, updateData, iterationRank=None):
    defects = updateData.get("defects") or {}
    evidence = updateData.get("evidence") or {}
    return runs.update_step(
        ds, runs.require_run(ds, testRunId, "testRunId"), stepId, stamp, iteration_rank=iterationRank,
        status=updateData.get("status"), comment=updateData.get("comment"),
        actual_result=updateData.get("actualResult"), add_defects=defects.get("add") or (),
        remove_defects=defects.get("remove") or (), add_evidence=evidence.get("add") or (),
        remove_evidence_ids=evidence.get("removeIds") or (),
        remove_evidence_filenames=evidence.get("removeFilenames") or ())


@mutation("updateIterationStatus")
def update_iteration_status(ds, stamp, testRunId, iterationRank, status):
    runs.set_iteration_status(ds, runs.require_run(ds, testRunId, "testRunId"), iterationRank, status, stamp)
    return {"warnings": []}


@mutation("addEvidenceToTestRun")
def add_evidence_to_test_run(ds, stamp, id, evidence):
    return {"addedEvidence": runs.add_run_evidence(ds, runs.require_run(ds, id), evidence, stamp), "warnings": []}


@mutation("removeEvidenceFromTestRun")
def remove_evidence_from_test_run(ds, stamp, id, evidenceIds=None, evidenceFilenames=None):
    removed = runs.remove_run_evidence(ds, runs.require_run(ds, id), stamp, evidenceIds, evidenceFilenames)
    return {"removedEvidence": removed, "warnings": []}


@mutation("addEvidenceToTestRunStep")
def add_evidence_to_test_run_step(ds, stamp, testRunId, stepId, evidence=None, iterationRank=None):
    result = runs.update_step(ds, runs.require_run(ds, testRunId, "testRunId"), stepId, stamp,
                              iteration_rank=iterationRank, add_evidence=evidence or ())
    return {"addedEvidence": result["addedEvidence"], "warnings": []}


@mutation("removeEvidenceFromTestRunStep")
def remove_evidence_from_test_run_step(ds, stamp, testRunId, stepId, evidenceIds=None, evidenceFilenames=None,
                                       iterationRank=None):
    result = runs.update_step(ds, runs.require_run(ds, testRunId, "testRunId"), stepId, stamp,
                              iteration_rank=iterationRank, remove_evidence_ids=evidenceIds or (),
                              remove_evidence_filenames=evidenceFilenames or ())
    return {"removedEvidence": result["removedEvidence"], "warnings": []}


@mutation("addDefectsToTestRun")
def add_defects_to_test_run(ds, stamp, id, issues):
    added, _ = runs.change_run_defects(ds, runs.require_run(ds, id), stamp, add=issues)
    return {"addedDefects": added, "warnings": []}


@mutation("removeDefectsFromTestRun")
def remove_defects_from_test_run(ds, stamp, id, issues):
    _, removed = runs.change_run_defects(ds, runs.require_run(ds, id), stamp, remove=issues)
    return f"{len(removed)} defects removed."


@mutation("addDefectsToTestRunStep")
def add_defects_to_test_run_step(ds, stamp, testRunId, stepId, issues=None, iterationRank=None):
    result = runs.update_step(ds, runs.require_run(ds, testRunId, "testRunId"), stepId, stamp,
                              iteration_rank=iterationRank, add_defects=issues or ())
    return {"addedDefects": result["addedDefects"], "warnings": []}


@mutation("removeDefectsFromTestRunStep")
def remove_defects_from_test_run_step(ds, stamp, testRunId, stepId, issues, iterationRank=None):
    result = runs.update_step(ds, runs.require_run(ds, testRunId, "testRunId"), stepId, stamp,
                              iteration_rank=iterationRank, remove_defects=issues)
    return {"removedDefects": result["removedDefects"], "warnings": []}
