"""The fewest requests any exporter honouring Xray's limits could spend on a dataset."""
from __future__ import annotations

import math


def request_lower_bound(ds) -> int:
    """Items ÷ 100 per list and project, one meta request per project, extra pages of long child lists, files."""
    total = 0
    for project in ds.projects:
        pid = project["id"]
        total += 1
        for records in (ds.tests, ds.preconditions, ds.test_sets, ds.test_plans, ds.test_executions):
            total += math.ceil(sum(1 for r in records if r["projectId"] == pid) / 100)
        runs = sum(len(ds.runs_by_execution.get(e["issueId"], [])) for e in ds.test_executions if e["projectId"] == pid)
        total += math.ceil(runs / 100)
    children = [len(t["_preconditions"]) for t in ds.tests] + [len(p["_tests"]) for p in ds.preconditions]
    children += [len(r["_tests"]) for r in ds.test_sets + ds.test_plans + ds.test_executions]
    children += [len(p["_test_executions"]) for p in ds.test_plans]
    for run in ds.test_runs:
        children += [len(run["_iterations"]), len(run["_preconditions"])]
        children += [len(it["_step_results"]) for it in run["_iterations"]]
    total += sum(max(0, math.ceil(n / 100) - 1) for n in children)
    return total + ds.counts()["attachments"]
