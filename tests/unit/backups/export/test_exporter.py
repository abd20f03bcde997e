"""The exporter over the simulator's GraphQL core (in process): exact reproduction, packing, streaming."""
from __future__ import annotations

import re

import pytest

from app.backups.export.exporter import Exporter
from app.backups.snapshot.verifier import verify_snapshot
from app.backups.snapshot.writer import SnapshotWriter
from sim.xray.bounds import request_lower_bound
from sim.xray.dataset import Dataset
from tests.support.backups import DatasetClient, assert_snapshot_matches


@pytest.fixture(scope="module")
def dataset():
    return Dataset(scale=1)


def export(tmp_path, dataset, client=None):
    client = client or DatasetClient(dataset)
    writer = SnapshotWriter(tmp_path / "snap", run_id="r1", started_at="s", xray_api_url=client.base_url)
    Exporter(client, writer).export(dataset.projects)
    manifest = writer.finish(finished_at="f", requests=client.stats.requests)
    return client, writer, manifest


def test_export_reproduces_every_entity_and_attachment_exactly(tmp_path, dataset):
    client, writer, manifest = export(tmp_path, dataset)
    assert verify_snapshot(tmp_path / "snap").problems == []
    assert_snapshot_matches(tmp_path / "snap", dataset, client.base_url)
    assert writer.counts() == dataset.counts()
    assert [p["key"] for p in manifest["projects"]] == [p["key"] for p in dataset.projects]


def test_files_stored_in_jira_are_warnings_naming_file_names_and_issue_keys_not_ids(tmp_path, dataset):
    _, _, manifest = export(tmp_path, dataset)
    in_jira = [a for a in dataset.attachments.values() if a["storedInJira"]]
    assert in_jira and len(manifest["warnings"]) >= len(in_jira)  # one per place a file is used
    for warning in manifest["warnings"]:
        assert re.search(r"“[^”]+” of (a step of )?(test|the run of test) (ALPHA|BRAVO)-\d+", warning), warning
        assert not any(a["id"] in warning for a in dataset.attachments.values()), warning  # no attachment UUIDs
    runs = [w for w in manifest["warnings"] if "the run of test" in w]
    assert runs and all(re.search(r"the run of test [A-Z]+-\d+ in [A-Z]+-\d+", w) for w in runs)


def test_requests_stay_close_to_the_request_lower_bound(tmp_path, dataset):
    client, _, _ = export(tmp_path, dataset)
    names = [name for name, _ in client.calls]
    attachments = names.count("download")
    assert attachments == dataset.counts()["attachments"]
    # No child connection paged when it fit inline, and no top-level page wasted.
    bound = request_lower_bound(dataset)
    assert client.stats.requests <= 1.25 * bound, (client.stats.requests, bound)


class ShortChildClient(DatasetClient):
    """Xray claiming more tests in a test set than it will ever return."""

    def graphql(self, name, query, variables=None):
        data = super().graphql(name, query, variables)
        if name == "TestSetTestsPage":
            data["getTestSet"]["tests"]["results"] = []
        return data


class ShortListClient(DatasetClient):
    def graphql(self, name, query, variables=None):
        data = super().graphql(name, query, variables)
        if name == "TestsPage" and variables["start"] >= 100:
            data["getTests"]["results"] = []
        return data


@pytest.mark.parametrize("client_class, words", [
    (ShortChildClient, "tests of test set"),
    (ShortListClient, "tests in project ALPHA"),
])
def test_a_list_that_cannot_be_read_whole_fails_the_export_naming_it(tmp_path, dataset, client_class, words):
    from app.backups.export.exporter import ExportError

    with pytest.raises(ExportError, match=words):
        export(tmp_path, dataset, client_class(dataset))


def test_progress_reports_counts_and_requests_and_checkpoints_can_stop_it(tmp_path, dataset):
    class Stop(Exception):
        pass

    updates = []
    checks = {"n": 0}

    def checkpoint():
        checks["n"] += 1
        if checks["n"] > 3:
            raise Stop()

    client = DatasetClient(dataset)
    writer = SnapshotWriter(tmp_path / "snap", run_id="r", started_at="s", xray_api_url=client.base_url)
    with pytest.raises(Stop):
        Exporter(client, writer, progress=updates.append, checkpoint=checkpoint).export(dataset.projects)
    assert updates and updates[-1]["requests"] == client.stats.requests
    assert updates[-1]["counts"]["tests"] > 0 and updates[-1]["project"] == "ALPHA"
    assert client.stats.requests < 100  # stopped early: a full export takes about 160


def test_files_stored_in_jira_are_never_requested(tmp_path, dataset):
    client, _, _ = export(tmp_path, dataset)
    asked = {params["url"].rsplit("/", 1)[1] for name, params in client.calls if name == "download"}
    in_jira = {a["id"] for a in dataset.attachments.values() if a["storedInJira"]}
    assert asked and not asked & in_jira


def test_children_are_paged_exactly_when_longer_than_what_came_inline(tmp_path, dataset):
    from app.backups.export import queries as q

    client, _, _ = export(tmp_path, dataset)
    paged = {v["issueId"] for n, v in client.calls if n != "download" and "issueId" in v}
    expected = {t["issueId"] for t in dataset.tests if len(t["_preconditions"]) > q.TEST_PRECONDITIONS_INLINE}
    expected |= {p["issueId"] for p in dataset.preconditions if len(p["_tests"]) > q.PRECONDITION_TESTS_INLINE}
    expected |= {s["issueId"] for s in dataset.test_sets if len(s["_tests"]) > q.TEST_SET_TESTS_INLINE}
    expected |= {p["issueId"] for p in dataset.test_plans if len(p["_tests"]) > q.TEST_PLAN_TESTS_INLINE
                 or len(p["_test_executions"]) > q.TEST_PLAN_EXECUTIONS_INLINE}
    expected |= {e["issueId"] for e in dataset.test_executions if len(e["_tests"]) > q.TEST_EXECUTION_TESTS_INLINE}
    assert expected and paged == expected
    top_level = [v for n, v in client.calls if n in ("TestsPage", "PreconditionsPage", "TestSetsPage",
                                                      "TestPlansPage", "TestExecutionsPage")]
    assert all(set(v) == {"projectId", "start"} for v in top_level)


@pytest.mark.parametrize("scale, seed", [(1, 11), (3, 5)])
def test_export_is_exact_for_other_generated_tenants(tmp_path, scale, seed):
    other = Dataset(scale=scale, seed=seed)
    client, _, _ = export(tmp_path, other)
    assert verify_snapshot(tmp_path / "snap").ok
    assert_snapshot_matches(tmp_path / "snap", other, client.base_url)
    assert client.stats.requests <= 1.25 * request_lower_bound(other)
