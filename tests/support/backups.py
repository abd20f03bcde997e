"""Backup-engine test helpers: the simulator's ground truth as snapshot records, and a snapshot reader.

`expected_snapshot(dataset, base_url)` builds, from `sim.xray.dataset.Dataset`, every line a complete backup must
hold, so tests compare each entity field by field (and each attachment's bytes), not counts.
"""
from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.backups.runs.claims import claim_next
from app.backups.runs.enqueue import enqueue_manual
from app.backups.snapshot.format import ATTACHMENTS_INDEX, ENTITY_NAMES, attachment_path, entity_file
from app.extensions import db
from app.models import XRAY_SECRET_FIELD, Tenant, XrayCredential, utcnow
from app.services import services_of
from sim.xray import XraySimulator
from sim.xray.dataset import Dataset
from tests.support.connect import install_tenant


def read_snapshot(root: Path) -> dict[str, list[dict]]:
    """Every entity file's records, plus `attachments` (the index)."""
    out = {}
    for name in ENTITY_NAMES:
        out[name] = [json.loads(line) for line in gzip.decompress((root / entity_file(name)).read_bytes()).splitlines()]
    out["attachments"] = [json.loads(line) for line in gzip.decompress((root / ATTACHMENTS_INDEX).read_bytes()).splitlines()]
    return out


def _refs(ids: list[str]) -> dict:
    return {"total": len(ids), "results": [{"issueId": i} for i in ids]}


def _public(record: dict) -> dict:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def _with_links(items: list[dict] | None, base: str) -> list[dict]:
    return [{**item, "downloadLink": f"{base}/api/v2/attachments/{item['id']}"} for item in items or []]


def expected_snapshot(ds, base_url: str) -> dict[str, list[dict]]:
    """What a complete backup of the dataset must contain, entity by entity, in the API's order."""
    base = base_url.rstrip("/")
    tests = []
    for t in ds.tests:
        record = _public(t)
        record["steps"] = [{**s, "attachments": _with_links(s["attachments"], base)} for s in t["steps"]]
        record["preconditions"] = _refs(t["_preconditions"])
        tests.append(record)
    preconditions = [{**_public(p), "tests": _refs(p["_tests"])} for p in ds.preconditions]
    test_sets = [{**_public(s), "tests": _refs(s["_tests"])} for s in ds.test_sets]
    test_plans = [{**_public(p), "tests": _refs(p["_tests"]), "testExecutions": _refs(p["_test_executions"])}
                  for p in ds.test_plans]
    test_executions = [{**_public(e), "tests": _refs(e["_tests"])} for e in ds.test_executions]
    runs = []
    for r in ds.test_runs:
        record = _public(r)
        record["evidence"] = _with_links(r["evidence"], base)
        record["steps"] = [{**s, "attachments": _with_links(s["attachments"], base),
                            "evidence": _with_links(s["evidence"], base)} for s in r["steps"]]
        record["test"] = {"issueId": r["_test"]}
        record["testExecution"] = {"issueId": r["_test_execution"]}
        pres = [{"definition": p["definition"], "preconditionRef": {"issueId": p["preconditionRef"]}}
                for p in r["_preconditions"]]
        record["preconditions"] = {"total": len(pres), "results": pres}
        iterations = []
        for it in r["_iterations"]:
            steps = [{**s, "evidence": _with_links(s["evidence"], base)} for s in it["_step_results"]]
            iterations.append({**_public(it), "stepResults": {"total": len(steps), "results": steps}})
        record["iterations"] = {"total": len(iterations), "results": iterations}
        runs.append(record)
    folders = [{"projectId": p["id"], **ds.folders[p["id"]]} for p in ds.projects]
    settings = [{**ds.project_settings[p["id"]], "statuses": ds.statuses, "stepStatuses": ds.step_statuses}
                for p in ds.projects]
    return {"tests": tests, "preconditions": preconditions, "test_sets": test_sets, "test_plans": test_plans,
            "test_executions": test_executions, "test_runs": runs, "folders": folders, "project_settings": settings}


def assert_snapshot_matches(root: Path, ds, base_url: str) -> None:
    """Every record equals the ground truth, and every attachment Xray stores is there byte for byte."""
    got = read_snapshot(root)
    want = expected_snapshot(ds, base_url)
    for name in ENTITY_NAMES:
        assert len(got[name]) == len(want[name]), f"{name}: {len(got[name])} records, expected {len(want[name])}"
        for index, (a, b) in enumerate(zip(got[name], want[name])):
            if a != b:
                keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
                raise AssertionError(f"{name}[{index}] differs in {keys}: got {[a.get(k) for k in keys][:2]!r:.600} "
                                     f"expected {[b.get(k) for k in keys][:2]!r:.600}")
    stored = {a["id"]: a for a in ds.attachments.values() if not a["storedInJira"]}
    index = {a["id"]: a for a in got["attachments"]}
    assert set(index) == set(stored)
    for att_id, meta in stored.items():
        data = (root / attachment_path(att_id)).read_bytes()
        assert data == ds.attachment_bytes(att_id), f"attachment {att_id} differs"
        assert index[att_id]["sha256"] == hashlib.sha256(data).hexdigest()
        assert index[att_id]["filename"] == meta["filename"]
        assert index[att_id]["size"] == meta["size"]


class DatasetClient:
    """An in-process stand-in for XrayClient over the simulator's GraphQL core, limits enforced."""

    def __init__(self, dataset, base_url: str = "http://xray.test"):
        self.dataset = dataset
        self.base_url = base_url
        self.stats = SimpleNamespace(requests=0, retries=0, rate_limit_waits=0, waited_seconds=0.0)
        self.calls: list[tuple[str, dict]] = []

    def graphql(self, name: str, query: str, variables: dict | None = None) -> dict:
        from sim.xray.graphql_api import execute

        self.stats.requests += 1
        self.calls.append((name, dict(variables or {})))
        outcome = execute(self.dataset, query, variables, base_url=self.base_url)
        if outcome.status != 200 or outcome.body.get("errors"):
            raise AssertionError(f"{name} was refused: {outcome.status} {outcome.body.get('errors')}")
        return outcome.body["data"]

    def download(self, url: str, fh) -> tuple[int, str]:
        self.stats.requests += 1
        self.calls.append(("download", {"url": url}))
        data = self.dataset.attachment_bytes(url.rsplit("/", 1)[1])
        fh.write(data)
        return len(data), hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------- fixtures (import them into a test module)

CLIENT_ID = "0A1B2C3D4E5F60718293A4B5C6D7E8F9"
CLIENT_SECRET = "f" * 64


@pytest.fixture(scope="module")
def dataset():
    return Dataset(scale=1)


@pytest.fixture
def xray(dataset):
    sim = XraySimulator(dataset, clients={CLIENT_ID: CLIENT_SECRET}).start()
    yield sim
    sim.stop()


@pytest.fixture
def xray_app(request, make_app, xray):
    """The app pointed at the simulator; a test parametrised with database="postgresql" gets it on PostgreSQL."""
    env = {"XRAY_API_URL": xray.url, "XRAY_RATE_LIMIT": "100000"}
    callspec = getattr(request.node, "callspec", None)
    if callspec is not None and callspec.params.get("database") == "postgresql":
        env["DATABASE_URL"] = request.getfixturevalue("pg_database_url")
    return make_app(**env)


@pytest.fixture
def xray_site(xray_app, fake_jira, dataset):
    """A tenant installed in `xray_app`, its Jira listing the dataset's projects."""
    fake_jira.projects = [dict(p) for p in dataset.projects]
    return install_tenant(xray_app, fake_jira)


def save_credentials(app, site, secret: str = CLIENT_SECRET) -> None:
    sealer = services_of(app).sealer
    with app.app_context():
        db.session.add(XrayCredential(tenant_id=site.id, client_id=CLIENT_ID, region="global", status="connected",
                                      client_secret_enc=sealer.seal(site.client_key, XRAY_SECRET_FIELD, secret),
                                      updated_at=utcnow()))
        db.session.commit()


def claimed_run(app, site) -> str:
    with app.app_context():
        enqueue_manual(db.session.get(Tenant, site.id), utcnow())
        return claim_next("test-worker", utcnow(), 120).id


