"""Snapshot records and target states written by hand for the restore's pure cores (not a test module)."""
from __future__ import annotations

from app.restore.scope import SourceIndex
from app.restore.target import FoundIssue, TargetProject, TargetView

ADA, GRACE = "acc-ada", "acc-grace"


def jira(key: str, summary: str = "A summary", **fields) -> dict:
    base = {"key": key, "summary": summary, "description": None, "labels": [], "priority": {"name": "Medium"},
            "status": {"name": "To Do"}, "assignee": None, "reporter": {"accountId": ADA}, "components": [],
            "fixVersions": []}
    base.update(fields)
    return base


def refs(*ids: str) -> dict:
    return {"total": len(ids), "results": [{"issueId": i} for i in ids]}


def a_test(issue_id: str, key: str, *, project="1", preconditions=(), folder=None, type_name="Manual",
                steps=(), **jira_fields) -> dict:
    return {"issueId": issue_id, "projectId": project, "jira": jira(key, **jira_fields),
            "testType": {"name": type_name, "kind": {"Manual": "Steps", "Cucumber": "Gherkin"}.get(type_name, "Unstructured")},
            "steps": list(steps), "gherkin": None, "unstructured": None,
            "folder": {"name": folder.rsplit("/", 1)[-1], "path": folder} if folder else None, "dataset": None,
            "preconditions": refs(*preconditions)}


def holder(issue_id: str, key: str, tests=(), *, project="1", executions=None, **jira_fields) -> dict:
    record = {"issueId": issue_id, "projectId": project, "jira": jira(key, **jira_fields), "tests": refs(*tests)}
    if executions is not None:
        record["testExecutions"] = refs(*executions)
    return record


def run(run_id: str, test: str, execution: str, status: str = "PASSED", **fields) -> dict:
    record = {"id": run_id, "status": {"name": status}, "comment": None, "startedOn": None, "finishedOn": None,
              "assigneeId": None, "executedById": None, "defects": [], "evidence": [], "customFields": [],
              "steps": [], "iterations": {"total": 0, "results": []}, "results": [], "examples": [],
              "test": {"issueId": test}, "testExecution": {"issueId": execution}}
    record.update(fields)
    return record


def folder_tree(project: str, *paths: str) -> dict:
    root = {"projectId": project, "name": "", "path": "/", "folders": []}
    for path in paths:
        node, parts = root, [p for p in path.split("/") if p]
        for depth, part in enumerate(parts):
            child = next((c for c in node["folders"] if c["name"] == part), None)
            if child is None:
                child = {"name": part, "path": "/" + "/".join(parts[:depth + 1]), "folders": []}
                node["folders"].append(child)
            node = child
    return root


def index_of(records: dict[str, list[dict]], projects=({"id": "1", "key": "SRC", "name": "Source"},)) -> SourceIndex:
    index = SourceIndex(projects={p["id"]: p for p in projects})
    for entity, items in records.items():
        for record in items:
            index.add(entity, record)
    return index


def target_project(**overrides) -> TargetProject:
    values = dict(id="1", key="SRC", types={"Manual": "Steps", "Cucumber": "Gherkin", "Generic": "Unstructured"},
                  default_type="Manual", step_fields={"Expected duration": "cf-1-1"}, run_fields={"Build": "rcf-1"},
                  components={"API"}, versions={"1.0"})
    values.update(overrides)
    return TargetProject(**values)


def view_of(projects: dict, found: dict[str, list[FoundIssue]] | None = None, accounts=(ADA,)) -> TargetView:
    view = TargetView(projects=projects, accounts=set(accounts))
    for entity, issues in (found or {}).items():
        view.found[entity] = {i.id: i for i in issues}
    return view
