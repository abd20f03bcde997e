"""A deterministic Xray tenant: the ground truth the simulator serves and tests compare backups to.

``Dataset(scale=1, seed=7)`` always builds the same data. Stable API (the backup tests rely on it):

- ``projects``: ``[{"id", "key", "name"}]`` (also what the fake Jira lists). The last project has no
  Xray data at all.
- ``tests``, ``preconditions``, ``test_sets``, ``test_plans``, ``test_executions``, ``test_runs``: lists of
  records in the order the API returns them (by project, then issue id; runs by execution in that
  order, then test; new items keep to it). Each record
  holds the GraphQL fields by their API names (``issueId``, ``projectId``, ``jira``, ``lastModified``,
  ``testType``, ``steps``, ``gherkin``, ...), with attachments *without* ``downloadLink`` (the server
  adds ``{base}/api/v2/attachments/{id}``). Relations are kept in underscore keys that are not API
  fields: test ``_preconditions``; precondition ``_tests``; test set / plan / execution ``_tests``;
  plan ``_test_executions``; execution ``_test_plans``; run ``_test``, ``_test_execution``,
  ``_iterations`` (each ``{"rank", "parameters", "status", "_step_results": [...]}``),
  ``_preconditions``. Use ``public(record)`` to drop them.
- ``test_by_id`` / ``precondition_by_id`` / ``test_set_by_id`` / ``test_plan_by_id`` /
  ``test_execution_by_id`` / ``test_run_by_id``: the same records by id; ``runs_by_test`` and
  ``runs_by_execution``: issue id → runs; ``member_of[(kind, test issue id)]`` with kind ``sets``,
  ``plans`` or ``execs``: the issue ids holding that test.
- ``counts()``: records per entity, named as in the snapshot (attachments: those Xray can serve).
- ``folders``: ``{projectId: root node}``; a node is ``{"name", "path", "testsCount",
  "preconditionsCount", "issuesCount", "folders": [child nodes]}`` (what ``getFolder`` returns).
- ``project_settings``: ``{projectId: getProjectSettings result}``; ``statuses``, ``step_statuses``,
  ``issue_link_types``.
- What Jira holds and the mutations validate against: ``people`` (``[{"accountId", "displayName"}]``),
  ``priorities`` (names), ``components`` and ``versions`` (``{projectId: [names]}``; DELTA has fewer).
- ``attachments``: ``{id: {"id", "filename", "size", "storedInJira", "owner": {"kind", "id"}}}`` for every
  step attachment (owner kind ``test_step``: test issue id + step id) and piece of evidence (``test_run``,
  ``test_run_step``, ``iteration_step``); ``attachment_bytes(id)`` and ``attachment_sha256(id)`` give
  the content (``KeyError`` for files stored in Jira: Xray cannot serve those).
- ``query(document, variables=None, base_url=...)``: execute a document over the data without Xray's
  limits (see ``sim.xray.graphql_api``): the exact answer an unbounded Xray would give.
- The data changes through ``sim.xray.changes`` (mutations, imports, the simulator's control API), under
  ``lock``, stamping ``lastModified`` from ``clock`` (``sim.xray.clock``); ``reindex()`` rebuilds the
  indexes and folder counts after a change; ``snapshot()`` is a deep copy to compare against later.

Edge cases built in (counts are for scale 1; ``scale`` multiplies the ordinary volume, not these):
the first project has more than 100 tests, a test set with 250 tests, a test plan with 150 tests, an
execution with 110 tests (so 110 runs), a precondition used by 120 tests, a test with 130 steps, a
data-driven test with 105 dataset rows (runs with 105 iterations) and one with 130 steps (iterations
with 130 step results), a 100 KB description, HTML and unicode in text, empty lists, nulls and empty
strings, attachments of 0 bytes and of several hundred KB, and a few files ``storedInJira``.
"""
from __future__ import annotations

import copy
import hashlib
import random
import threading
import uuid
from datetime import datetime, timedelta, timezone

from . import folders
from .clock import SimClock

EPOCH = datetime(2025, 1, 6, 9, 0, 0, tzinfo=timezone.utc)

HTML_TEXT = '<p>Check the <b>login</b> form &amp; <script>alert("x")</script> "quotes" \'apostrophes\'</p>'
UNICODE_TEXT = "Prüfung ✓ 测试 🚀 العربية ñandú — Ωmega"
PEOPLE = [
    {"accountId": "5b10a2844c20165700ede21g", "displayName": "Ada Lovelace"},
    {"accountId": "5b10ac8d82e05b22cc7d4ef5", "displayName": "Grace Hopper"},
    {"accountId": "712020:0e6b7c8d-1c2a-4f7e-9d3b-2c5d6e7f8a9b", "displayName": "Zoë Ørsted 🧪"},
]
STATUSES = [
    {"name": "PASSED", "description": "The test run has passed", "color": "#95C160", "final": True,
     "coverageStatus": "OK"},
    {"name": "FAILED", "description": "The test run has failed", "color": "#D45D52", "final": True,
     "coverageStatus": "NOK"},
    {"name": "TODO", "description": "The test run has not started", "color": "#A2A6AE", "final": False,
     "coverageStatus": "NOTRUN"},
    {"name": "EXECUTING", "description": "The test run is currently being executed", "color": "#F1E069",
     "final": False, "coverageStatus": "NOTRUN"},
    {"name": "ABORTED", "description": "The test run was aborted", "color": "#111111", "final": True,
     "coverageStatus": "NOK"},
    {"name": "BLOCKED ⛔", "description": None, "color": "#ff8800", "final": True, "coverageStatus": "NOK"},
]
STEP_STATUS_NAMES = ["PASSED", "FAILED", "TODO", "EXECUTING", "ABORTED"]
FOLDER_TREE = [
    ("Regression", [("Login ✓", []), ("Payments <b>&</b>", [("Refunds", [])])]),
    ("Smoke", []),
    ("Ünïcode 文件夹", []),
    ("Empty", []),
]
PRIORITIES = ["Highest", "High", "Medium", "Low", "Lowest"]
# Every component and version the generated issues use, plus one spare; DELTA lacks most, so a restore
# mapping a project onto it meets what the target does not have.
COMPONENTS = ["API", "UI", "Backend ⚙", "Payments"]
VERSIONS = ["1.0", "2.0-beta", "3.0"]
SPARSE_PROJECT = {"components": ["API"], "versions": ["1.0"]}
ISSUE_LINK_TYPES = [{"id": "10000", "name": "Blocks"}, {"id": "10006", "name": "Tests"},
                    {"id": "10003", "name": "Relates"}]


def public(record: dict) -> dict:
    """The record without the simulator's relation keys (those starting with an underscore)."""
    return {k: v for k, v in record.items() if not k.startswith("_")}


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


class Dataset:
    """The generated tenant; see the module docstring for the stable attributes."""

    def __init__(self, scale: int = 1, seed: int = 7):
        if scale < 1:
            raise ValueError("scale must be at least 1")
        self.scale, self.seed = scale, seed
        self._rng = random.Random(seed)
        self._next_issue = 20000
        self._keys: dict[str, int] = {}
        self.projects = [
            {"id": "10000", "key": "ALPHA", "name": "Alpha payments"},
            {"id": "10001", "key": "BRAVO", "name": "Bravo <mobile> & web"},
            {"id": "10002", "key": "CHARLIE", "name": "Charlie Ünïcode 测试"},
            {"id": "10003", "key": "DELTA", "name": "Delta (no Xray data)"},
        ]
        self.statuses = [dict(s) for s in STATUSES]
        self.step_statuses = [
            {"name": s["name"], "description": s["description"], "color": s["color"], "testStatus": dict(s)}
            for s in STATUSES if s["name"] in STEP_STATUS_NAMES
        ]
        self.issue_link_types = [dict(t) for t in ISSUE_LINK_TYPES]
        self.tests: list[dict] = []
        self.preconditions: list[dict] = []
        self.test_sets: list[dict] = []
        self.test_plans: list[dict] = []
        self.test_executions: list[dict] = []
        self.test_runs: list[dict] = []
        self.attachments: dict[str, dict] = {}
        self.folders: dict[str, dict] = {}
        self.project_settings: dict[str, dict] = {}
        self._sha256: dict[str, str] = {}
        self._uploads: dict[str, bytes] = {}  # attachment id -> bytes a client sent (evidence, step files)
        self.people = [dict(p) for p in PEOPLE]
        self.priorities = list(PRIORITIES)
        self.components = {p["id"]: list(COMPONENTS) for p in self.projects[:3]}
        self.versions = {p["id"]: list(VERSIONS) for p in self.projects[:3]}
        for project in self.projects[3:]:
            self.components[project["id"]] = list(SPARSE_PROJECT["components"])
            self.versions[project["id"]] = list(SPARSE_PROJECT["versions"])
        self.lock = threading.RLock()
        self.clock = SimClock()
        sizes = [(260, 20, 3, 2, 6), (45, 5, 2, 1, 3), (6, 1, 1, 1, 1)]
        for project, size in zip(self.projects, sizes):
            self._build_project(project, *size)
        for project in self.projects[len(sizes):]:
            self._build_settings(project, [])
            self.folders[project["id"]] = self._folder_tree(project["id"])
        self._index()

    # ---- helpers --------------------------------------------------------------------------------

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _hex(self, n: int = 24) -> str:
        return "%0*x" % (n, self._rng.getrandbits(4 * n))

    def _moment(self) -> str:
        return _iso(EPOCH + timedelta(minutes=self._rng.randrange(0, 60 * 24 * 300)))

    def _issue(self, project: dict, issuetype: str, summary: str, **overrides) -> tuple[str, dict]:
        self._next_issue += 1
        number = self._keys.get(project["key"], 0) + 1
        self._keys[project["key"]] = number
        created = EPOCH + timedelta(minutes=self._rng.randrange(0, 60 * 24 * 200))
        rng = self._rng
        jira = {
            "key": f"{project['key']}-{number}",
            "summary": summary,
            "description": rng.choice([None, "", f"Plain description {number}.", HTML_TEXT, UNICODE_TEXT]),
            "labels": rng.choice([[], ["regression"], ["smoke", "ünïcode-✓"], ["a", "b", "c"]]),
            "priority": {"name": rng.choice(["Highest", "High", "Medium", "Low"])},
            "status": {"name": rng.choice(["To Do", "In Progress", "Done"])},
            "assignee": rng.choice([None, *PEOPLE]),
            "reporter": rng.choice(PEOPLE),
            "components": rng.choice([[], [{"name": "API"}], [{"name": "UI"}, {"name": "Backend ⚙"}]]),
            "fixVersions": rng.choice([[], [{"name": "1.0"}], [{"name": "2.0-beta"}]]),
            "created": _iso(created),
            "updated": _iso(created + timedelta(hours=rng.randrange(0, 2000))),
            "issuetype": {"name": issuetype},
        }
        jira.update(overrides)
        return str(self._next_issue), jira

    def _attachment(self, kind: str, owner_id: str, evidence: bool, stored_in_jira: bool = False,
                    size: int | None = None) -> dict:
        rng = self._rng
        att_id = self._uuid()
        if size is None:
            size = rng.choice([0, 17, 1024, 4096, 20_000, 65_536]) if rng.random() < 0.97 else 300_000 + rng.randrange(50_000)
        filename = rng.choice(["screenshot.png", "log.txt", "résumé du test.pdf", "data <1>.csv", "trace.zip"])
        meta = {"id": att_id, "filename": filename, "size": size, "storedInJira": stored_in_jira,
                "owner": {"kind": kind, "id": owner_id}}
        self.attachments[att_id] = meta
        record = {"id": att_id, "filename": filename, "storedInJira": stored_in_jira}
        if evidence:
            record = {"id": att_id, "filename": filename, "size": size, "createdOn": self._moment(),
                      "storedInJira": stored_in_jira}
        return record

    def attachment_bytes(self, att_id: str) -> bytes:
        """The deterministic content of an attachment Xray stores; KeyError if unknown or stored in Jira."""
        meta = self.attachments[att_id]
        if meta["storedInJira"]:
            raise KeyError(att_id)
        if att_id in self._uploads:
            return self._uploads[att_id]
        return random.Random(f"{self.seed}:{att_id}").randbytes(meta["size"])

    def attachment_sha256(self, att_id: str) -> str:
        """The sha256 (hex) of an attachment's content."""
        if att_id not in self._sha256:
            self._sha256[att_id] = hashlib.sha256(self.attachment_bytes(att_id)).hexdigest()
        return self._sha256[att_id]

    # ---- projects -------------------------------------------------------------------------------

    def _build_project(self, project: dict, n_tests: int, n_pre: int, n_sets: int, n_plans: int, n_execs: int):
        rng, pid, scale = self._rng, project["id"], self.scale
        first = project is self.projects[0]
        types = self._build_settings(project, [])
        manual, cucumber, generic = types
        folder_paths = [None, "/", "/Regression", "/Regression/Login ✓", "/Regression/Payments <b>&</b>",
                        "/Regression/Payments <b>&</b>/Refunds", "/Smoke", "/Ünïcode 文件夹"]

        pres = []
        for i in range(n_pre * scale):
            kind = rng.choice([manual, manual, cucumber, generic])
            issue_id, jira = self._issue(project, "Precondition", f"Precondition {i} {rng.choice(['', UNICODE_TEXT])}")
            definition = {"Steps": "The user is logged in\nand has a <b>cart</b>.",
                          "Gherkin": "Given the shop is open\nAnd the cart is empty",
                          "Unstructured": rng.choice(["", "Database seeded ✓", None])}[kind["kind"]]
            pres.append({"issueId": issue_id, "projectId": pid, "jira": jira, "lastModified": self._moment(),
                         "preconditionType": dict(kind), "definition": definition,
                         "folder": self._folder(rng.choice(folder_paths[:3])), "_tests": []})
        self.preconditions.extend(pres)

        tests = []
        for i in range(n_tests * scale):
            special = i if first and i < 8 else None
            tests.append(self._build_test(project, special, types, folder_paths, pres))
        self.tests.extend(tests)
        if first and pres:  # one precondition used by 120 tests
            for test in tests[8:128]:
                if pres[0]["issueId"] not in test["_preconditions"]:
                    test["_preconditions"].append(pres[0]["issueId"])
        for test in tests:
            for pre_id in test["_preconditions"]:
                next(p for p in pres if p["issueId"] == pre_id)["_tests"].append(test["issueId"])

        def pick(k):
            return [t["issueId"] for t in rng.sample(tests, min(k, len(tests)))]

        sets = []
        sizes = ([250, 0] if first else []) + [rng.randrange(3, 30) for _ in range(n_sets * scale)]
        for i, size in enumerate(sizes):
            issue_id, jira = self._issue(project, "Test Set", f"Test set {i} {'<i>html</i>' if i == 1 else ''}".strip())
            members = [t["issueId"] for t in tests[:size]] if first and i == 0 else pick(size)
            sets.append({"issueId": issue_id, "projectId": pid, "jira": jira, "lastModified": self._moment(),
                         "_tests": members})
        self.test_sets.extend(sets)

        execs = []
        sizes = ([110, 0, 8] if first else []) + [rng.randrange(2, 25) for _ in range(n_execs * scale)]
        for i, size in enumerate(sizes):
            issue_id, jira = self._issue(project, "Test Execution", f"Execution {i} — nightly")
            if first and i == 0:
                members = [t["issueId"] for t in tests[-110:]]
            elif first and i == 2:
                members = [t["issueId"] for t in tests[:8]]
            else:
                members = pick(size)
            envs = rng.choice([[], ["Chrome"], ["Firefox", "Linux ✓"], ["iOS 17"]])
            execs.append({"issueId": issue_id, "projectId": pid, "jira": jira, "lastModified": self._moment(),
                          "testEnvironments": envs, "_tests": members, "_test_plans": []})
        self.test_executions.extend(execs)

        plans = []
        sizes = ([150, 0] if first else []) + [rng.randrange(2, 20) for _ in range(n_plans * scale)]
        for i, size in enumerate(sizes):
            issue_id, jira = self._issue(project, "Test Plan", f"Plan {i} {UNICODE_TEXT if i == 0 else ''}".strip())
            members = [t["issueId"] for t in tests[:size]] if first and i == 0 else pick(size)
            linked = [] if size == 0 else [e for e in execs if rng.random() < 0.4]
            plan = {"issueId": issue_id, "projectId": pid, "jira": jira, "lastModified": self._moment(),
                    "folders": None, "_tests": members, "_test_executions": [e["issueId"] for e in linked]}
            for e in linked:
                e["_test_plans"].append(issue_id)
            plans.append(plan)
        self.test_plans.extend(plans)

        by_id = {t["issueId"]: t for t in tests}
        pre_by_id = {p["issueId"]: p for p in pres}
        for execution in execs:
            for test_id in execution["_tests"]:
                self.test_runs.append(self._build_run(by_id[test_id], execution, pre_by_id))
        self.folders[pid] = self._folder_tree(pid)
        envs = sorted({env for e in execs for env in e["testEnvironments"]})
        self.project_settings[pid]["testEnvironments"] = envs

    def _build_settings(self, project: dict, envs: list) -> list[dict]:
        pid = project["id"]
        types = [{"id": self._hex(24), "name": name, "kind": kind}
                 for name, kind in (("Manual", "Steps"), ("Cucumber", "Gherkin"), ("Generic", "Unstructured"))]
        self.project_settings[pid] = {
            "projectId": pid,
            "testEnvironments": envs,
            "defectIssueTypes": ["10004"],
            "testTypeSettings": {"defaultTestTypeId": types[0]["id"], "testTypes": types},
            "testStepSettings": {"fields": [
                {"id": "cf-" + pid + "-1", "name": "Expected duration", "type": "number", "required": False,
                 "disabled": False, "values": None},
                {"id": "cf-" + pid + "-2", "name": "Browser ✓", "type": "select", "required": False,
                 "disabled": False, "values": ["Chrome", "Firefox", "Safari"]},
            ]},
            "testRunCustomFieldSettings": {"fields": [
                {"id": "rcf-" + pid, "name": "Build", "type": "text", "required": False, "values": []},
            ]},
            "testCoverageSettings": {"coverableIssueTypeIds": ["10001", "10002"], "epicIssuesRelation": True,
                                     "issueSubTasksRelation": False, "issueLinkTypeId": "10006",
                                     "issueLinkTypeDirection": "INWARD"},
        }
        return types

    @staticmethod
    def _folder(path: str | None) -> dict | None:
        if path is None:
            return None
        return {"name": path.rsplit("/", 1)[-1], "path": path}

    def _folder_tree(self, pid: str) -> dict:
        def node(name, path, children):
            tests = [t for t in self.tests if t["projectId"] == pid and (t["folder"] or {}).get("path") == path]
            pres = [p for p in self.preconditions
                    if p["projectId"] == pid and (p["folder"] or {}).get("path") == path]
            kids = [node(n, (path.rstrip("/") + "/" + n), c) for n, c in children]
            return {"name": name, "path": path, "testsCount": len(tests), "preconditionsCount": len(pres),
                    "issuesCount": len(tests) + len(pres), "folders": kids}

        return node("", "/", FOLDER_TREE)

    # ---- tests ----------------------------------------------------------------------------------

    def _step(self, i: int, issue_id: str, with_attachments: bool) -> dict:
        rng = self._rng
        step_id = self._uuid()
        attachments = []
        if with_attachments:
            attachments = [self._attachment("test_step", f"{issue_id}/{step_id}", False)
                           for _ in range(rng.choice([1, 1, 2]))]
        return {
            "id": step_id,
            "action": rng.choice([f"Step {i}: open the page", HTML_TEXT, UNICODE_TEXT, f"Do thing {i}"]),
            "data": rng.choice(["", None, "user=ada; pass=<secret>", "{\"amount\": 12.5}"]),
            "result": rng.choice([f"Result {i} is shown", "", "✓ saved"]),
            "callTestIssueId": None,
            "attachments": attachments,
            "customFields": rng.choice([[], [{"id": "cf-1", "name": "Expected duration", "value": rng.randrange(1, 90)}],
                                        [{"id": "cf-2", "name": "Browser ✓", "value": ["Chrome", "Safari"]}]]),
        }

    def _build_test(self, project: dict, special: int | None, types: list, folder_paths: list, pres: list) -> dict:
        rng = self._rng
        manual, cucumber, generic = types
        kind = rng.choices([manual, cucumber, generic], weights=[70, 15, 15])[0]
        summary = f"Test {self._keys.get(project['key'], 0) + 1} {rng.choice(['checks totals', 'logs in', 'pays'])}"
        overrides = {}
        if special == 0:
            kind, summary = manual, '<script>alert("xss")</script> long description'
            overrides["description"] = ("Lorem ipsum ✓ <b>dolor</b> sit amet. " * 2800)[:102_400]
        elif special == 1:
            kind, summary = manual, UNICODE_TEXT
        elif special == 2:
            kind, summary = manual, ""
            overrides.update(description=None, labels=[], assignee=None, components=[], fixVersions=[])
        elif special in (3, 4, 5):
            kind = manual
        elif special == 6:
            kind = cucumber
        elif special == 7:
            kind = generic
        issue_id, jira = self._issue(project, "Test", summary, **overrides)
        test = {"issueId": issue_id, "projectId": project["id"], "jira": jira, "lastModified": self._moment(),
                "testType": dict(kind), "steps": [], "gherkin": None, "scenarioType": None, "unstructured": None,
                "folder": None if special == 2 else self._folder(rng.choice(folder_paths)), "dataset": None,
                "_preconditions": []}
        if kind is manual:
            n_steps = {2: 0, 3: 130, 4: 3, 5: 130}.get(special, rng.choice([0, 1, 2, 3, 4, 5, 6]))
            attach_every = 10 if special == 3 else (4 if rng.random() < 0.15 else 0)
            test["steps"] = [self._step(i, issue_id, bool(attach_every) and i % attach_every == 0)
                             for i in range(n_steps)]
            if special == 3:  # files kept by Jira, which Xray cannot serve
                test["steps"][1]["attachments"].append(
                    self._attachment("test_step", f"{issue_id}/{test['steps'][1]['id']}", False, stored_in_jira=True))
                test["steps"][2]["attachments"].append(
                    self._attachment("test_step", f"{issue_id}/{test['steps'][2]['id']}", False, size=0))
            rows = {4: 105, 5: 2}.get(special, 3 if special is None and rng.random() < 0.05 else 0)
            if rows:
                test["dataset"] = self._dataset(issue_id, rows)
        elif kind is cucumber:
            outline = special == 6 or rng.random() < 0.4
            test["scenarioType"] = "scenario_outline" if outline else "scenario"
            test["gherkin"] = ("Given a cart with <items> items ✓\nWhen I pay\nThen I see \"<total>\"\n"
                               "Examples:\n| items | total |\n| 1 | 10 |\n| 2 | 20 |") if outline else \
                "Given I am on the <b>home</b> page\nWhen I log in\nThen I see my dashboard"
        else:
            test["unstructured"] = rng.choice(["", "Run ./check.sh --all", UNICODE_TEXT, HTML_TEXT])
        if pres and rng.random() < 0.3:
            test["_preconditions"] = [p["issueId"] for p in rng.sample(pres, min(len(pres), rng.choice([1, 2])))]
        return test

    def _dataset(self, issue_id: str, rows: int) -> dict:
        return {
            "id": self._hex(24), "testIssueId": issue_id, "testExecIssueId": None, "testPlanIssueId": None,
            "callTestIssueId": None, "testStepId": None,
            "parameters": [
                {"name": "user", "type": "text", "listValues": None, "combinations": False, "projectListId": None},
                {"name": "browser", "type": "list", "listValues": ["Chrome", "Firefox ✓"], "combinations": False,
                 "projectListId": None},
            ],
            "rows": [{"order": r, "Values": [f"user{r}", ["Chrome", "Firefox ✓"][r % 2]]} for r in range(rows)],
        }

    # ---- runs -----------------------------------------------------------------------------------

    def _step_status(self) -> dict:
        return dict(self._rng.choice(self.step_statuses))

    def _evidence(self, kind: str, owner: str, chance: float) -> list[dict]:
        if self._rng.random() >= chance:
            return []
        out = [self._attachment(kind, owner, True) for _ in range(self._rng.choice([1, 1, 2]))]
        if self._rng.random() < 0.05:
            out.append(self._attachment(kind, owner, True, stored_in_jira=True))
        return out

    def _build_run(self, test: dict, execution: dict, pre_by_id: dict) -> dict:
        rng = self._rng
        run_id = self._hex(24)
        status = dict(rng.choice(self.statuses))
        started = None if status["name"] == "TODO" else self._moment()
        run = {
            "id": run_id, "status": status,
            "comment": rng.choice([None, "", "Looks good ✓", HTML_TEXT, UNICODE_TEXT]),
            "startedOn": started,
            "finishedOn": started if status["final"] else None,
            "assigneeId": rng.choice([None, *(p["accountId"] for p in PEOPLE)]),
            "executedById": None if started is None else rng.choice(PEOPLE)["accountId"],
            "lastModified": self._moment(),
            "defects": rng.choice([[], [], ["20001"], ["20002", "20003"]]) if status["name"] == "FAILED" else [],
            "evidence": self._evidence("test_run", run_id, 0.15),
            "customFields": [{"id": "rcf-" + test["projectId"], "name": "Build",
                              "values": rng.choice([None, ["1.2.3"], ["nightly-✓"]])}],
            "testType": dict(test["testType"]),
            "gherkin": test["gherkin"], "scenarioType": test["scenarioType"], "unstructured": test["unstructured"],
            "steps": [], "parameters": [], "examples": [], "results": [],
            "_test": test["issueId"], "_test_execution": execution["issueId"], "_iterations": [],
            "_preconditions": [{"preconditionRef": p, "definition": pre_by_id[p]["definition"]}
                               for p in test["_preconditions"]],
        }
        dataset = test["dataset"]
        for step in test["steps"]:
            owner = f"{run_id}/{step['id']}"
            executed = started is not None and not dataset
            run["steps"].append({
                "id": step["id"], "action": step["action"], "data": step["data"], "result": step["result"],
                "attachments": [dict(a) for a in step["attachments"]],
                "customFields": [dict(c) for c in step["customFields"]],
                "comment": rng.choice([None, "", "step note ✓"]) if executed else None,
                "evidence": self._evidence("test_run_step", owner, 0.05) if executed else [],
                "defects": rng.choice([[], ["20005"]]) if executed else [],
                "actualResult": rng.choice(["", "As expected", HTML_TEXT]) if executed else None,
                "status": self._step_status() if executed else dict(self.step_statuses[2]),
            })
        if dataset:
            for row in dataset["rows"]:
                iteration = {
                    "rank": str(row["order"] + 1),
                    "parameters": [{"name": p["name"], "value": v} for p, v in zip(dataset["parameters"], row["Values"])],
                    "status": self._step_status(),
                    "_step_results": [],
                }
                for step in test["steps"]:
                    iteration["_step_results"].append({
                        "id": step["id"], "status": self._step_status(),
                        "comment": rng.choice([None, "", "iteration note"]),
                        "defects": rng.choice([[], [], ["20007"]]),
                        "evidence": self._evidence("iteration_step", f"{run_id}/{row['order']}/{step['id']}", 0.01),
                        "actualResult": rng.choice([None, "", "Shown ✓"]),
                    })
                run["_iterations"].append(iteration)
        if test["scenarioType"] == "scenario_outline":
            run["examples"] = [{"id": self._uuid(), "status": self._step_status(), "duration": float(rng.randrange(1, 900))}
                               for _ in range(2)]
        if test["gherkin"] and started:
            run["results"] = [{
                "name": "Scenario: pay", "status": self._step_status(), "duration": 1.5, "log": None,
                "wasImported": "false", "backgrounds": [], "hooks": [], "examples": [],
                "steps": [{"keyword": "Given", "name": "a cart", "status": self._step_status(), "duration": 0.5,
                           "error": None, "log": "ok ✓", "embeddings": []}],
            }]
        return run

    # ---- indexes and queries --------------------------------------------------------------------

    def _index(self) -> None:
        self.test_by_id = {t["issueId"]: t for t in self.tests}
        self.precondition_by_id = {p["issueId"]: p for p in self.preconditions}
        self.test_set_by_id = {s["issueId"]: s for s in self.test_sets}
        self.test_plan_by_id = {p["issueId"]: p for p in self.test_plans}
        self.test_execution_by_id = {e["issueId"]: e for e in self.test_executions}
        self.test_run_by_id = {r["id"]: r for r in self.test_runs}
        self.runs_by_test: dict[str, list[dict]] = {}
        self.runs_by_execution: dict[str, list[dict]] = {}
        for run in self.test_runs:
            self.runs_by_test.setdefault(run["_test"], []).append(run)
            self.runs_by_execution.setdefault(run["_test_execution"], []).append(run)
        # (kind, test issue id) -> issue ids of the sets / plans / executions holding that test
        self.member_of: dict[tuple[str, str], list[str]] = {}
        for kind, records in (("sets", self.test_sets), ("plans", self.test_plans), ("execs", self.test_executions)):
            for record in records:
                for test_id in record["_tests"]:
                    self.member_of.setdefault((kind, test_id), []).append(record["issueId"])

    def reindex(self) -> None:
        """Rebuild the by-id indexes, memberships and folder counts after the records changed."""
        self._index()
        for pid, root in self.folders.items():
            folders.recount(root, pid, self.tests, self.preconditions)

    def snapshot(self) -> "Dataset":
        """A deep copy of the current ground truth, with its own lock and clock, to compare against later."""
        with self.lock:
            return copy.deepcopy(self)

    def __deepcopy__(self, memo):
        clone = Dataset.__new__(Dataset)
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            if name not in ("lock", "clock"):
                setattr(clone, name, copy.deepcopy(value, memo))
        clone.lock = threading.RLock()
        clone.clock = SimClock(self.clock.skew_seconds)
        return clone

    def query(self, document: str, variables: dict | None = None, base_url: str = "http://xray.invalid") -> dict:
        """Execute a GraphQL document over this data without Xray's limits; return the whole response."""
        from .graphql_api import execute

        return execute(self, document, variables, base_url=base_url, enforce_limits=False)

    def counts(self) -> dict[str, int]:
        """Number of records per entity, named as in the snapshot format."""
        return {
            "tests": len(self.tests), "preconditions": len(self.preconditions), "test_sets": len(self.test_sets),
            "test_plans": len(self.test_plans), "test_executions": len(self.test_executions),
            "test_runs": len(self.test_runs), "folders": len(self.folders),
            "project_settings": len(self.project_settings),
            "attachments": sum(1 for a in self.attachments.values() if not a["storedInJira"]),
        }
