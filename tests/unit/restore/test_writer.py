"""Batched writes: requests of at most MAX_BATCH calls and a few MiB; a refused batch is resent call by call."""
from __future__ import annotations

from graphql import parse

from app.restore.documents import ALL, MAX_BATCH, batch_name, batch_variables
from app.restore.writer import BATCH_BYTES, Writer, chunks
from app.xray.errors import XrayQueryError


class FakeClient:
    """Answers batches; refuses documents of more than `max_size` mutations (400) and calls naming `bad` (200)."""

    def __init__(self, max_size: int = MAX_BATCH, bad: str | None = None):
        self.max_size, self.bad, self.sent = max_size, bad, []

    def graphql(self, name, query, variables=None, *, write=False):
        size = sum(1 for k in variables if k.startswith("issueId"))
        self.sent.append((name, size, write))
        if size > self.max_size:
            raise XrayQueryError(name, ["only one mutation per request"], status=400)
        if self.bad and self.bad in variables.values():
            raise XrayQueryError(name, [f"{self.bad} is not a test set"], status=200)
        return {f"m{i}": {"addedTests": []} for i in range(size)}


def links(n: int) -> list[dict]:
    return [{"issueId": str(i), "testIssueIds": ["1"]} for i in range(n)]


def test_calls_are_split_by_count_and_by_body_size():
    assert [len(c) for c in chunks(list(range(23)), 10, lambda _c: 1)] == [10, 10, 3]
    big = BATCH_BYTES // 2 + 1
    assert [len(c) for c in chunks([1, 2, 3], 10, lambda _c: big)] == [1, 1, 1]


def test_links_go_ten_to_a_request():
    client = FakeClient()
    writer = Writer(client, 1, "r", now=lambda: None)
    assert writer.update("AddTestsToTestSet", links(23)) == [None] * 23
    assert [size for _, size, _ in client.sent] == [10, 10, 3]
    assert all(name.startswith("AddTestsToTestSetx") and not write for name, _, write in client.sent)


def test_an_xray_refusing_batches_is_sent_one_mutation_per_request_from_then_on():
    client = FakeClient(max_size=1)
    writer = Writer(client, 1, "r", now=lambda: None)
    assert writer.update("AddTestsToTestSet", links(3)) == [None] * 3
    assert writer.max_batch == 1
    writer.update("AddTestsToTestSet", links(2))
    assert [size for _, size, _ in client.sent] == [3, 1, 1, 1, 1, 1]


def test_a_link_xray_refuses_is_found_and_reported_alone():
    client = FakeClient(bad="2")
    errors = Writer(client, 1, "r", now=lambda: None).update("AddTestsToTestSet", links(4))
    assert errors[2] and "is not a test set" in errors[2]
    assert errors[:2] == [None, None] and errors[3] is None


def test_every_batch_document_sends_its_mutation_under_numbered_aliases():
    document = ALL[batch_name("CreateTestSet", 3)]
    operation = parse(document).definitions[0]
    assert [s.alias.value for s in operation.selection_set.selections] == ["m0", "m1", "m2"]
    variables = batch_variables("CreateTestSet", [{"jira": {"a": 1}}, {"jira": {"b": 2}, "testIssueIds": ["9"]}])
    assert variables == {"jira0": {"a": 1}, "testIssueIds0": None, "jira1": {"b": 2}, "testIssueIds1": ["9"]}
