"""The proof: seed → back up → lose a mix of data → dry run (nothing sent) → restore → back up again, and the two
snapshots are equal, modulo the id map, on every restorable field. Also into an empty project, one test by key,
and the same restore twice. Against the Xray simulator over HTTP, the app on SQLite and PostgreSQL.
"""
from __future__ import annotations

import pytest

from tests.support.restore import (ALL_PROJECTS, ALPHA, CHARLIE, DELTA, Snapshot, compare_snapshots, delete_mix,
                                   id_mapping, issue_counts, restore_env)  # noqa: F401 - restore_env is a fixture

CREATES = {"createFolder", "createPrecondition", "createTest", "createTestSet", "createTestPlan", "createTestExecution"}
IMPORTS = ("import_test_bulk", "import_execution")


def sent_writes(stats: dict) -> int:
    return stats.get("mutations", 0) + sum(stats.get(kind, 0) for kind in IMPORTS)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_restored_snapshot_backs_up_equal_to_the_one_it_came_from(restore_env, database):
    env = restore_env
    before = issue_counts(env.ds)
    empty = next(t["jira"]["key"] for t in env.ds.tests if t["jira"]["summary"] == "")
    first = env.backup()
    deleted = delete_mix(env.xray)

    env.xray.reset_stats()
    dry = env.restore({"runId": first, "dryRun": True})
    assert dry["status"] == "succeeded" and dry["dryRun"] is True
    assert sent_writes(env.xray.stats()) == 0, env.xray.stats()
    planned = dry["plan"]["create"]
    assert planned["tests"] == 7 + sum(1 for t in env.snapshot_records(first)["tests"] if t["projectId"] == CHARLIE)
    assert planned["test_sets"] >= 2 and planned["test_executions"] >= 2 and planned["folders"] >= 5
    assert any(w.startswith(empty) and "empty summary" in w for w in dry["plan"]["warnings"])
    assert any("dataset" in w for w in dry["plan"]["warnings"])
    dry_items = env.items(dry["id"])
    assert {i["outcome"] for i in dry_items} <= {"existing", "skipped"}

    done = env.restore({"runId": first})
    assert done["status"] == "succeeded", done["message"]
    assert done["plan"]["create"] == planned  # the dry run's plan is what the real run did
    assert done["counts"]["tests"] == planned["tests"] and done["counts"]["test_runs"] == planned["test_runs"]
    items = env.items(done["id"])
    created = [i for i in items if i["outcome"] == "created"]
    assert all(i["targetId"] and (i["targetKey"] or i["entity"] == "test_runs") for i in created)
    assert all(i["targetUrl"].endswith("/browse/" + i["targetKey"]) for i in created if i["entity"] != "test_runs")
    assert not [i for i in items if i["outcome"] == "failed"]
    assert issue_counts(env.ds) == before  # everything back, nothing twice

    second = env.backup()
    problems = compare_snapshots(Snapshot(env, first), Snapshot(env, second), id_mapping(items), ALL_PROJECTS)
    assert not problems, "\n".join(problems[:30])
    assert deleted["project"]


def test_a_whole_project_restores_into_an_empty_project(restore_env):
    env = restore_env
    first = env.backup()
    env.xray.reset_stats()
    done = env.restore({"runId": first, "projects": {"CHARLIE": "DELTA"}})
    assert done["status"] == "succeeded", done["message"]
    warnings = done["plan"]["warnings"]
    assert any('component "UI"' in w and "not in project DELTA" in w for w in warnings)
    items = env.items(done["id"])
    assert {i["outcome"] for i in items} == {"created"}
    assert all(i["targetKey"].startswith("DELTA-") for i in items if i["entity"] != "test_runs")
    second = env.backup()
    problems = compare_snapshots(Snapshot(env, first), Snapshot(env, second), id_mapping(items), {CHARLIE},
                                 project_map={CHARLIE: DELTA},
                                 jira_fields=("summary", "description", "labels", "priority", "assignee"))
    assert not problems, "\n".join(problems[:30])
    # Components and versions DELTA has are kept; the others are named in the warnings.
    delta_tests = [t for t in env.ds.tests if t["projectId"] == DELTA]
    assert {c["name"] for t in delta_tests for c in t["jira"]["components"]} <= {"API"}


def test_one_test_by_key_comes_back_with_its_runs_links_and_files(restore_env):
    env = restore_env
    ds = env.ds
    test = next(t for t in ds.tests if t["projectId"] == ALPHA and t["steps"] and t["_preconditions"]
                and ds.member_of.get(("sets", t["issueId"])) and ds.member_of.get(("execs", t["issueId"]))
                and any(r["evidence"] or any(s["evidence"] for s in r["steps"]) for r in ds.runs_by_test[t["issueId"]]))
    key, old_id = test["jira"]["key"], test["issueId"]
    first = env.backup()
    env.xray.delete(old_id)
    before = issue_counts(ds)

    done = env.restore({"runId": first, "issueKeys": [key]})
    assert done["status"] == "succeeded", done["message"]
    items = env.items(done["id"])
    assert [i["entity"] for i in items if i["entity"] != "test_runs"] == ["tests"]
    assert {i["outcome"] for i in items} == {"created"}
    after = issue_counts(ds)
    assert after["tests"] == before["tests"] + 1 and after["test_sets"] == before["test_sets"]
    assert after["test_runs"] == before["test_runs"] + sum(1 for i in items if i["entity"] == "test_runs")

    second = env.backup()
    mapping = id_mapping(items)
    first_snap, second_snap = Snapshot(env, first), Snapshot(env, second)
    problems = compare_snapshots(first_snap, second_snap, mapping, {ALPHA})
    assert not problems, "\n".join(problems[:30])


def test_the_same_restore_twice_creates_nothing_the_second_time(restore_env):
    env = restore_env
    first = env.backup()
    delete_mix(env.xray)
    assert env.restore({"runId": first})["status"] == "succeeded"
    counts = issue_counts(env.ds)
    env.xray.reset_stats()
    again = env.restore({"runId": first})
    assert again["status"] == "succeeded", again["message"]
    stats = env.xray.stats()
    assert not CREATES & set(stats["by_mutation"]), stats["by_mutation"]
    assert not any(stats.get(kind) for kind in IMPORTS)
    assert issue_counts(env.ds) == counts
    assert again["counts"]["tests"] == 0 and again["plan"]["create"]["tests"] == 0
    assert {i["outcome"] for i in env.items(again["id"])} <= {"existing", "linked"}


def test_a_tests_run_in_another_projects_execution_comes_back_with_its_result(restore_env):
    env = restore_env
    ds = env.ds
    test = next(t for t in ds.tests if t["projectId"] == ALPHA and t["steps"] and not ds.runs_by_test.get(t["issueId"]))
    execution = env.xray.add("test_execution", project="BRAVO", summary="Cross-project run", tests=[test["issueId"]])
    [run] = ds.runs_by_execution[execution["issueId"]]
    env.xray.edit_run(run["id"], status="FAILED", comment="Broke on BRAVO ✓", defects=["20001"])
    first = env.backup()
    env.xray.delete(test["issueId"])

    done = env.restore({"runId": first, "projects": {"ALPHA": "ALPHA"}, "issueKeys": [test["jira"]["key"]]})
    assert done["status"] == "succeeded", done["message"]
    items = {i["entity"]: i for i in env.items(done["id"])}
    assert items["tests"]["outcome"] == "created" and items["test_runs"]["outcome"] == "created"
    [restored] = ds.runs_by_execution[execution["issueId"]]
    assert restored["_test"] == items["tests"]["targetId"]
    assert (restored["status"]["name"], restored["comment"], restored["defects"]) == ("FAILED", "Broke on BRAVO ✓",
                                                                                     ["20001"])
