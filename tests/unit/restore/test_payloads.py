"""What recreates an item, built from its record: pure, checked field by field."""
from __future__ import annotations

import base64

from app.restore.payloads import (BuildContext, bulk_element, bulk_ready, found_fingerprint, holder_arguments,
                                  intended_fingerprint, jira_fields, precondition_arguments, run_fields, run_result,
                                  summary_for, arguments_for_test)
from tests.unit.restore.records import ADA, GRACE, a_test, holder, run, target_project

FILES = {"att-1": b"\x00\x01 step file", "ev-1": b"evidence bytes"}


def context(**overrides) -> BuildContext:
    values = dict(project=target_project(key="DST"), accounts={ADA}, stored=set(FILES),
                  attachment=FILES.__getitem__, resolve=lambda entity, source: {"77": "770"}.get(source))
    values.update(overrides)
    return BuildContext(**values)


def test_an_empty_summary_gets_a_placeholder_naming_the_old_key():
    assert summary_for("", "ALPHA-3") == "(no summary: restored from ALPHA-3)"
    assert summary_for("   ", None).startswith("(no summary")
    assert summary_for("Kept", "ALPHA-3") == "Kept"


def test_jira_fields_keep_what_the_target_accepts_and_leave_out_the_rest():
    record = holder("1", "SRC-1", summary="S", description="", labels=["a"], priority={"name": "High"},
                    assignee={"accountId": GRACE}, components=[{"name": "API"}, {"name": "UI"}],
                    fixVersions=[{"name": "1.0"}, {"name": "2.0"}])
    fields = jira_fields(record, context())
    assert fields == {"project": {"key": "DST"}, "summary": "S", "description": "", "labels": ["a"],
                      "priority": {"name": "High"}, "components": [{"name": "API"}], "fixVersions": [{"name": "1.0"}]}
    record["jira"]["assignee"] = {"accountId": ADA}
    record["jira"]["description"] = None
    fields = jira_fields(record, context())
    assert fields["assignee"] == {"accountId": ADA} and "description" not in fields


def test_a_manual_test_keeps_its_steps_files_and_custom_fields_mapped_by_name():
    steps = [{"action": "Open", "data": None, "result": "", "callTestIssueId": "77",
              "attachments": [{"id": "att-1", "filename": "shot.png", "storedInJira": False},
                              {"id": "jira-1", "filename": "old.pdf", "storedInJira": True}],
              "customFields": [{"id": "cf-1", "name": "Expected duration", "value": 5},
                               {"id": "cf-2", "name": "Browser", "value": ["x"]}]}]
    record = a_test("1", "SRC-1", folder="/A", steps=steps)
    args = arguments_for_test(record, context(), ["500"])
    assert args["testType"] == {"name": "Manual"} and args["folderPath"] == "/A"
    assert args["preconditionIssueIds"] == ["500"]
    [step] = args["steps"]
    assert (step["action"], step["data"], step["result"]) == ("Open", None, "")
    assert step["attachments"] == [{"data": base64.b64encode(FILES["att-1"]).decode(), "filename": "shot.png",
                                    "mimeType": "image/png"}]
    assert step["customFields"] == [{"id": "cf-1-1", "value": 5}]  # "Browser" is not a field of the target
    assert step["callTestIssueId"] == "770"
    assert "gherkin" not in args and "unstructured" not in args


def test_a_test_whose_type_the_target_lacks_takes_the_default_and_only_its_kinds_definition():
    record = a_test("1", "SRC-1", type_name="Cucumber")
    record["gherkin"] = "Given x"
    args = arguments_for_test(record, context(project=target_project(types={"Manual": "Steps"})), [])
    assert args["testType"] == {"name": "Manual"} and "gherkin" not in args and args["steps"] == []
    kept = arguments_for_test(record, context(), [])
    assert kept["gherkin"] == "Given x" and "steps" not in kept


def test_the_bulk_import_takes_a_test_only_when_it_keeps_it_whole():
    plain = a_test("1", "SRC-1", steps=[{"action": "a", "data": "d", "result": "r", "customFields": []}])
    assert bulk_ready(plain, context())
    with_field = a_test("1", "SRC-1", steps=[{"action": "a", "customFields": [{"name": "Expected duration",
                                                                                  "value": 1}]}])
    assert not bulk_ready(with_field, context())
    assert bulk_ready(with_field, context(project=target_project(step_fields={})))  # dropped anyway
    assert not bulk_ready(a_test("1", "SRC-1", steps=[{"action": "a", "callTestIssueId": "9"}]), context())
    empty = a_test("1", "SRC-1", type_name="Generic")
    empty["unstructured"] = ""
    assert not bulk_ready(empty, context())  # the import would drop an empty definition

    args = arguments_for_test(plain, context(), ["500"])
    element = bulk_element(args)
    assert element == {"fields": args["jira"]["fields"], "testtype": "Manual", "steps": args["steps"],
                       "xray_preconditions": ["500"]}


def test_preconditions_and_holders_take_their_links_at_creation():
    pre = {"issueId": "3", "projectId": "1", "jira": holder("3", "SRC-3")["jira"],
           "preconditionType": {"name": "Manual"}, "definition": "", "folder": {"path": "/A"}}
    args = precondition_arguments(pre, context(), ["11"])
    assert args["definition"] == "" and args["folderPath"] == "/A" and args["testIssueIds"] == ["11"]
    execution = holder("4", "SRC-4", ["11"])
    execution["testEnvironments"] = ["Chrome"]
    assert holder_arguments("test_executions", execution, context(), ["110"])["testEnvironments"] == ["Chrome"]
    assert "testEnvironments" not in holder_arguments("test_sets", holder("5", "SRC-5"), context(), [])


def test_an_item_read_back_has_the_fingerprint_its_arguments_promised():
    record = a_test("1", "SRC-1", summary="Pay", description=None, labels=["x"],
                    steps=[{"action": "a", "data": None, "result": "r"}])
    args = arguments_for_test(record, context(), [])
    read_back = {"issueId": "9", "jira": {"summary": "Pay", "description": None, "labels": ["x"]},
                 "testType": {"kind": "Steps"}, "steps": [{"action": "a", "data": None, "result": "r"}],
                 "gherkin": None, "unstructured": None}
    assert found_fingerprint("tests", read_back) == intended_fingerprint("tests", args, "Steps")
    read_back["steps"][0]["result"] = "other"
    assert found_fingerprint("tests", read_back) != intended_fingerprint("tests", args, "Steps")


def test_a_run_result_records_what_was_set_and_leaves_a_fresh_runs_defaults_alone():
    record = run("r1", "11", "40", status="FAILED", comment="", startedOn="2025-01-01T10:00:00.000Z",
                 executedById=ADA, assigneeId=GRACE, defects=["20001"],
                 evidence=[{"id": "ev-1", "filename": "log.txt"}, {"id": "jira-2", "filename": "x", "storedInJira": True}],
                 steps=[{"status": {"name": "PASSED"}, "comment": None, "actualResult": "ok", "defects": [],
                         "evidence": []},
                        {"status": {"name": "TODO"}, "comment": None, "actualResult": None, "defects": [],
                         "evidence": []}],
                 customFields=[{"id": "rcf-9", "name": "Build", "values": ["1.2"]},
                               {"id": "rcf-8", "name": "Other", "values": ["x"]}])
    entry = run_result(record, "DST-7", context(), step_count=2)
    assert entry == {"testKey": "DST-7", "status": "FAILED", "comment": "", "start": "2025-01-01T10:00:00.000Z",
                     "executedBy": ADA, "defects": ["20001"],
                     "evidence": [{"data": base64.b64encode(FILES["ev-1"]).decode(), "filename": "log.txt",
                                   "contentType": "text/plain"}],
                     "steps": [{"status": "PASSED", "actualResult": "ok"}]}  # the TODO step is a fresh default
    assert "assignee" not in entry  # not a user of this site
    assert run_result(record, "DST-7", context(), step_count=0).get("steps") is None
    assert run_fields(record, target_project()) == [{"id": "rcf-1", "value": ["1.2"]}]
