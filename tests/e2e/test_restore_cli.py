"""`flask restore run CLIENT_KEY RUN_ID [--dry-run] [--project SRC=DST]… [--issue KEY]…` against the simulator."""
from __future__ import annotations

from tests.support.restore import CHARLIE, restore_env  # noqa: F401 - restore_env is a fixture


def invoke(env, *args):
    return env.app.test_cli_runner().invoke(args=["restore", "run", env.site.client_key, *args])


def test_a_dry_run_prints_the_plan_table_and_sends_nothing(restore_env):
    env = restore_env
    run_id = env.backup()
    env.xray.reset_stats()
    result = invoke(env, run_id, "--dry-run", "--project", "BRAVO=BRAVO")
    assert result.exit_code == 0, result.output
    assert "Dry run" in result.output and "Status: succeeded" in result.output
    header = next(line for line in result.output.splitlines() if line.startswith("entity"))
    assert all(word in header for word in ("to create", "existing", "to re-link", "created", "failed"))
    assert "test runs" in result.output and "Xray requests:" in result.output
    assert env.xray.stats().get("mutations", 0) == 0


def test_a_project_restored_into_another_prints_progress_and_exits_zero(restore_env):
    env = restore_env
    run_id = env.backup()
    tests = sum(1 for t in env.ds.tests if t["projectId"] == CHARLIE)
    result = invoke(env, run_id, "--project", "CHARLIE=DELTA")
    assert result.exit_code == 0, result.output
    assert "test runs:" in result.output and "rate-limit waits" in result.output  # progress lines
    row = next(line for line in result.output.splitlines() if line.startswith("tests "))
    assert row.split()[1] == str(tests) and row.split()[4] == str(tests)  # planned and created
    assert "Warning:" in result.output and "Status: succeeded" in result.output
    assert sum(1 for t in env.ds.tests if t["projectId"] == "10003") == tests


def test_bad_arguments_are_refused_with_what_is_wrong_and_change_nothing(restore_env):
    env = restore_env
    run_id = env.backup()
    env.xray.reset_stats()
    unknown = invoke(env, "0" * 32)
    assert unknown.exit_code != 0 and "No backup run with this id" in unknown.output
    malformed = invoke(env, run_id, "--project", "CHARLIE")
    assert malformed.exit_code != 0 and "SRC=DST" in malformed.output
    missing = invoke(env, run_id, "--project", "CHARLIE=NOPE")
    assert missing.exit_code != 0 and "NOPE does not exist" in missing.output
    key = invoke(env, run_id, "--issue", "CHARLIE-999")
    assert key.exit_code != 0 and "CHARLIE-999" in key.output
    site = env.app.test_cli_runner().invoke(args=["restore", "run", "no-such-site", run_id])
    assert site.exit_code != 0 and "No installed site" in site.output
    assert env.xray.stats().get("mutations", 0) == 0
