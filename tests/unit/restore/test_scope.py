"""The compact snapshot index and the scope of a request: pure."""
from __future__ import annotations

from app.restore.scope import ancestors, folder_paths, issue_item, select_scope, source_run
from tests.unit.restore.records import a_test, folder_tree, holder, index_of, run


def test_a_test_record_becomes_a_compact_item_naming_what_cannot_come_back():
    record = a_test("11", "SRC-1", preconditions=["30", "31"], folder="/A", assignee={"accountId": "acc"},
                    components=[{"name": "API"}], fixVersions=[{"name": "1.0"}], status={"name": "Done"},
                    steps=[{"customFields": [{"name": "Browser"}], "attachments": [{"storedInJira": True}]},
                           {"callTestIssueId": "12"}])
    record["dataset"] = {"rows": [{}, {}, {}]}
    item = issue_item("tests", record)
    assert (item.id, item.key, item.project_id, item.members, item.folder) == ("11", "SRC-1", "1", ("30", "31"), "/A")
    assert (item.accounts, item.components, item.versions, item.status) == (("acc",), ("API",), ("1.0",), "Done")
    assert item.step_fields == ("Browser",) and item.steps == 2
    assert "its dataset (3 rows)" in item.notes and any("stored in Jira" in n for n in item.notes)


def test_a_run_has_results_only_when_it_moved_past_a_fresh_runs_defaults():
    assert not source_run(run("r", "1", "2", status="TODO")).has_results
    assert source_run(run("r", "1", "2", status="PASSED")).has_results
    assert source_run(run("r", "1", "2", status="TODO", comment="")).has_results
    stepped = run("r", "1", "2", status="TODO", steps=[{"status": {"name": "TODO"}, "evidence": [{"id": "e"}]}])
    assert source_run(stepped).has_results
    noted = source_run(run("r", "1", "2", iterations={"total": 4}, results=[{}], executedById="a",
                           customFields=[{"name": "Build", "values": ["1"]}, {"name": "Empty", "values": None}]))
    assert noted.accounts == ("a",) and noted.run_fields == ("Build",)
    assert any("4 iteration results" in n for n in noted.notes) and any("Cucumber" in n for n in noted.notes)


def test_folder_paths_come_parents_first_and_a_name_with_a_slash_cannot_be_recreated():
    tree = folder_tree("1", "/A/B", "/C")
    tree["folders"][0]["folders"].append({"name": "x/y", "path": "/A/x/y", "folders": [
        {"name": "z", "path": "/A/x/y/z", "folders": []}]})
    paths, bad = folder_paths(tree)
    assert paths == ["/A", "/A/B", "/C"]
    assert bad == {"/A/x/y": "/A", "/A/x/y/z": "/A"}
    assert ancestors("/A/B") == ["/A", "/A/B"] and ancestors("/") == [] and ancestors(None) == []


def test_a_scope_by_project_takes_everything_and_by_key_the_items_and_their_runs():
    records = {"tests": [a_test("11", "SRC-1", folder="/A/B"), a_test("12", "SRC-2")],
               "test_sets": [holder("20", "SRC-3", ["11"])],
               "test_executions": [holder("40", "SRC-5", ["11", "12"])],
               "test_runs": [run("r1", "11", "40"), run("r2", "12", "40")],
               "folders": [folder_tree("1", "/A/B", "/Empty")]}
    index = index_of(records)
    whole = select_scope(index, {"1"}, None)
    assert whole.items["tests"] == ["11", "12"] and whole.runs == ["r1", "r2"] and whole.whole_projects
    assert whole.folders == {"1": ["/A", "/A/B", "/Empty"]}
    by_key = select_scope(index, {"1"}, ["SRC-1"])
    assert by_key.items["tests"] == ["11"] and by_key.items["test_sets"] == [] and by_key.runs == ["r1"]
    assert by_key.folders == {"1": ["/A", "/A/B"]}
    execution = select_scope(index, {"1"}, ["SRC-5"])
    assert execution.runs == ["r1", "r2"] and execution.items["test_executions"] == ["40"]
    assert select_scope(index, {"2"}, None).items["tests"] == []
    assert index.find_key("SRC-3").id == "20"
