"""A restore against a misbehaving Xray: rejected credentials mid-way, answers lost after a write was applied,
refusals, and Xray's rate limit. Nothing is ever created twice; what cannot be done is reported per item.
"""
from __future__ import annotations

from app.extensions import db
from app.xray.client import XrayClient
from app.xray.shared_pacer import DatabasePacer
from tests.support.restore import (ALL_PROJECTS, Snapshot, compare_snapshots, delete_mix, id_mapping, issue_counts,
                                   restore_env)  # noqa: F401 - restore_env is a fixture


def test_rejected_credentials_stop_the_restore_failed_and_a_new_restore_resumes_cleanly(restore_env):
    env = restore_env
    before = issue_counts(env.ds)
    first = env.backup()
    delete_mix(env.xray)
    rejected = []

    def reject_at_test_sets(info):
        if info["stage"] == "test sets" and not rejected:
            rejected.append(True)
            env.xray.set_faults(reject_credentials=True)

    restore_id = env.start({"runId": first})["id"]
    assert env.work(progress=reject_at_test_sets) == "failed"
    failed = env.get(restore_id)
    assert "rejected the saved API key" in failed["message"] and "Xray Credentials" in failed["message"]
    items = env.items(restore_id)
    done = [i for i in items if i["outcome"] == "created"]
    assert done and {i["entity"] for i in done} <= {"preconditions", "tests"}
    assert any(i["reason"] == "Not reached: the restore stopped before it." for i in items)
    assert not [i for i in items if i["entity"] == "test_sets" and i["outcome"] == "created"]

    env.xray.clear_faults()
    resumed = env.restore({"runId": first})
    assert resumed["status"] == "succeeded", resumed["message"]
    assert issue_counts(env.ds) == before  # what the failed restore made was found, not made again
    again = {i["sourceId"]: i for i in env.items(resumed["id"])}
    assert all(again[i["sourceId"]]["outcome"] == "existing" for i in done)
    assert all(again[i["sourceId"]]["targetId"] == i["targetId"] for i in done)


def test_answers_lost_after_xray_applied_a_write_never_make_a_second_item(restore_env):
    env = restore_env
    before = issue_counts(env.ds)
    first = env.backup()
    delete_mix(env.xray)
    env.xray.set_faults(truncate_every=3)  # every 3rd answer is cut off after Xray did the work
    done = env.restore({"runId": first})
    stats = env.xray.stats()
    env.xray.clear_faults()
    assert done["status"] == "succeeded", done["message"]
    assert stats["fault_truncate"] >= 5
    assert issue_counts(env.ds) == before
    items = env.items(done["id"])
    problems = compare_snapshots(Snapshot(env, first), Snapshot(env, env.backup()), id_mapping(items), ALL_PROJECTS)
    assert not problems, "\n".join(problems[:20])


def test_gateway_errors_and_a_refused_batch_are_recovered_without_duplicates(restore_env):
    env = restore_env
    before = issue_counts(env.ds)
    first = env.backup()
    delete_mix(env.xray)
    env.xray.set_faults(error_every=4, fail_mutation=[{"name": "createTestSet", "times": 1, "status": 200},
                                                     {"name": "createTest", "times": 1, "status": 502}])
    done = env.restore({"runId": first})
    stats = env.xray.stats()
    env.xray.clear_faults()
    assert done["status"] == "succeeded", done["message"]
    assert stats["fault_error"] >= 3 and stats["fault_mutation"] == 2
    assert issue_counts(env.ds) == before


def test_an_item_xray_keeps_refusing_fails_alone_and_the_restore_says_so(restore_env):
    env = restore_env
    first = env.backup()
    deleted = delete_mix(env.xray)
    env.xray.set_faults(fail_mutation={"name": "createTestSet", "status": 200})
    done = env.restore({"runId": first})
    env.xray.clear_faults()
    assert done["status"] == "failed"
    assert "could not be restored" in done["message"] and "createTestSet failed" in done["message"]
    items = env.items(done["id"])
    sets = [i for i in items if i["entity"] == "test_sets" and i["outcome"] not in ("existing", "linked")]
    assert sets and all(i["outcome"] == "failed" and "createTestSet" in i["reason"] for i in sets)
    tests = [i for i in items if i["entity"] == "tests" and i["sourceId"] in deleted["tests"]]
    assert tests and all(i["outcome"] == "created" for i in tests)


def test_the_restore_keeps_under_xrays_rate_limit_through_the_shared_pacer(restore_env):
    env = restore_env
    first = env.backup()
    delete_mix(env.xray)
    limit, window = 25, 2.0
    env.xray.rate_limit, env.xray.rate_window = limit, window
    env.xray.reset_stats()
    with env.app.app_context():
        engine = db.engine

    def paced(tenant, access):  # the tenant's shared database pacer, on a short window so the test is quick
        return XrayClient(access.base_url, access.client_id, access.client_secret,
                          pacer=DatabasePacer(engine, tenant.client_key, limit, window=window))

    done = env.restore({"runId": first}, client_factory=paced)
    stats = env.xray.stats()
    assert done["status"] == "succeeded", done["message"]
    assert stats["requests"] > 2 * limit  # it needed several windows
    assert stats.get("rate_limited", 0) == 0 and stats["max_in_window"] <= limit
