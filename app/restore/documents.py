"""Every GraphQL document a restore sends to Xray, named in `ALL` (the schema contract test validates each one).

Reads are cheap: settings and the folder tree per project, `issueIds` look-ups of 100, the runs of executions,
and what changed in a project since a moment (to find what an interrupted attempt created). Writes are sent in
batches: `Mutationxn` holds `n` aliased copies (`m0` … `m{n-1}`) of one mutation with numbered variables, so n
creates or links cost one request. Xray runs the mutations of a document one after the other; a batch that
comes back with errors is treated like an unanswered one (see `writer`).
"""
from __future__ import annotations

MAX_BATCH = 10  # mutations per request: well under the 25 resolvers Xray allows in one call
RECENT_PAGE = 100

_KEY = 'jira(fields: ["key"])'
_RECENT_JIRA = 'jira(fields: ["key", "summary", "description", "labels", "created"])'
_REF = "total results { issueId }"

READS = {
    "RestoreProjectState": """
query RestoreProjectState($projectId: String!) {
  settings: getProjectSettings(projectIdOrKey: $projectId) {
    testTypeSettings { defaultTestTypeId testTypes { id name kind } }
    testStepSettings { fields { id name } }
    testRunCustomFieldSettings { fields { id name } }
  }
  folder: getFolder(projectId: $projectId, path: "/") { path folders }
}
""",
    "RestoreTestsById": f"""
query RestoreTestsById($issueIds: [String]) {{
  getTests(issueIds: $issueIds, limit: 100) {{
    total results {{ issueId projectId {_KEY} folder {{ path }} steps {{ id }}
                    preconditions(limit: 99) {{ {_REF} }} }}
  }}
}}
""",
    "RestorePreconditionsById": f"""
query RestorePreconditionsById($issueIds: [String]) {{
  getPreconditions(issueIds: $issueIds, limit: 100) {{ total results {{ issueId projectId {_KEY} folder {{ path }} }} }}
}}
""",
    "RestoreTestSetsById": f"""
query RestoreTestSetsById($issueIds: [String]) {{
  getTestSets(issueIds: $issueIds, limit: 100) {{ total results {{ issueId projectId {_KEY} tests(limit: 99) {{ {_REF} }} }} }}
}}
""",
    "RestoreTestPlansById": f"""
query RestoreTestPlansById($issueIds: [String]) {{
  getTestPlans(issueIds: $issueIds, limit: 100) {{
    total results {{ issueId projectId {_KEY} tests(limit: 50) {{ {_REF} }} testExecutions(limit: 49) {{ {_REF} }} }}
  }}
}}
""",
    "RestoreTestExecutionsById": f"""
query RestoreTestExecutionsById($issueIds: [String]) {{
  getTestExecutions(issueIds: $issueIds, limit: 100) {{
    total results {{ issueId projectId {_KEY} tests(limit: 99) {{ {_REF} }} }}
  }}
}}
""",
    "RestoreTestPreconditionsPage": f"""
query RestoreTestPreconditionsPage($issueId: String!, $start: Int!) {{
  getTest(issueId: $issueId) {{ preconditions(limit: 100, start: $start) {{ {_REF} }} }}
}}
""",
    "RestoreTestSetTestsPage": f"""
query RestoreTestSetTestsPage($issueId: String!, $start: Int!) {{
  getTestSet(issueId: $issueId) {{ tests(limit: 100, start: $start) {{ {_REF} }} }}
}}
""",
    "RestoreTestPlanTestsPage": f"""
query RestoreTestPlanTestsPage($issueId: String!, $start: Int!) {{
  getTestPlan(issueId: $issueId) {{ tests(limit: 100, start: $start) {{ {_REF} }} }}
}}
""",
    "RestoreTestPlanExecutionsPage": f"""
query RestoreTestPlanExecutionsPage($issueId: String!, $start: Int!) {{
  getTestPlan(issueId: $issueId) {{ testExecutions(limit: 100, start: $start) {{ {_REF} }} }}
}}
""",
    "RestoreTestExecutionTestsPage": f"""
query RestoreTestExecutionTestsPage($issueId: String!, $start: Int!) {{
  getTestExecution(issueId: $issueId) {{ tests(limit: 100, start: $start) {{ {_REF} }} }}
}}
""",
    "RestoreTestRuns": """
query RestoreTestRuns($testExecIssueIds: [String], $start: Int!) {
  getTestRuns(testExecIssueIds: $testExecIssueIds, limit: 100, start: $start) {
    total results {
      id comment startedOn finishedOn executedById assigneeId defects
      status { name } evidence { id filename } customFields { id name values }
      test { issueId } testExecution { issueId }
      steps { id comment actualResult defects status { name } evidence { id filename } }
    }
  }
}
""",
    "RestoreRecentTests": f"""
query RestoreRecentTests($projectId: String!, $since: String!, $start: Int!) {{
  getTests(projectId: $projectId, modifiedSince: $since, limit: {RECENT_PAGE}, start: $start) {{
    total results {{ issueId {_RECENT_JIRA} testType {{ kind }} steps {{ action data result }} gherkin unstructured }}
  }}
}}
""",
    "RestoreRecentPreconditions": f"""
query RestoreRecentPreconditions($projectId: String!, $since: String!, $start: Int!) {{
  getPreconditions(projectId: $projectId, modifiedSince: $since, limit: {RECENT_PAGE}, start: $start) {{
    total results {{ issueId {_RECENT_JIRA} definition }}
  }}
}}
""",
    "RestoreRecentTestSets": f"""
query RestoreRecentTestSets($projectId: String!, $since: String!, $start: Int!) {{
  getTestSets(projectId: $projectId, modifiedSince: $since, limit: {RECENT_PAGE}, start: $start) {{
    total results {{ issueId {_RECENT_JIRA} }}
  }}
}}
""",
    "RestoreRecentTestPlans": f"""
query RestoreRecentTestPlans($projectId: String!, $since: String!, $start: Int!) {{
  getTestPlans(projectId: $projectId, modifiedSince: $since, limit: {RECENT_PAGE}, start: $start) {{
    total results {{ issueId {_RECENT_JIRA} }}
  }}
}}
""",
    "RestoreRecentTestExecutions": f"""
query RestoreRecentTestExecutions($projectId: String!, $since: String!, $start: Int!) {{
  getTestExecutions(projectId: $projectId, modifiedSince: $since, limit: {RECENT_PAGE}, start: $start) {{
    total results {{ issueId {_RECENT_JIRA} testEnvironments }}
  }}
}}
""",
}

# entity -> (document, root field) of the issueIds look-up and of the modified-since listing
BY_IDS = {"tests": ("RestoreTestsById", "getTests"), "preconditions": ("RestorePreconditionsById", "getPreconditions"),
          "test_sets": ("RestoreTestSetsById", "getTestSets"), "test_plans": ("RestoreTestPlansById", "getTestPlans"),
          "test_executions": ("RestoreTestExecutionsById", "getTestExecutions")}
RECENT = {"tests": ("RestoreRecentTests", "getTests"), "preconditions": ("RestoreRecentPreconditions", "getPreconditions"),
          "test_sets": ("RestoreRecentTestSets", "getTestSets"), "test_plans": ("RestoreRecentTestPlans", "getTestPlans"),
          "test_executions": ("RestoreRecentTestExecutions", "getTestExecutions")}
# (entity, relation) -> (document, root field) paging one issue's relation past what came inline
MEMBER_PAGES = {("tests", "preconditions"): ("RestoreTestPreconditionsPage", "getTest"),
                ("test_sets", "tests"): ("RestoreTestSetTestsPage", "getTestSet"),
                ("test_plans", "tests"): ("RestoreTestPlanTestsPage", "getTestPlan"),
                ("test_plans", "testExecutions"): ("RestoreTestPlanExecutionsPage", "getTestPlan"),
                ("test_executions", "tests"): ("RestoreTestExecutionTestsPage", "getTestExecution")}

# name -> (mutation, [(argument, GraphQL type)], selection)
MUTATIONS = {
    "CreateFolder": ("createFolder", [("projectId", "String"), ("path", "String!")], "folder { path }"),
    "CreatePrecondition": ("createPrecondition", [
        ("jira", "JSON!"), ("preconditionType", "UpdatePreconditionTypeInput"), ("definition", "String"),
        ("folderPath", "String"), ("testIssueIds", "[String]")], f"precondition {{ issueId {_KEY} }}"),
    "CreateTest": ("createTest", [
        ("jira", "JSON!"), ("testType", "UpdateTestTypeInput"), ("steps", "[CreateStepInput]"),
        ("gherkin", "String"), ("unstructured", "String"), ("folderPath", "String"),
        ("preconditionIssueIds", "[String]")], f"test {{ issueId {_KEY} }}"),
    "CreateTestSet": ("createTestSet", [("jira", "JSON!"), ("testIssueIds", "[String]")],
                      f"testSet {{ issueId {_KEY} }}"),
    "CreateTestPlan": ("createTestPlan", [("jira", "JSON!"), ("testIssueIds", "[String]")],
                       f"testPlan {{ issueId {_KEY} }}"),
    "CreateTestExecution": ("createTestExecution", [("jira", "JSON!"), ("testIssueIds", "[String]"),
                                                    ("testEnvironments", "[String]")],
                            f"testExecution {{ issueId {_KEY} }}"),
    "AddTestsToTestSet": ("addTestsToTestSet", [("issueId", "String!"), ("testIssueIds", "[String]!")], "addedTests"),
    "AddTestsToTestPlan": ("addTestsToTestPlan", [("issueId", "String!"), ("testIssueIds", "[String]!")],
                           "addedTests"),
    "AddTestsToTestExecution": ("addTestsToTestExecution", [("issueId", "String!"), ("testIssueIds", "[String]")],
                                "addedTests"),
    "AddTestsToPrecondition": ("addTestsToPrecondition", [("issueId", "String!"), ("testIssueIds", "[String]")],
                               "addedTests"),
    "AddTestExecutionsToTestPlan": ("addTestExecutionsToTestPlan", [("issueId", "String!"),
                                                                    ("testExecIssueIds", "[String]!")],
                                    "addedTestExecutions"),
    "AddTestsToFolder": ("addTestsToFolder", [("projectId", "String"), ("path", "String!"),
                                              ("testIssueIds", "[String]!")], "folder { path }"),
    "AddIssuesToFolder": ("addIssuesToFolder", [("projectId", "String!"), ("path", "String!"),
                                                ("issueIds", "[String]!")], "folder { path }"),
    "UpdateTestRun": ("updateTestRun", [("id", "String!"), ("customFields", "[CustomFieldInput]")], "warnings"),
}
# The creates: repeating them would make a second item, so they go out under intents and are never retried blind.
CREATES = {name for name in MUTATIONS if name.startswith("Create") and name != "CreateFolder"}


def batch_name(name: str, size: int) -> str:
    """The name of the document sending `size` copies of a mutation."""
    return f"{name}x{size}"


def _batch(name: str, size: int) -> str:
    field, arguments, selection = MUTATIONS[name]
    declared = ", ".join(f"${arg}{i}: {kind}" for i in range(size) for arg, kind in arguments)
    calls = "\n".join(
        f"  m{i}: {field}(" + ", ".join(f"{arg}: ${arg}{i}" for arg, _ in arguments) + f") {{ {selection} }}"
        for i in range(size))
    return f"mutation {batch_name(name, size)}({declared}) {{\n{calls}\n}}\n"


def batch_variables(name: str, calls: list[dict]) -> dict:
    """The variables of a batch: each call's arguments numbered by its position."""
    _, arguments, _ = MUTATIONS[name]
    return {f"{arg}{i}": call.get(arg) for i, call in enumerate(calls) for arg, _ in arguments}


ALL: dict[str, str] = dict(READS)
ALL.update({batch_name(name, size): _batch(name, size) for name in MUTATIONS for size in range(1, MAX_BATCH + 1)})
