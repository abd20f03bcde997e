"""The planner, pure: snapshot index + target state + id map in, decisions and warnings out."""
from __future__ import annotations

from app.restore.planner import MapEntry, lookups, plan_restore
from app.restore.scope import select_scope
from app.restore.target import FoundIssue
from tests.unit.restore.records import (ADA, GRACE, folder_tree, holder, index_of, run, target_project, a_test,
                                        view_of)


def decisions(plan) -> dict[tuple[str, str], object]:
    return {(d.entity, d.source_id): d for d in plan.decisions}


def plan_for(records, found=None, mapped=None, keys=None, project=None, accounts=(ADA,)):
    index = index_of(records)
    scope = select_scope(index, {"1"}, keys)
    view = view_of({"1": project or target_project()}, found, accounts)
    return plan_restore(index, scope, view, mapped or {}), index, scope


def test_an_item_still_in_the_target_project_is_existing_and_a_missing_one_is_created():
    plan, _, _ = plan_for({"tests": [a_test("11", "SRC-1"), a_test("12", "SRC-2")]},
                          found={"tests": [FoundIssue("11", "SRC-1", "1")]})
    got = decisions(plan)
    assert got[("tests", "11")].action == "existing" and got[("tests", "11")].target_id == "11"
    assert got[("tests", "12")].action == "create" and got[("tests", "12")].target_id is None
    assert plan.counts["create"]["tests"] == 1 and plan.counts["existing"]["tests"] == 1


def test_an_item_found_in_another_project_is_copied_not_reused():
    plan, _, _ = plan_for({"tests": [a_test("11", "SRC-1")]},
                          found={"tests": [FoundIssue("11", "SRC-1", "1")]}, project=target_project(id="2", key="DST"))
    assert decisions(plan)[("tests", "11")].action == "create"


def test_what_an_earlier_restore_created_counts_as_existing_in_its_project():
    mapped = {("tests", "11"): [MapEntry("1", "created", "99", "SRC-50"), MapEntry("2", "created", "98", "DST-1")]}
    plan, _, _ = plan_for({"tests": [a_test("11", "SRC-1")]}, found={"tests": [FoundIssue("99", "SRC-50", "1")]},
                          mapped=mapped)
    decision = decisions(plan)[("tests", "11")]
    assert (decision.action, decision.target_id, decision.target_key) == ("existing", "99", "SRC-50")


def test_an_existing_holder_missing_a_member_is_re_linked():
    records = {"tests": [a_test("11", "SRC-1"), a_test("12", "SRC-2")],
               "test_sets": [holder("20", "SRC-3", ["11", "12"]), holder("21", "SRC-4", ["11"])]}
    found = {"tests": [FoundIssue("11", "SRC-1", "1")],
             "test_sets": [FoundIssue("20", "SRC-3", "1", members=("11",)), FoundIssue("21", "SRC-4", "1",
                                                                                   members=("11",))]}
    plan, _, _ = plan_for(records, found=found)
    got = decisions(plan)
    assert got[("test_sets", "20")].action == "link"  # SRC-2 will be created and added
    assert got[("test_sets", "21")].action == "existing"
    assert plan.counts["link"]["test_sets"] == 1


def test_a_precondition_link_is_read_from_the_tests_side():
    records = {"tests": [a_test("11", "SRC-1", preconditions=["30"])],
               "preconditions": [{"issueId": "30", "projectId": "1", "jira": holder("30", "SRC-9")["jira"],
                                  "preconditionType": {"name": "Manual"}, "definition": "x", "folder": None,
                                  "tests": {"total": 1, "results": [{"issueId": "11"}]}}]}
    linked = {"tests": [FoundIssue("11", "SRC-1", "1", members=("30",))],
              "preconditions": [FoundIssue("30", "SRC-9", "1")]}
    assert decisions(plan_for(records, found=linked)[0])[("preconditions", "30")].action == "existing"
    unlinked = {"tests": [FoundIssue("11", "SRC-1", "1")], "preconditions": [FoundIssue("30", "SRC-9", "1")]}
    assert decisions(plan_for(records, found=unlinked)[0])[("preconditions", "30")].action == "link"


def test_runs_are_skipped_existing_or_created_from_their_execution_and_test():
    records = {"tests": [a_test("11", "SRC-1"), a_test("12", "SRC-2")],
               "test_executions": [holder("40", "SRC-5", ["11", "12"])],
               "test_runs": [run("r1", "11", "40"), run("r2", "12", "40")]}
    found = {"tests": [FoundIssue("11", "SRC-1", "1")], "test_executions": [FoundIssue("40", "SRC-5", "1",
                                                                                      members=("11",))]}
    plan, _, _ = plan_for(records, found=found)
    got = decisions(plan)
    assert got[("test_runs", "r1")].action == "existing"
    assert got[("test_runs", "r2")].action == "create"  # its test is recreated and put back
    assert got[("test_executions", "40")].action == "link"

    keys_only, _, _ = plan_for({**records, "test_executions": [holder("40", "SRC-5", ["11", "12"])]},
                               found={"tests": [FoundIssue("11", "SRC-1", "1")]}, keys=["SRC-2"])
    skipped = decisions(keys_only)[("test_runs", "r2")]
    assert skipped.action == "skip" and "test execution" in skipped.reason
    assert any(w.startswith("SRC-2 in SRC-5 (test run)") for w in keys_only.warnings)


def test_what_the_target_lacks_is_named_per_item_and_nothing_dropped_silently():
    test = a_test("11", "", type_name="Cucumber", assignee={"accountId": GRACE},
                       components=[{"name": "API"}, {"name": "UI"}], fixVersions=[{"name": "9.9"}],
                       status={"name": "Done"}, summary="",
                       steps=[{"customFields": [{"id": "cf-1", "name": "Browser", "value": "x"}]}])
    test["jira"]["key"] = "SRC-1"
    test["dataset"] = {"rows": [{}, {}]}
    project = target_project(types={"Manual": "Steps"})
    plan, _, _ = plan_for({"tests": [test]}, project=project)
    [warning] = [w for w in plan.warnings if w.startswith("SRC-1 (test)")]
    for words in ('empty summary', 'test type "Cucumber" (created as "Manual")', f"assignee {GRACE}",
                  'component "UI"', 'fix version "9.9"', '"Browser"', 'workflow status "Done"', "dataset (2 rows)"):
        assert words in warning, words
    assert 'component "API"' not in warning
    assert plan.warnings[0].startswith("Xray's API cannot set issue keys")


def test_folders_missing_in_the_target_are_created_and_existing_items_go_back_into_them():
    records = {"tests": [a_test("11", "SRC-1", folder="/A/B"), a_test("12", "SRC-2", folder="/C")],
               "folders": [folder_tree("1", "/A/B", "/C", "/Empty")]}
    found = {"tests": [FoundIssue("11", "SRC-1", "1", folder="/"), FoundIssue("12", "SRC-2", "1", folder="/C")]}
    plan, _, _ = plan_for(records, found=found, project=target_project(folders={"/C"}))
    assert plan.folders == {"1": ["/A", "/A/B", "/Empty"]}
    assert plan.counts["create"]["folders"] == 3 and plan.counts["existing"]["folders"] == 1
    refiled = decisions(plan)[("tests", "11")]
    assert refiled.action == "link" and refiled.reason == "Put back into its folder /A/B."
    assert decisions(plan)[("tests", "12")].action == "existing"


def test_by_key_only_the_folders_of_created_items_are_needed():
    records = {"tests": [a_test("11", "SRC-1", folder="/A/B"), a_test("12", "SRC-2", folder="/C")],
               "folders": [folder_tree("1", "/A/B", "/C")]}
    plan, _, scope = plan_for(records, keys=["SRC-1"])
    assert scope.items["tests"] == ["11"]
    assert plan.folders == {"1": ["/A", "/A/B"]}


def test_a_folder_whose_name_holds_a_slash_is_named_and_its_items_go_to_the_nearest_ancestor():
    tree = folder_tree("1", "/Pay")
    tree["folders"][0]["folders"].append({"name": "a/b", "path": "/Pay/a/b", "folders": [
        {"name": "c", "path": "/Pay/a/b/c", "folders": []}]})
    plan, index, _ = plan_for({"tests": [a_test("11", "SRC-1", folder="/Pay/a/b/c")], "folders": [tree]})
    assert plan.folders == {"1": ["/Pay"]}
    assert index.folder_for("1", "/Pay/a/b/c") == "/Pay"
    assert any("Folder /Pay/a/b of project SRC is not restored" in w for w in plan.warnings)
    assert any(w.startswith("SRC-1 (test)") and "created in /Pay" in w for w in plan.warnings)


def test_lookups_ask_for_the_items_their_links_and_what_restores_made_of_them():
    records = {"tests": [a_test("11", "SRC-1")], "test_sets": [holder("20", "SRC-3", ["11", "77"])]}
    index = index_of(records)
    scope = select_scope(index, {"1"}, ["SRC-1"])
    wanted = lookups(index, scope, {("tests", "11"): [MapEntry("1", "created", "99", "SRC-9")]})
    assert wanted["tests"] == {"11", "99"} and wanted["test_sets"] == {"20"}  # not 77: neither side in scope


def test_the_plan_json_has_the_contract_shape():
    plan, _, _ = plan_for({"tests": [a_test("11", "SRC-1")]})
    body = plan.to_json()
    assert set(body) == {"create", "existing", "link", "warnings"}
    assert set(body["create"]) == {"tests", "preconditions", "test_sets", "test_plans", "test_executions",
                                   "test_runs", "folders"}
