"""Every GraphQL document the backup sends to Xray, named, and the item budget each one asks for.

Packing rules (Xray's documented limits): every connection takes `limit` 1-100, and one call may ask for at most
10,000 items counted as the sum, over every connection, of the product of the limits on its path
(`getTests(limit: 100) { preconditions(limit: 100) }` = 100 + 100*100 = 10,100 → rejected). Lists are paged by
`projectId` (a jql over 100 issues errors). Child connections are read inline with the largest limit the budget
leaves; a child whose `total` exceeds what came inline is paged separately with the `*_PAGE` documents.
Children are stored as references (`issueId`): the full objects are in their own entity files.
"""
from __future__ import annotations

from graphql import parse
from graphql.language import FieldNode, FragmentSpreadNode, InlineFragmentNode, IntValueNode, VariableNode

PAGE = 100  # every top-level list is read 100 at a time
MAX_ITEMS = 10_000

# Inline child limits, chosen so that PAGE + PAGE * (sum of children) <= MAX_ITEMS.
TEST_PRECONDITIONS_INLINE = 99
PRECONDITION_TESTS_INLINE = 99
TEST_SET_TESTS_INLINE = 99
TEST_PLAN_TESTS_INLINE = 50
TEST_PLAN_EXECUTIONS_INLINE = 49
TEST_EXECUTION_TESTS_INLINE = 99
RUN_PRECONDITIONS_INLINE = 10
RUN_ITERATIONS_INLINE = 8
RUN_ITERATION_STEPS_INLINE = 10
# Paging one run's iterations: limit * (1 + steps) <= MAX_ITEMS.
ITERATIONS_PAGE = 50
ITERATION_STEPS_IN_PAGE = 99
TEST_RUN_ID_BATCH = 100  # executions whose runs are read together (testExecIssueIds filter)

JIRA_FIELDS = (
    "key", "summary", "description", "labels", "priority", "status", "assignee", "reporter",
    "components", "fixVersions", "created", "updated", "issuetype",
)
_JIRA = "jira(fields: [" + ", ".join(f'"{f}"' for f in JIRA_FIELDS) + "])"

_ATTACHMENT = "id filename storedInJira downloadLink"
_EVIDENCE = "id filename size createdOn storedInJira downloadLink"
_STATUS = "name description color final coverageStatus"
_STEP_STATUS = f"name description color testStatus {{ {_STATUS} }}"
_REF = "total start limit results { issueId }"

_TEST_FIELDS = f"""
  issueId projectId lastModified
  {_JIRA}
  testType {{ id name kind }}
  steps {{ id action data result callTestIssueId
           attachments {{ {_ATTACHMENT} }} customFields {{ id name value }} }}
  gherkin scenarioType unstructured
  folder {{ name path }}
  dataset {{ id testIssueId testExecIssueId testPlanIssueId callTestIssueId testStepId
             parameters {{ name type combinations listValues projectListId }} rows {{ order Values }} }}
"""

_RESULTS_STEP = f"name keyword duration error log status {{ {_STEP_STATUS} }} embeddings {{ data filename mimeType downloadLink }}"

_ITERATION = f"""
  rank status {{ {_STEP_STATUS} }} parameters {{ name value }}
"""
_ITERATION_STEP = f"""
  total start limit results {{ id status {{ {_STEP_STATUS} }} actualResult comment defects evidence {{ {_EVIDENCE} }} }}
"""

_RUN_FIELDS = f"""
  id lastModified
  status {{ {_STATUS} }}
  comment startedOn finishedOn assigneeId executedById defects
  evidence {{ {_EVIDENCE} }}
  gherkin scenarioType unstructured
  testType {{ id name kind }}
  test {{ issueId }}
  testExecution {{ issueId }}
  parameters {{ name value }}
  customFields {{ id name values }}
  steps {{ id action data result actualResult comment defects status {{ {_STEP_STATUS} }}
           attachments {{ {_ATTACHMENT} }} evidence {{ {_EVIDENCE} }} customFields {{ id name value }} }}
  examples {{ id duration status {{ {_STEP_STATUS} }} }}
  results {{ name duration log wasImported status {{ {_STEP_STATUS} }}
             steps {{ {_RESULTS_STEP} }} hooks {{ {_RESULTS_STEP} }} backgrounds {{ {_RESULTS_STEP} }}
             examples {{ duration wasImported status {{ {_STEP_STATUS} }} steps {{ {_RESULTS_STEP} }} }} }}
"""

# Settings, statuses, the folder tree and the size of each list: empty lists are then never paged.
PROJECT_META = """
query ProjectMeta($projectId: String!) {
  settings: getProjectSettings(projectIdOrKey: $projectId) {
    projectId defectIssueTypes testEnvironments
    testCoverageSettings { coverableIssueTypeIds epicIssuesRelation issueLinkTypeDirection issueLinkTypeId
                           issueSubTasksRelation }
    testRunCustomFieldSettings { fields { id name type required values } }
    testStepSettings { fields { id name type required disabled values } }
    testTypeSettings { defaultTestTypeId testTypes { id name kind } }
  }
  statuses: getStatuses(projectId: $projectId) { name description color final coverageStatus }
  stepStatuses: getStepStatuses(projectId: $projectId) {
    name description color testStatus { name description color final coverageStatus } }
  folder: getFolder(projectId: $projectId, path: "/") { name path testsCount preconditionsCount issuesCount folders }
  tests: getTests(projectId: $projectId, limit: 1) { total }
  preconditions: getPreconditions(projectId: $projectId, limit: 1) { total }
  testSets: getTestSets(projectId: $projectId, limit: 1) { total }
  testPlans: getTestPlans(projectId: $projectId, limit: 1) { total }
  testExecutions: getTestExecutions(projectId: $projectId, limit: 1) { total }
}
"""

TESTS_PAGE = f"""
query TestsPage($projectId: String!, $start: Int!) {{
  getTests(projectId: $projectId, limit: {PAGE}, start: $start) {{
    total start limit
    results {{ {_TEST_FIELDS} preconditions(limit: {TEST_PRECONDITIONS_INLINE}) {{ {_REF} }} }}
  }}
}}
"""

TEST_PRECONDITIONS_PAGE = f"""
query TestPreconditionsPage($issueId: String!, $start: Int!) {{
  getTest(issueId: $issueId) {{ issueId preconditions(limit: {PAGE}, start: $start) {{ {_REF} }} }}
}}
"""

PRECONDITIONS_PAGE = f"""
query PreconditionsPage($projectId: String!, $start: Int!) {{
  getPreconditions(projectId: $projectId, limit: {PAGE}, start: $start) {{
    total start limit
    results {{ issueId projectId lastModified {_JIRA} preconditionType {{ id name kind }} definition
               folder {{ name path }} tests(limit: {PRECONDITION_TESTS_INLINE}) {{ {_REF} }} }}
  }}
}}
"""

PRECONDITION_TESTS_PAGE = f"""
query PreconditionTestsPage($issueId: String!, $start: Int!) {{
  getPrecondition(issueId: $issueId) {{ issueId tests(limit: {PAGE}, start: $start) {{ {_REF} }} }}
}}
"""

TEST_SETS_PAGE = f"""
query TestSetsPage($projectId: String!, $start: Int!) {{
  getTestSets(projectId: $projectId, limit: {PAGE}, start: $start) {{
    total start limit
    results {{ issueId projectId lastModified {_JIRA} tests(limit: {TEST_SET_TESTS_INLINE}) {{ {_REF} }} }}
  }}
}}
"""

TEST_SET_TESTS_PAGE = f"""
query TestSetTestsPage($issueId: String!, $start: Int!) {{
  getTestSet(issueId: $issueId) {{ issueId tests(limit: {PAGE}, start: $start) {{ {_REF} }} }}
}}
"""

TEST_PLANS_PAGE = f"""
query TestPlansPage($projectId: String!, $start: Int!) {{
  getTestPlans(projectId: $projectId, limit: {PAGE}, start: $start) {{
    total start limit
    results {{ issueId projectId lastModified {_JIRA}
               folders {{ name path testsCount preconditionsCount issuesCount folders }}
               tests(limit: {TEST_PLAN_TESTS_INLINE}) {{ {_REF} }}
               testExecutions(limit: {TEST_PLAN_EXECUTIONS_INLINE}) {{ {_REF} }} }}
  }}
}}
"""

TEST_PLAN_TESTS_PAGE = f"""
query TestPlanTestsPage($issueId: String!, $start: Int!) {{
  getTestPlan(issueId: $issueId) {{ issueId tests(limit: {PAGE}, start: $start) {{ {_REF} }} }}
}}
"""

TEST_PLAN_EXECUTIONS_PAGE = f"""
query TestPlanExecutionsPage($issueId: String!, $start: Int!) {{
  getTestPlan(issueId: $issueId) {{ issueId testExecutions(limit: {PAGE}, start: $start) {{ {_REF} }} }}
}}
"""

TEST_EXECUTIONS_PAGE = f"""
query TestExecutionsPage($projectId: String!, $start: Int!) {{
  getTestExecutions(projectId: $projectId, limit: {PAGE}, start: $start) {{
    total start limit
    results {{ issueId projectId lastModified {_JIRA} testEnvironments
               tests(limit: {TEST_EXECUTION_TESTS_INLINE}) {{ {_REF} }} }}
  }}
}}
"""

TEST_EXECUTION_TESTS_PAGE = f"""
query TestExecutionTestsPage($issueId: String!, $start: Int!) {{
  getTestExecution(issueId: $issueId) {{ issueId tests(limit: {PAGE}, start: $start) {{ {_REF} }} }}
}}
"""

TEST_RUNS_PAGE = f"""
query TestRunsPage($testExecIssueIds: [String], $start: Int!) {{
  getTestRuns(testExecIssueIds: $testExecIssueIds, limit: {PAGE}, start: $start) {{
    total start limit
    results {{
      {_RUN_FIELDS}
      preconditions(limit: {RUN_PRECONDITIONS_INLINE}) {{
        total start limit results {{ definition preconditionRef {{ issueId }} }} }}
      iterations(limit: {RUN_ITERATIONS_INLINE}) {{
        total start limit
        results {{ {_ITERATION} stepResults(limit: {RUN_ITERATION_STEPS_INLINE}) {{ {_ITERATION_STEP} }} }} }}
    }}
  }}
}}
"""

TEST_RUN_PRECONDITIONS_PAGE = f"""
query TestRunPreconditionsPage($id: String!, $start: Int!) {{
  getTestRunById(id: $id) {{ id preconditions(limit: {PAGE}, start: $start) {{
    total start limit results {{ definition preconditionRef {{ issueId }} }} }} }}
}}
"""

TEST_RUN_ITERATIONS_PAGE = f"""
query TestRunIterationsPage($id: String!, $start: Int!) {{
  getTestRunById(id: $id) {{ id iterations(limit: {ITERATIONS_PAGE}, start: $start) {{
    total start limit
    results {{ {_ITERATION} stepResults(limit: {ITERATION_STEPS_IN_PAGE}) {{ {_ITERATION_STEP} }} }} }} }}
}}
"""

ITERATION_STEP_RESULTS_PAGE = f"""
query IterationStepResultsPage($id: String!, $iteration: Int!, $start: Int!) {{
  getTestRunById(id: $id) {{ id iterations(limit: 1, start: $iteration) {{
    total start limit
    results {{ stepResults(limit: {PAGE}, start: $start) {{ {_ITERATION_STEP} }} }} }} }}
}}
"""


# -- incremental reads ------------------------------------------------------------------------------------------
# The same page documents with Xray's `modifiedSince` filter: records come back exactly as a full read returns
# them, so an incremental snapshot holds the same lines a full one would.
LIST_ROOTS = {  # page document → its root list: the lists an incremental backup reads changes of
    "TestsPage": "getTests", "PreconditionsPage": "getPreconditions", "TestSetsPage": "getTestSets",
    "TestPlansPage": "getTestPlans", "TestExecutionsPage": "getTestExecutions",
}


def _since(document: str, name: str, root: str, first_arg: str) -> str:
    """`document` (query `name`) with a `$since` variable passed to `root` as `modifiedSince`."""
    header, call = f"query {name}(", f"{root}({first_arg},"
    if document.count(header) != 1 or document.count(call) != 1:
        raise AssertionError(f"{name}: cannot add modifiedSince")  # a document changed shape: fail at import
    return (document.replace(header, f"query {name}Since($since: String!, ")
            .replace(call, f"{call} modifiedSince: $since,"))


def _ids_page(root: str) -> str:
    # Ids only: the cheapest complete listing, used to find removed items when counts cannot tell.
    return f"""
query {root[3:]}IdsPage($projectId: String!, $start: Int!) {{
  {root}(projectId: $projectId, limit: {PAGE}, start: $start) {{ total start limit results {{ issueId }} }}
}}
"""


_PAGES = {"TestsPage": TESTS_PAGE, "PreconditionsPage": PRECONDITIONS_PAGE, "TestSetsPage": TEST_SETS_PAGE,
          "TestPlansPage": TEST_PLANS_PAGE, "TestExecutionsPage": TEST_EXECUTIONS_PAGE}
SINCE: dict[str, str] = {f"{name}Since": _since(doc, name, LIST_ROOTS[name], "projectId: $projectId")
                         for name, doc in _PAGES.items()}
SINCE["TestRunsPageSince"] = _since(TEST_RUNS_PAGE, "TestRunsPage", "getTestRuns",
                                    "testExecIssueIds: $testExecIssueIds")
IDS: dict[str, str] = {f"{root[3:]}IdsPage": _ids_page(root) for root in LIST_ROOTS.values()}
IDS_PAGE_OF = {page: f"{root[3:]}IdsPage" for page, root in LIST_ROOTS.items()}

ALL: dict[str, str] = {
    "ProjectMeta": PROJECT_META,
    "TestsPage": TESTS_PAGE,
    "TestPreconditionsPage": TEST_PRECONDITIONS_PAGE,
    "PreconditionsPage": PRECONDITIONS_PAGE,
    "PreconditionTestsPage": PRECONDITION_TESTS_PAGE,
    "TestSetsPage": TEST_SETS_PAGE,
    "TestSetTestsPage": TEST_SET_TESTS_PAGE,
    "TestPlansPage": TEST_PLANS_PAGE,
    "TestPlanTestsPage": TEST_PLAN_TESTS_PAGE,
    "TestPlanExecutionsPage": TEST_PLAN_EXECUTIONS_PAGE,
    "TestExecutionsPage": TEST_EXECUTIONS_PAGE,
    "TestExecutionTestsPage": TEST_EXECUTION_TESTS_PAGE,
    "TestRunsPage": TEST_RUNS_PAGE,
    "TestRunPreconditionsPage": TEST_RUN_PRECONDITIONS_PAGE,
    "TestRunIterationsPage": TEST_RUN_ITERATIONS_PAGE,
    "IterationStepResultsPage": ITERATION_STEP_RESULTS_PAGE,
}
ALL.update(SINCE)
ALL.update(IDS)


def items_requested(document: str, variables: dict | None = None) -> int:
    """Items one call asks for: over every connection, the product of the `limit`s on its path."""
    ast = parse(document)
    fragments = {d.name.value: d for d in ast.definitions if d.kind == "fragment_definition"}
    variables = variables or {}

    def limit_of(node: FieldNode) -> int | None:
        for arg in node.arguments or ():
            if arg.name.value == "limit":
                if isinstance(arg.value, IntValueNode):
                    return int(arg.value.value)
                if isinstance(arg.value, VariableNode):
                    return int(variables[arg.value.name.value])
        return None

    def walk(selection_set, factor: int) -> int:
        total = 0
        for sel in selection_set.selections if selection_set else ():
            if isinstance(sel, FieldNode):
                limit = limit_of(sel)
                inner = factor * limit if limit is not None else factor
                if limit is not None:
                    total += inner
                total += walk(sel.selection_set, inner)
            elif isinstance(sel, InlineFragmentNode):
                total += walk(sel.selection_set, factor)
            elif isinstance(sel, FragmentSpreadNode):
                total += walk(fragments[sel.name.value].selection_set, factor)
        return total

    return sum(walk(d.selection_set, 1) for d in ast.definitions if d.kind == "operation_definition")
