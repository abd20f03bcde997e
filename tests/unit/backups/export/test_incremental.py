"""The incremental exporter over the simulator's GraphQL core (in process): exactness after changes, requests."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from app.backups.export.exporter import Exporter
from app.backups.export.incremental import IncrementalExporter, NeedsFullRead
from app.backups.export.merge import since_for
from app.backups.snapshot.verifier import verify_snapshot
from app.backups.snapshot.writer import SnapshotWriter
from app.presentation import iso
from sim.xray import XraySimulator
from sim.xray.dataset import Dataset
from tests.support.backups import DatasetClient
from tests.support.incremental import assert_matches_truth, local_parent


@pytest.fixture
def sim():
    # Not started: the admin methods change the dataset in process, DatasetClient reads it.
    return XraySimulator(Dataset(scale=1))


def full(tmp_path, ds, name="full"):
    client = DatasetClient(ds)
    writer = SnapshotWriter(tmp_path / name, run_id=name, started_at=iso(datetime.now(timezone.utc)),
                            xray_api_url=client.base_url)
    Exporter(client, writer).export(ds.projects)
    writer.finish(finished_at="f", requests=client.stats.requests)
    return tmp_path / name, client


def incremental(tmp_path, ds, parent_dir, name="incr", projects=None):
    client = DatasetClient(ds)
    parent = local_parent(parent_dir, tmp_path / f"{name}-parent")
    writer = SnapshotWriter(tmp_path / name, run_id=name, started_at=iso(datetime.now(timezone.utc)),
                            xray_api_url=client.base_url)
    exporter = IncrementalExporter(client, writer, parent, since=since_for(parent.started_at))
    exporter.export(projects if projects is not None else ds.projects)
    writer.finish(finished_at="f", requests=client.stats.requests)
    assert verify_snapshot(tmp_path / name).problems == []
    return tmp_path / name, client, exporter


def test_no_change_reads_only_project_metadata_and_downloads_nothing(tmp_path, sim):
    ds = sim.dataset
    parent_dir, full_client = full(tmp_path, ds)
    root, client, exporter = incremental(tmp_path, ds, parent_dir)
    assert_matches_truth(root, ds, client.base_url)
    names = [n for n, _ in client.calls]
    assert "download" not in names
    assert not any(n.endswith("IdsPage") for n in names)  # counts proved nothing was removed
    assert all(c == {"added": 0, "modified": 0, "removed": 0} for e, c in exporter.changed_json().items()
               if e != "attachments")
    assert exporter.changed_json()["attachments"] == {"added": 0, "removed": 0}
    assert client.stats.requests < 0.25 * full_client.stats.requests, (client.stats.requests, full_client.stats.requests)


def test_edits_adds_deletes_and_links_give_exactly_what_xray_holds_now(tmp_path, sim):
    ds = sim.dataset
    parent_dir, _ = full(tmp_path, ds)
    tests = [t["issueId"] for t in ds.tests]
    execution = next(e for e in ds.test_executions if len(e["_tests"]) > 1)
    run = next(r for r in ds.runs_by_execution[execution["issueId"]] if r["_test"] != execution["_tests"][0])
    sim.edit(tests[0], summary="Renamed by a user")
    sim.edit(tests[1], steps=[{"action": "new", "data": "", "result": "ok",
                               "attachments": [{"filename": "new.txt", "data": b"fresh bytes"}]}])
    sim.delete(tests[2])
    added = sim.add("test", project=ds.projects[0]["key"], summary="Brand new test")
    sim.link(ds.test_sets[0]["issueId"], [added["issueId"]])
    sim.edit_run(run["id"], status="FAILED", comment="broke")
    sim.add_evidence(run["id"], [{"filename": "evidence.log", "data": b"log line"}])
    sim.delete(ds.preconditions[0]["issueId"])
    sim.unlink(execution["issueId"], [execution["_tests"][0]])
    root, client, exporter = incremental(tmp_path, ds, parent_dir)
    assert_matches_truth(root, ds, client.base_url)
    changed = exporter.changed_json()
    assert changed["tests"]["added"] == 1 and changed["tests"]["removed"] == 1 and changed["tests"]["modified"] >= 2
    assert changed["preconditions"]["removed"] == 1
    assert changed["test_sets"]["modified"] >= 1
    assert changed["test_runs"]["modified"] >= 1 and changed["test_runs"]["removed"] >= 1
    assert changed["attachments"]["added"] == 2
    downloads = [v["url"].rsplit("/", 1)[1] for n, v in client.calls if n == "download"]
    assert len(downloads) == 2  # only the new files; the rest is copied from the parent


def test_a_chain_of_incrementals_stays_exact(tmp_path, sim):
    ds = sim.dataset
    parent_dir, _ = full(tmp_path, ds)
    for step in range(3):
        sim.edit(ds.tests[step]["issueId"], summary=f"edit {step}")
        sim.add("test_execution", project=ds.projects[-1]["key"], summary=f"exec {step}",
                tests=[ds.tests[step]["issueId"]])
        parent_dir, client, _ = incremental(tmp_path, ds, parent_dir, name=f"incr{step}")
        assert_matches_truth(parent_dir, ds, client.base_url)


def test_an_item_xray_did_not_report_as_changed_forces_a_full_read(tmp_path, sim):
    ds = sim.dataset
    parent_dir, _ = full(tmp_path, ds)
    added = sim.add("test", project=ds.projects[0]["key"], summary="Invisible")
    # Counts no longer add up (one more than parent + changes): the ids are listed and the stranger found.
    ds.test_by_id[added["issueId"]]["lastModified"] = "2000-01-01T00:00:00.000Z"  # a change Xray did not stamp
    with pytest.raises(NeedsFullRead, match="neither in the previous snapshot nor reported"):
        incremental(tmp_path, ds, parent_dir)


def test_projects_no_longer_listed_are_dropped_and_new_ones_read_whole(tmp_path, sim):
    ds = sim.dataset
    parent_dir, _ = full(tmp_path, ds)
    only_first = ds.projects[:1]
    parent_small = tmp_path / "small"
    writer = SnapshotWriter(parent_small, run_id="small", started_at=iso(datetime.now(timezone.utc)),
                            xray_api_url="http://xray.test")
    Exporter(DatasetClient(ds), writer).export(only_first)
    writer.finish(finished_at="f", requests=0)
    root, client, exporter = incremental(tmp_path, ds, parent_small)  # the other projects are new
    assert_matches_truth(root, ds, client.base_url)
    back, _, exporter = incremental(tmp_path, ds, root, name="back", projects=only_first)
    assert exporter.changed_json()["tests"]["removed"] == sum(
        1 for t in ds.tests if t["projectId"] != only_first[0]["id"])
