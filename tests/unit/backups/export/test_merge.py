"""The pure core of incremental backups: the overlap, count inference, merge order and counts, run checks."""
from __future__ import annotations

from app.backups.export.merge import ChangeCounts, check_runs, merge, removals_possible, since_for


def test_changes_are_read_from_ten_minutes_before_the_parent_started():
    assert since_for("2026-11-30T10:00:00Z") == "2026-11-30T09:50:00.000Z"
    assert since_for("2026-11-30T10:00:00.250+01:00") == "2026-11-30T08:50:00.250Z"


def test_equal_counts_prove_nothing_was_removed_without_a_request():
    assert not removals_possible(parent_count=10, added=2, total_now=12)
    assert removals_possible(parent_count=10, added=2, total_now=11)  # one removed
    assert removals_possible(parent_count=10, added=0, total_now=11)  # one Xray did not report


def test_merge_keeps_parent_order_replaces_in_place_and_appends_added():
    parent = [{"id": "a", "v": 1}, {"id": "b", "v": 1}, {"id": "c", "v": 1}, {"id": "d", "v": 1}]
    changed = {"b": {"id": "b", "v": 2}, "e": {"id": "e", "v": 1}, "d": {"id": "d", "v": 1}}
    counts = ChangeCounts()
    out = list(merge(parent, changed, lambda r: r["id"], lambda r: r["id"] == "c", counts))
    assert [(m.record["id"], m.record["v"], m.change) for m in out] == [
        ("a", 1, "kept"), ("b", 2, "modified"), ("d", 1, "unchanged"), ("e", 1, "added")]
    assert counts.as_json() == {"added": 1, "modified": 1, "removed": 1}
    assert changed == {}


def test_a_removed_item_that_changed_again_is_kept_as_changed():
    counts = ChangeCounts()
    out = list(merge([{"id": "a", "v": 1}], {"a": {"id": "a", "v": 2}}, lambda r: r["id"], lambda r: True, counts))
    assert [m.change for m in out] == ["modified"] and counts.removed == 0


def test_runs_are_reread_when_parent_and_changes_do_not_explain_an_execution():
    executions = {"E1": ["t1", "t2"], "E2": ["t1"], "E3": ["t1"]}
    parent_runs = {"E1": {"t1", "t2"}, "E2": set(), "E3": {"t1"}}
    # E2: a test without a parent run nor a changed one; E3: a changed run of a test it no longer lists.
    assert check_runs(executions, parent_runs, [("t9", "E3")]) == {"E2", "E3"}
    assert check_runs(executions, parent_runs, [("t1", "E2")]) == set()
