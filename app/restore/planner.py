"""The plan: for every item in scope, create it, find it existing, re-link it, or skip it — and everything the
target lacks or Xray's API cannot set, named per item in `warnings`. Pure: the snapshot index, what the target
holds and the tenant's id map go in; a `Plan` comes out. A dry run is exactly this plan.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .payloads import summary_for, type_for_test
from .relations import made_at_creation, relation_pairs
from .scope import ORDER, Scope, SourceIndex, SourceItem, ancestors
from .target import TargetView

PLAN_ENTITIES = (*ORDER, "test_runs", "folders")
SINGULAR = {"tests": "test", "preconditions": "precondition", "test_sets": "test set", "test_plans": "test plan",
            "test_executions": "test execution", "test_runs": "test run"}
INITIAL_STATUSES = {"To Do", "Open", "Backlog"}
MISSING = "missing"


@dataclass
class MapEntry:
    """One row of the tenant's id map, as the planner sees it."""

    target_project: str
    state: str  # creating | created
    target_id: str | None
    target_key: str | None


@dataclass
class Decision:
    entity: str
    source_id: str
    source_key: str | None
    source_project: str | None  # the snapshot project's key
    target_project: str | None  # the target project's id
    action: str  # create | existing | link | skip
    target_id: str | None = None
    target_key: str | None = None
    reason: str | None = None


@dataclass
class Plan:
    decisions: list[Decision] = field(default_factory=list)
    folders: dict[str, list[str]] = field(default_factory=dict)  # target project id -> paths to create
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        """The plan as `GET /api/restores/<id>` shows it."""
        return {**{k: dict(v) for k, v in self.counts.items()}, "warnings": list(self.warnings)}


class _Planner:
    def __init__(self, index: SourceIndex, scope: Scope, view: TargetView, mapped: dict[tuple[str, str], list]):
        self.index, self.scope, self.view, self.mapped = index, scope, view, mapped
        self.decided: dict[str, dict[str, Decision]] = {e: {} for e in (*ORDER, "test_runs")}
        self.losses: dict[tuple[str, str], list[str]] = {}
        self.plan = Plan(counts={k: {e: 0 for e in PLAN_ENTITIES} for k in ("create", "existing", "link")})

    # -- where an item is in the target ----------------------------------------------------------------------

    def _target_project(self, item: SourceItem):
        return self.view.projects.get(item.project_id)

    def _existing(self, entity: str, source_id: str, project_id: str | None):
        """The target issue standing for a snapshot item: itself, or what a restore made of it (in that project)."""
        candidates = [source_id] + [m.target_id for m in self.mapped.get((entity, source_id), [])
                                    if m.state == "created" and m.target_id
                                    and (project_id is None or m.target_project == project_id)]
        for candidate in candidates:
            found = self.view.issue(entity, candidate)
            if found is not None and (project_id is None or found.project_id == project_id):
                return found
        return None

    def state(self, entity: str, source_id: str) -> tuple[str, str | None]:
        """("existing", target id), ("create", None) or ("missing", None) for any snapshot item."""
        decision = self.decided[entity].get(source_id)
        if decision is not None:
            if decision.action in ("existing", "link"):
                return "existing", decision.target_id
            return ("create", None) if decision.action == "create" else (MISSING, None)
        found = self._existing(entity, source_id, None)
        return ("existing", found.id) if found is not None else (MISSING, None)

    def _key(self, entity: str, source_id: str) -> str:
        item = self.index.items.get(entity, {}).get(source_id)
        return (item.key if item else None) or source_id

    def _lose(self, entity: str, source_id: str, text: str) -> None:
        self.losses.setdefault((entity, source_id), []).append(text)

    # -- the issues ---------------------------------------------------------------------------------------------

    def decide_issues(self) -> None:
        for entity in ORDER:
            for source_id in self.scope.items[entity]:
                item = self.index.items[entity][source_id]
                project = self._target_project(item)
                source_project = self.index.projects.get(item.project_id, {}).get("key")
                found = self._existing(entity, source_id, project.id)
                decision = Decision(entity, source_id, item.key, source_project, project.id,
                                    "existing" if found else "create",
                                    found.id if found else None, found.key if found else None)
                self.decided[entity][source_id] = decision
                if not found:
                    self._creation_losses(item, project)

    def _creation_losses(self, item: SourceItem, project) -> None:
        entity, source_id = item.entity, item.id
        if not item.summary.strip():
            self._lose(entity, source_id, f'its empty summary (Jira refuses one: created as '
                                          f'"{summary_for(item.summary, item.key)}")')
        if entity in ("tests", "preconditions") and item.type_name and item.type_name not in project.types:
            name, kind = type_for_test(item.type_name, project)
            self._lose(entity, source_id, f'its {"test" if entity == "tests" else "precondition"} type '
                                          f'"{item.type_name}" (created as "{name}")')
        for account in item.accounts:
            if account not in self.view.accounts:
                self._lose(entity, source_id, f"its assignee {account} (not a user of this site)")
        for name in item.components:
            if name not in project.components:
                self._lose(entity, source_id, f'its component "{name}" (not in project {project.key})')
        for name in item.versions:
            if name not in project.versions:
                self._lose(entity, source_id, f'its fix version "{name}" (not in project {project.key})')
        missing_fields = [n for n in item.step_fields if n not in project.step_fields]
        if missing_fields:
            self._lose(entity, source_id, "the step custom field values of " + ", ".join(f'"{n}"' for n in missing_fields)
                       + f" (no such step field in project {project.key})")
        if item.status and item.status not in INITIAL_STATUSES:
            self._lose(entity, source_id, f'its workflow status "{item.status}"')
        placed = self.index.folder_for(item.project_id, item.folder)
        if placed != item.folder:
            self._lose(entity, source_id, f'its folder {item.folder} (a "/" in a folder name cannot be expressed in '
                                          f"a path: created in {placed})")
        for note in item.notes:
            self._lose(entity, source_id, note)

    def decide_links(self) -> None:
        in_scope = {e: set(ids) for e, ids in self.scope.items.items()}

        def created(entity: str, source_id: str) -> bool:
            return self.state(entity, source_id)[0] == "create"

        for pair in relation_pairs(self.index, self.scope):
            holder_state, holder_id = self.state(pair.holder_entity, pair.holder)
            member_state, member_id = self.state(pair.member_entity, pair.member)
            if MISSING in (holder_state, member_state):
                for entity, source_id, other_entity, other_id in (
                        (pair.holder_entity, pair.holder, pair.member_entity, pair.member),
                        (pair.member_entity, pair.member, pair.holder_entity, pair.holder)):
                    if source_id in in_scope[entity] and self.state(other_entity, other_id)[0] == MISSING:
                        self._lose(entity, source_id, f"its link to {SINGULAR[other_entity]} "
                                                      f"{self._key(other_entity, other_id)} (neither in Xray nor in "
                                                      "this restore)")
                continue
            if made_at_creation(pair, created):
                continue
            if member_state == "existing" and self._linked(pair, holder_id, member_id):
                continue
            for entity, source_id in ((pair.holder_entity, pair.holder), (pair.member_entity, pair.member)):
                decision = self.decided[entity].get(source_id)
                if decision is not None and decision.action in ("existing", "link"):
                    decision.action = "link"
                    break

    def _linked(self, pair, holder_id: str, member_id: str) -> bool:
        """Whether the target already links the two (a precondition's tests are read from the tests' side)."""
        if pair.holder_entity == "preconditions":
            test = self.view.issue("tests", member_id)
            return test is not None and holder_id in test.members
        found = self.view.issue(pair.holder_entity, holder_id)
        if found is None:
            return False
        return member_id in (found.executions if pair.member_entity == "test_executions" else found.members)

    def decide_folders(self) -> None:
        for project_id, project in self.view.projects.items():
            if self.scope.whole_projects:
                required = list(self.scope.folders.get(project_id, []))
            else:
                required = []
                for entity in ("preconditions", "tests"):
                    for decision in self.decided[entity].values():
                        item = self.index.items[entity][decision.source_id]
                        if decision.action == "create" and item.project_id == project_id:
                            required.extend(p for p in ancestors(self.index.folder_for(project_id, item.folder))
                                            if p not in required)
            missing = [p for p in required if p not in project.folders]
            if missing:
                self.plan.folders[project.id] = missing
            if self.scope.whole_projects and project_id in self.scope.folders:
                for path in sorted(self.index.bad_folders.get(project_id) or {}):
                    if path not in project.folders:
                        self.plan.warnings.append(
                            f'Folder {path} of project {project.key} is not restored: a "/" in a folder name cannot '
                            f"be expressed in a folder path (what it held is restored into "
                            f"{self.index.folder_for(project_id, path)}).")
            self.plan.counts["create"]["folders"] += len(missing)
            self.plan.counts["existing"]["folders"] += len(required) - len(missing)
        self._refile()

    def _refile(self) -> None:
        """Existing tests and preconditions whose folder this restore recreates go back into it."""
        for entity in ("preconditions", "tests"):
            for decision in self.decided[entity].values():
                item = self.index.items[entity][decision.source_id]
                found = self.view.issue(entity, decision.target_id)
                recreated = set(self.plan.folders.get(decision.target_project or "", []))
                if decision.action in ("existing", "link") and item.folder in recreated and found.folder != item.folder:
                    decision.action = "link"
                    decision.reason = f"Put back into its folder {item.folder}."

    # -- the runs -----------------------------------------------------------------------------------------------

    def decide_runs(self) -> None:
        for run_id in self.scope.runs:
            run = self.index.runs[run_id]
            exec_state, exec_id = self.state("test_executions", run.execution)
            test_state, test_id = self.state("tests", run.test)
            execution = self.index.items["test_executions"].get(run.execution)
            key = f"{self._key('tests', run.test)} in {self._key('test_executions', run.execution)}"
            decision = Decision("test_runs", run_id, key, None, None, "create")
            if execution is not None:
                decision.source_project = self.index.projects.get(execution.project_id, {}).get("key")
                project = self.view.projects.get(execution.project_id)
                decision.target_project = project.id if project else None
            if MISSING in (exec_state, test_state):
                which = "test execution" if exec_state == MISSING else "test"
                decision.action = "skip"
                decision.reason = f"Not restored: its {which} is neither in Xray nor in this restore."
            elif exec_state == "existing":
                found = self.view.issue("test_executions", exec_id)
                if test_state == "existing" and found is not None and test_id in found.members:
                    decision.action = "existing"
                else:  # the test goes back into the execution
                    holder = self.decided["test_executions"].get(run.execution)
                    if holder is not None and holder.action == "existing":
                        holder.action = "link"
            self.decided["test_runs"][run_id] = decision
            if decision.action == "create":
                for account in run.accounts:
                    if account not in self.view.accounts:
                        self._lose("test_runs", run_id, f"its user {account} (not a user of this site)")
                project = self.view.projects.get(execution.project_id) if execution else None
                for name in run.run_fields:
                    if project is not None and name not in project.run_fields:
                        self._lose("test_runs", run_id, f'its "{name}" value (no such test run field in '
                                                        f"project {project.key})")
                for note in run.notes:
                    self._lose("test_runs", run_id, note)

    # -- the result ---------------------------------------------------------------------------------------------

    def finish(self) -> Plan:
        plan = self.plan
        created = 0
        for entity in (*ORDER, "test_runs"):
            for decision in self.decided[entity].values():
                plan.decisions.append(decision)
                if decision.action in ("create", "existing", "link"):
                    plan.counts[decision.action][entity] += 1
                created += decision.action == "create" and entity != "test_runs"
                if decision.action == "skip":
                    plan.warnings.append(f"{decision.source_key} ({SINGULAR[entity]}): {decision.reason}")
                losses = self.losses.get((entity, decision.source_id))
                if losses and decision.action != "skip":
                    plan.warnings.append(f"{decision.source_key} ({SINGULAR[entity]}), not restored: "
                                         + "; ".join(losses) + ".")
        if created:
            plan.warnings.insert(0, f"Xray's API cannot set issue keys, creation dates or reporters: the {created} "
                                    "issue(s) this restore creates get new keys (the items report maps each old key "
                                    "to its new one), today's date, and the API key's user as reporter.")
        return plan


def plan_restore(index: SourceIndex, scope: Scope, view: TargetView,
                 mapped: dict[tuple[str, str], list[MapEntry]]) -> Plan:
    """Decide what the restore does with every item in scope; see the module docstring."""
    planner = _Planner(index, scope, view, mapped)
    planner.decide_issues()
    planner.decide_links()
    planner.decide_runs()
    planner.decide_folders()
    return planner.finish()


def lookups(index: SourceIndex, scope: Scope, mapped: dict[tuple[str, str], list[MapEntry]]) -> dict[str, set[str]]:
    """Which issue ids to look up in the target to plan: the items in scope, what they link to, and what earlier
    restores made of all of those."""
    wanted: dict[str, set[str]] = {e: set(ids) for e, ids in scope.items.items()}
    for pair in relation_pairs(index, scope):
        wanted[pair.holder_entity].add(pair.holder)
        wanted[pair.member_entity].add(pair.member)
    for run_id in scope.runs:
        run = index.runs[run_id]
        wanted["tests"].add(run.test)
        wanted["test_executions"].add(run.execution)
    for entity, ids in wanted.items():
        for source_id in list(ids):
            ids.update(m.target_id for m in mapped.get((entity, source_id), []) if m.target_id)
    return wanted


def accounts_named(index: SourceIndex, scope: Scope) -> set[str]:
    """Every account the items in scope name (assignees, executed-by)."""
    out: set[str] = set()
    for entity, ids in scope.items.items():
        for source_id in ids:
            out.update(index.items[entity][source_id].accounts)
    for run_id in scope.runs:
        out.update(index.runs[run_id].accounts)
    return out
