"""The pure diff between two snapshots' records: added, modified (with parts), removed; order, caps, streaming."""
from __future__ import annotations

import copy

import pytest

from app.backups.changes.diff import diff_snapshots, natural


class Snap:
    """Records per entity as lists; counts how often each file is read (the diff streams, it never indexes)."""

    def __init__(self, **entities):
        self.entities = entities
        self.reads: dict[str, int] = {}

    def records(self, entity):
        self.reads[entity] = self.reads.get(entity, 0) + 1
        yield from self.entities.get(entity, [])

    def attachment_index(self):
        self.reads["attachments"] = self.reads.get("attachments", 0) + 1
        yield from self.entities.get("attachments", [])


def refs(*ids):
    return {"total": len(ids), "start": 0, "limit": 100, "results": [{"issueId": i} for i in ids]}


def a_test(issue_id, key, summary="s", **extra):
    record = {"issueId": issue_id, "projectId": "1", "lastModified": "2026-01-01T00:00:00Z",
              "jira": {"key": key, "summary": summary, "labels": []}, "testType": {"name": "Manual"},
              "steps": [{"id": "s1", "action": "a", "attachments": [{"id": "f1", "downloadLink": "http://x/f1"}]}],
              "gherkin": None, "unstructured": None, "folder": {"path": "/"}, "preconditions": refs()}
    record.update(extra)
    return record


def issue(issue_id, key, summary="s", tests=()):
    return {"issueId": issue_id, "projectId": "1", "jira": {"key": key, "summary": summary}, "tests": refs(*tests)}


def run(run_id, test_id, exec_id, status="PASSED"):
    return {"id": run_id, "status": {"name": status}, "test": {"issueId": test_id},
            "testExecution": {"issueId": exec_id}, "steps": []}


def base():
    return dict(tests=[a_test("1", "A-1"), a_test("2", "A-2"), a_test("3", "A-10")],
                test_sets=[issue("20", "A-20", tests=["1"])],
                test_executions=[issue("30", "A-30", tests=["1", "2"])],
                test_runs=[run("100", "1", "30"), run("101", "2", "30")],
                attachments=[{"id": "f1", "filename": "a.png", "size": 3}])


def test_identical_snapshots_have_no_changes_and_each_file_is_read_once():
    older, newer = Snap(**base()), Snap(**base())
    out = diff_snapshots(older, newer)
    for entity, lists in out.items():
        assert lists["counts"] == {k: 0 for k in lists["counts"]}, entity
        assert lists["truncated"] is False
    assert set(out) == {"tests", "preconditions", "test_sets", "test_plans", "test_executions", "test_runs",
                        "attachments"}
    assert set(out["attachments"]) == {"added", "removed", "counts", "truncated"}
    assert older.reads == newer.reads and set(older.reads.values()) == {1}


def test_added_modified_and_removed_issues_with_the_parts_that_changed():
    old, new = base(), copy.deepcopy(base())
    new["tests"][0]["jira"]["summary"] = "renamed"                        # fields
    new["tests"][1]["steps"][0]["action"] = "changed"                     # steps
    new["tests"][1]["folder"] = {"path": "/Moved"}                        # and folder
    del new["tests"][2]                                                   # removed
    new["tests"].append(a_test("4", "A-4", "new one"))                      # added
    new["test_sets"][0]["tests"] = refs("1", "2")                         # a test joined the set
    out = diff_snapshots(Snap(**old), Snap(**new))
    tests = out["tests"]
    assert tests["added"] == [{"id": "4", "key": "A-4", "summary": "new one"}]
    assert tests["modified"] == [{"id": "1", "key": "A-1", "summary": "renamed", "parts": ["fields"]},
                                 {"id": "2", "key": "A-2", "summary": "s", "parts": ["steps", "folder"]}]
    assert tests["removed"] == [{"id": "3", "key": "A-10", "summary": "s"}]
    assert tests["counts"] == {"added": 1, "modified": 2, "removed": 1}
    assert out["test_sets"]["modified"] == [{"id": "20", "key": "A-20", "summary": "s", "parts": ["tests"]}]


def test_a_removed_item_is_described_as_it_was_in_the_older_snapshot():
    old, new = base(), base()
    old["tests"][2]["jira"]["summary"] = "as it was"
    new["tests"] = new["tests"][:2]
    out = diff_snapshots(Snap(**old), Snap(**new))
    assert out["tests"]["removed"] == [{"id": "3", "key": "A-10", "summary": "as it was"}]


def test_definition_type_and_precondition_changes_are_named():
    old, new = base(), copy.deepcopy(base())
    new["tests"][0].update(testType={"name": "Cucumber"}, steps=[], gherkin="Given x")
    new["tests"][1]["preconditions"] = refs("9")
    out = diff_snapshots(Snap(**old), Snap(**new))
    parts = {i["key"]: i["parts"] for i in out["tests"]["modified"]}
    assert parts == {"A-1": ["steps", "definition", "type"], "A-2": ["preconditions"]}


def test_what_is_not_content_does_not_count_as_a_change():
    old, new = base(), copy.deepcopy(base())
    for record in new["tests"]:
        record["lastModified"] = "2026-02-02T00:00:00Z"
        record["steps"][0]["attachments"][0]["downloadLink"] = "https://elsewhere/f1"
        record["preconditions"]["limit"] = 99  # paging, not content
    new["tests"].reverse()  # file order is not content either
    out = diff_snapshots(Snap(**old), Snap(**new))
    assert out["tests"]["counts"] == {"added": 0, "modified": 0, "removed": 0}


def test_an_unknown_field_is_the_part_other_and_a_move_is_project():
    old, new = base(), copy.deepcopy(base())
    new["tests"][0]["somethingNew"] = 1
    new["tests"][1]["projectId"] = "2"
    parts = {i["key"]: i["parts"] for i in diff_snapshots(Snap(**old), Snap(**new))["tests"]["modified"]}
    assert parts == {"A-1": ["other"], "A-2": ["project"]}


def test_runs_are_reported_with_the_issue_keys_of_their_test_and_execution():
    old, new = base(), copy.deepcopy(base())
    new["test_runs"][0]["status"] = {"name": "FAILED"}
    new["test_runs"].append(run("102", "4", "30"))
    new["tests"].append(a_test("4", "A-4"))
    del new["test_runs"][1]
    # The removed run's test is gone from the newer snapshot too: its key comes from the older one.
    del new["tests"][1]
    older, newer = Snap(**old), Snap(**new)
    runs = diff_snapshots(older, newer)["test_runs"]
    assert runs["added"] == [{"id": "102", "test": "A-4", "testExecution": "A-30"}]
    assert runs["modified"] == [{"id": "100", "test": "A-1", "testExecution": "A-30"}]
    assert runs["removed"] == [{"id": "101", "test": "A-2", "testExecution": "A-30"}]
    assert older.reads["test_runs"] == 2 and newer.reads["test_runs"] == 1  # described removed runs: one more read


def test_attachments_are_added_or_removed_by_id():
    old, new = base(), base()
    new["attachments"] = [{"id": "f2", "filename": "b.txt", "size": 5}]
    out = diff_snapshots(Snap(**old), Snap(**new))["attachments"]
    assert out["added"] == [{"id": "f2", "filename": "b.txt", "size": 5}]
    assert out["removed"] == [{"id": "f1", "filename": "a.png", "size": 3}]
    assert out["counts"] == {"added": 1, "removed": 1}


def test_lists_are_in_key_order_and_capped_with_exact_counts():
    new = base()
    new["tests"] = [a_test(str(i), f"A-{i}") for i in range(250, 0, -1)]
    out = diff_snapshots(Snap(), Snap(**new), limit=7)["tests"]
    assert [i["key"] for i in out["added"]] == [f"A-{i}" for i in range(1, 8)]
    assert out["counts"]["added"] == 250 and out["truncated"] is True
    full = diff_snapshots(Snap(), Snap(**new), limit=250)["tests"]
    assert len(full["added"]) == 250 and full["truncated"] is False
    runs = diff_snapshots(Snap(), Snap(test_runs=[run(str(i), "1", "2") for i in (30, 4, 200, 1)]), limit=3)
    assert [r["id"] for r in runs["test_runs"]["added"]] == ["1", "4", "30"]


def test_a_limit_of_zero_still_counts():
    out = diff_snapshots(Snap(), Snap(**base()), limit=0)
    assert out["tests"]["added"] == [] and out["tests"]["counts"]["added"] == 3 and out["tests"]["truncated"]


@pytest.mark.parametrize("keys, expected", [
    (["A-10", "A-2", "B-1", "A-1"], ["A-1", "A-2", "A-10", "B-1"]),
    (["100", "20", "3"], ["3", "20", "100"]),
])
def test_natural_order(keys, expected):
    assert sorted(keys, key=natural) == expected


def test_a_run_stored_differently_with_the_same_content_is_not_modified():
    old, new = base(), copy.deepcopy(base())
    new["test_runs"][0] = dict(reversed(list(new["test_runs"][0].items())))  # the same run, keys in another order
    new["test_runs"][1]["lastModified"] = "2026-03-03T00:00:00Z"
    older = Snap(**old)
    runs = diff_snapshots(older, Snap(**new))["test_runs"]
    assert runs["counts"] == {"added": 0, "modified": 0, "removed": 0}
    assert older.reads["test_runs"] == 2  # the two were compared by content in one more read
