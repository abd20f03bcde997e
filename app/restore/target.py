"""What the target holds, in the shapes the planner reads: Jira projects, Xray settings, issues found by id.

The dataclasses are plain values (the planner is pure); `read_target` fills them with cheap reads — one settings
query per target project, Jira's components, versions and user look-ups, and `issueIds` look-ups of 100 at a
time — all through the tenant's paced client.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from .documents import ALL, BY_IDS, MEMBER_PAGES

logger = logging.getLogger(__name__)

LOOKUP_BATCH = 100


@dataclass
class TargetProject:
    id: str
    key: str
    name: str = ""
    types: dict[str, str] = field(default_factory=dict)        # test type name -> kind
    default_type: str | None = None                            # the default test type's name
    step_fields: dict[str, str] = field(default_factory=dict)  # step custom field name -> id
    run_fields: dict[str, str] = field(default_factory=dict)   # test run custom field name -> id
    folders: set[str] = field(default_factory=set)
    components: set[str] = field(default_factory=set)
    versions: set[str] = field(default_factory=set)

    def kind_of(self, type_name: str | None) -> str | None:
        return self.types.get(type_name or "") or self.types.get(self.default_type or "")


@dataclass
class FoundIssue:
    id: str
    key: str | None
    project_id: str
    members: tuple[str, ...] = ()      # a holder's tests; a test's preconditions
    executions: tuple[str, ...] = ()   # a plan's test executions
    folder: str | None = None
    steps: int = 0


@dataclass
class TargetView:
    projects: dict[str, TargetProject] = field(default_factory=dict)   # by the SNAPSHOT project's id
    found: dict[str, dict[str, FoundIssue]] = field(default_factory=dict)
    accounts: set[str] = field(default_factory=set)
    asked_accounts: set[str] = field(default_factory=set)

    def issue(self, entity: str, target_id: str | None) -> FoundIssue | None:
        return self.found.get(entity, {}).get(target_id) if target_id else None


def folder_tree_paths(node) -> set[str]:
    """Every folder path of a `getFolder` tree (the root left out)."""
    out: set[str] = set()

    def walk(current) -> None:
        for child in (current or {}).get("folders") or []:
            if isinstance(child, dict) and child.get("path"):
                out.add(child["path"])
                walk(child)

    walk(node)
    return out


def read_project(client, jira, source_project_id: str, target: dict) -> TargetProject:
    """A target project's Xray settings and folders (one query) and its Jira components and versions."""
    data = client.graphql("RestoreProjectState", ALL["RestoreProjectState"], {"projectId": target["id"]})
    settings = data.get("settings") or {}
    type_settings = settings.get("testTypeSettings") or {}
    types = {t["name"]: t.get("kind") for t in type_settings.get("testTypes") or [] if t.get("name")}
    default = next((t["name"] for t in type_settings.get("testTypes") or []
                    if t.get("id") == type_settings.get("defaultTestTypeId")), None)
    return TargetProject(
        id=str(target["id"]), key=target["key"], name=target.get("name") or "", types=types, default_type=default,
        step_fields={f["name"]: f["id"] for f in (settings.get("testStepSettings") or {}).get("fields") or []
                     if f.get("name") and f.get("id")},
        run_fields={f["name"]: f["id"] for f in (settings.get("testRunCustomFieldSettings") or {}).get("fields") or []
                    if f.get("name") and f.get("id")},
        folders=folder_tree_paths(data.get("folder")),
        components=jira.component_names(target["key"]), versions=jira.version_names(target["key"]),
    )


def refresh_folders(client, project: TargetProject) -> set[str]:
    """Read a target project's folder paths again (after creating folders, or to resume)."""
    data = client.graphql("RestoreProjectState", ALL["RestoreProjectState"], {"projectId": project.id})
    project.folders = folder_tree_paths(data.get("folder"))
    return project.folders


def _refs(connection) -> list[str]:
    return [str(r["issueId"]) for r in (connection or {}).get("results") or [] if r.get("issueId")]


def _complete(client, entity: str, issue_id: str, relation: str, connection) -> tuple[str, ...]:
    """A relation read whole: what came inline, then the rest page by page."""
    ids = _refs(connection)
    total = (connection or {}).get("total") or 0
    name, root = MEMBER_PAGES[(entity, relation)]
    while len(ids) < total:
        page = client.graphql(name, ALL[name], {"issueId": issue_id, "start": len(ids)})[root][relation]
        more = _refs(page)
        if not more:
            break
        ids.extend(more)
    return tuple(ids)


def look_up(client, entity: str, ids, view: TargetView) -> None:
    """Find which of these issue ids exist (any project), with their relations; record them in the view."""
    wanted = sorted({i for i in ids if i})
    found = view.found.setdefault(entity, {})
    name, root = BY_IDS[entity]
    for first in range(0, len(wanted), LOOKUP_BATCH):
        batch = wanted[first:first + LOOKUP_BATCH]
        page = client.graphql(name, ALL[name], {"issueIds": batch})[root] or {}
        for record in page.get("results") or []:
            issue_id = str(record["issueId"])
            item = FoundIssue(id=issue_id, key=(record.get("jira") or {}).get("key"),
                              project_id=str(record.get("projectId")),
                              folder=(record.get("folder") or {}).get("path"),
                              steps=len(record.get("steps") or []))
            if entity == "tests":
                item.members = _complete(client, entity, issue_id, "preconditions", record.get("preconditions"))
            elif entity != "preconditions":
                item.members = _complete(client, entity, issue_id, "tests", record.get("tests"))
            if entity == "test_plans":
                item.executions = _complete(client, entity, issue_id, "testExecutions", record.get("testExecutions"))
            found[issue_id] = item


def existing_accounts(jira, account_ids) -> set[str]:
    """The accounts Jira still knows, of those the snapshot names."""
    wanted = {a for a in account_ids if a}
    return jira.existing_accounts(wanted) if wanted else set()
