"""The snapshot's items in compact form, and the part of them one restore request covers. Pure.

A `SourceItem` keeps what planning needs of an issue (ids, key, project, relations, the people, components,
versions and types it names, what cannot come back); a `SourceRun` the same for a test run. Step texts,
attachments and results stay in the snapshot until the applier streams them.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..catalogue import ISSUE_ENTITIES

# The order a restore works in: what an item refers to exists before it.
ORDER = ("preconditions", "tests", "test_sets", "test_plans", "test_executions")
DEFAULT_RUN_STATUS = "TODO"


@dataclass
class SourceItem:
    entity: str
    id: str
    key: str | None
    project_id: str
    summary: str = ""
    members: tuple[str, ...] = ()      # tests of a set, plan, execution or precondition; a test's preconditions
    executions: tuple[str, ...] = ()   # a plan's test executions
    folder: str | None = None          # a test's or precondition's folder path
    type_name: str | None = None       # test type (precondition type) name
    status: str | None = None          # Jira workflow status
    accounts: tuple[str, ...] = ()     # the assignee
    components: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    step_fields: tuple[str, ...] = ()  # names of the step custom fields its steps use
    steps: int = 0                     # a test's steps
    notes: tuple[str, ...] = ()        # what cannot be restored, known from the record alone


@dataclass
class SourceRun:
    id: str
    test: str
    execution: str
    status: str = DEFAULT_RUN_STATUS
    accounts: tuple[str, ...] = ()     # assignee and executed-by
    run_fields: tuple[str, ...] = ()   # names of run custom fields holding values
    has_results: bool = False          # anything beyond a fresh run's defaults
    notes: tuple[str, ...] = ()


@dataclass
class SourceIndex:
    """Every issue and run of a snapshot, compact, by entity and id; projects by id."""

    projects: dict[str, dict] = field(default_factory=dict)
    items: dict[str, dict[str, SourceItem]] = field(default_factory=lambda: {e: {} for e in ISSUE_ENTITIES})
    runs: dict[str, SourceRun] = field(default_factory=dict)
    folders: dict[str, list[str]] = field(default_factory=dict)  # project id -> folder paths, parents first
    # project id -> {path Xray cannot recreate: its nearest ancestor that can be}
    bad_folders: dict[str, dict[str, str]] = field(default_factory=dict)
    stored_files: set[str] = field(default_factory=set)           # attachment ids whose bytes are in the snapshot

    def add(self, entity: str, record: dict) -> None:
        """Index one record of an entity file."""
        if entity in ISSUE_ENTITIES:
            item = issue_item(entity, record)
            self.items[entity][item.id] = item
        elif entity == "test_runs":
            run = source_run(record)
            self.runs[run.id] = run
        elif entity == "folders":
            paths, bad = folder_paths(record)
            self.folders[str(record.get("projectId"))] = paths
            self.bad_folders[str(record.get("projectId"))] = bad

    def folder_for(self, project_id: str, path: str | None) -> str | None:
        """Where an item of that folder goes: the folder itself, or its nearest ancestor Xray can recreate."""
        return (self.bad_folders.get(project_id) or {}).get(path, path) if path else path

    def find_key(self, key: str) -> SourceItem | None:
        for entity in ORDER:
            for item in self.items[entity].values():
                if item.key == key:
                    return item
        return None


def _refs(connection) -> tuple[str, ...]:
    results = (connection or {}).get("results") or [] if isinstance(connection, dict) else []
    return tuple(str(r["issueId"]) for r in results if isinstance(r, dict) and r.get("issueId"))


def _names(values) -> tuple[str, ...]:
    return tuple(str(v.get("name")) for v in values or [] if isinstance(v, dict) and v.get("name"))


def _account(person) -> tuple[str, ...]:
    if isinstance(person, dict) and person.get("accountId"):
        return (str(person["accountId"]),)
    return ()


def issue_item(entity: str, record: dict) -> SourceItem:
    """The compact form of an issue record (test, precondition, set, plan or execution)."""
    jira = record.get("jira") or {}
    item = SourceItem(
        entity=entity, id=str(record["issueId"]), key=jira.get("key"), project_id=str(record.get("projectId")),
        summary=jira.get("summary") or "", status=(jira.get("status") or {}).get("name"),
        accounts=_account(jira.get("assignee")), components=_names(jira.get("components")),
        versions=_names(jira.get("fixVersions")),
    )
    notes: list[str] = []
    if entity == "tests":
        item.members = _refs(record.get("preconditions"))
        item.folder = (record.get("folder") or {}).get("path")
        item.type_name = (record.get("testType") or {}).get("name")
        fields, jira_files, calls = set(), 0, 0
        for step in record.get("steps") or []:
            fields.update(c.get("name") for c in step.get("customFields") or [] if c.get("name"))
            jira_files += sum(1 for a in step.get("attachments") or [] if a.get("storedInJira"))
            calls += 1 if step.get("callTestIssueId") else 0
        item.step_fields = tuple(sorted(fields))
        item.steps = len(record.get("steps") or [])
        rows = len(((record.get("dataset") or {}).get("rows")) or [])
        if record.get("dataset"):
            notes.append(f"its dataset ({rows} row{'' if rows == 1 else 's'})")
        if jira_files:
            notes.append(f"{jira_files} step attachment{'' if jira_files == 1 else 's'} stored in Jira "
                         "(not in the snapshot)")
    elif entity == "preconditions":
        item.members = _refs(record.get("tests"))
        item.folder = (record.get("folder") or {}).get("path")
        item.type_name = (record.get("preconditionType") or {}).get("name")
    else:
        item.members = _refs(record.get("tests"))
        if entity == "test_plans":
            item.executions = _refs(record.get("testExecutions"))
            if record.get("folders") and (record["folders"].get("folders") or []):
                notes.append("its test plan folders")
    item.notes = tuple(notes)
    return item


def _has_results(record: dict) -> bool:
    if (record.get("status") or {}).get("name", DEFAULT_RUN_STATUS) != DEFAULT_RUN_STATUS:
        return True
    if any(record.get(k) is not None for k in ("comment", "startedOn", "finishedOn", "executedById", "assigneeId")):
        return True
    if record.get("defects") or record.get("evidence"):
        return True
    for step in record.get("steps") or []:
        if (step.get("status") or {}).get("name", DEFAULT_RUN_STATUS) != DEFAULT_RUN_STATUS:
            return True
        if step.get("comment") is not None or step.get("actualResult") is not None:
            return True
        if step.get("defects") or step.get("evidence"):
            return True
    return False


def source_run(record: dict) -> SourceRun:
    """The compact form of a test run record."""
    accounts = tuple(str(record[k]) for k in ("assigneeId", "executedById") if record.get(k))
    notes = []
    iterations = (record.get("iterations") or {}).get("total") or 0
    if iterations:
        notes.append(f"its {iterations} iteration result{'' if iterations == 1 else 's'}")
    if record.get("results") or record.get("examples"):
        notes.append("its Cucumber results and examples")
    in_jira = sum(1 for e in record.get("evidence") or [] if e.get("storedInJira"))
    in_jira += sum(1 for s in record.get("steps") or [] for e in s.get("evidence") or [] if e.get("storedInJira"))
    if in_jira:
        notes.append(f"{in_jira} evidence file{'' if in_jira == 1 else 's'} stored in Jira (not in the snapshot)")
    return SourceRun(
        id=str(record["id"]), test=str((record.get("test") or {}).get("issueId")),
        execution=str((record.get("testExecution") or {}).get("issueId")),
        status=(record.get("status") or {}).get("name") or DEFAULT_RUN_STATUS, accounts=accounts,
        run_fields=tuple(sorted(c.get("name") for c in record.get("customFields") or []
                                if c.get("name") and c.get("values") not in (None, []))),
        has_results=_has_results(record), notes=tuple(notes),
    )


def folder_paths(node: dict) -> tuple[list[str], dict[str, str]]:
    """The folder paths under a project's root node, parents before children (the root left out), and apart
    those Xray cannot recreate — a folder whose name holds a "/" (a path cannot name it) and what is inside it —
    each with its nearest ancestor that can be."""
    out: list[str] = []
    bad: dict[str, str] = {}

    def walk(current: dict, good_ancestor: str, broken: bool) -> None:
        for child in current.get("folders") or []:
            if isinstance(child, dict) and child.get("path"):
                child_broken = broken or "/" in str(child.get("name") or "")
                if child_broken:
                    bad[child["path"]] = good_ancestor
                else:
                    out.append(child["path"])
                walk(child, good_ancestor if child_broken else child["path"], child_broken)

    walk(node or {}, "/", False)
    return out, bad


def ancestors(path: str | None) -> list[str]:
    """A folder path and its parents, parents first (`/a/b` → `/a`, `/a/b`); nothing for the root or None."""
    if not path or path == "/":
        return []
    parts = [p for p in path.split("/") if p]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


@dataclass
class Scope:
    """What one request covers: issue ids per entity, run ids, and folder paths per snapshot project."""

    items: dict[str, list[str]]
    runs: list[str]
    folders: dict[str, list[str]]
    whole_projects: bool


def select_scope(index: SourceIndex, project_ids: set[str], issue_keys: list[str] | None) -> Scope:
    """The items of the chosen snapshot projects; with issue keys, those items and the runs of selected tests."""
    chosen: dict[str, list[str]] = {e: [] for e in ORDER}
    if issue_keys:
        keys = set(issue_keys)
        for entity in ORDER:
            chosen[entity] = [i.id for i in index.items[entity].values()
                              if i.key in keys and i.project_id in project_ids]
        tests = set(chosen["tests"])
        executions = set(chosen["test_executions"])
        runs = [r.id for r in index.runs.values() if r.test in tests or r.execution in executions]
        folders: dict[str, list[str]] = {}
        for entity in ("preconditions", "tests"):
            for item_id in chosen[entity]:
                item = index.items[entity][item_id]
                paths = folders.setdefault(item.project_id, [])
                paths.extend(p for p in ancestors(index.folder_for(item.project_id, item.folder)) if p not in paths)
        return Scope(chosen, runs, folders, whole_projects=False)
    for entity in ORDER:
        chosen[entity] = [i.id for i in index.items[entity].values() if i.project_id in project_ids]
    executions = set(chosen["test_executions"])
    runs = [r.id for r in index.runs.values() if r.execution in executions]
    folders = {pid: list(paths) for pid, paths in index.folders.items() if pid in project_ids}
    return Scope(chosen, runs, folders, whole_projects=True)
