"""Restore test helpers: a fresh simulated Xray and a matching fake Jira per test, real backups, restores run as a
worker runs them, and the comparison of two snapshots modulo the id map.

Import the fixtures into a test module: `from tests.support.restore import restore_env  # noqa: F401`.
"""
from __future__ import annotations

import gzip
import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass, field

import pytest
from sqlalchemy import delete

from app.backups.lifecycle.datakeys import data_key_for
from app.backups.runs.claims import claim_next
from app.backups.runs.enqueue import enqueue_manual
from app.backups.runs.runner import execute_run
from app.backups.runs.status import settle
from app.backups.snapshot.format import entity_file
from app.extensions import db
from app.models import BackupRun, Tenant, utcnow
from app.restore.jobs import claim_next_restore, settle_restore
from app.restore.models import Restore, RestoreItem
from app.restore.payloads import summary_for
from app.restore.scope import SourceIndex, folder_paths
from app.restore.runner import execute_restore
from app.services import services_of
from app.xray.client import XrayClient
from app.xray.pacer import Pacer
from sim.devhost import mirror_site
from sim.xray import XraySimulator
from sim.xray.dataset import Dataset
from tests.support.backups import CLIENT_ID, CLIENT_SECRET, save_credentials
from tests.support.connect import ApiClient, install_tenant


def jira_like(fake_jira, dataset) -> None:
    """Make the fake Jira hold the site the dataset belongs to: its projects, users, components, versions."""
    mirror_site(fake_jira, dataset)


def fast_client(tenant, access):
    """The real client with short back-offs and no pacing (tests that measure pacing build their own)."""
    return XrayClient(access.base_url, access.client_id, access.client_secret, pacer=Pacer(100000),
                      backoff_base=0.01, backoff_cap=0.05, max_attempts=8)


@dataclass
class RestoreEnv:
    """An app on a database, a tenant whose Jira is `jira` and whose Xray is `xray`, with credentials saved."""

    app: object
    site: object
    xray: XraySimulator
    jira: object
    api: ApiClient
    runs: list[str] = field(default_factory=list)

    @property
    def ds(self) -> Dataset:
        return self.xray.dataset

    def backup(self) -> str:
        """A real backup of the simulated Xray; the succeeded run's id."""
        with self.app.app_context():
            enqueue_manual(db.session.get(Tenant, self.site.id), utcnow())
            run = claim_next("test-backup", utcnow(), 120)
            outcome = execute_run(run.id, services_of(self.app), client_factory=fast_client)
            settle(run.id, "test-backup", utcnow(), outcome)
            status = db.session.get(BackupRun, run.id, populate_existing=True).status
        assert status == "succeeded", outcome.message
        self.runs.append(run.id)
        return run.id

    def start(self, body: dict, status: int = 202) -> dict:
        response = self.api.post("/api/restores", json=body)
        assert response.status_code == status, response.get_json()
        return response.get_json()

    def work(self, **kwargs) -> str | None:
        """Claim the next queued restore and run it as a worker does; its final (or queued) status."""
        kwargs.setdefault("client_factory", fast_client)
        kwargs.setdefault("settle_seconds", 1.0)  # the simulator's import jobs take a few hundredths of a second
        with self.app.app_context():
            restore_id = claim_next_restore("test-worker", utcnow(), 120)
            if restore_id is None:
                return None
            outcome = execute_restore(restore_id, services_of(self.app), **kwargs)
            if outcome is not None:
                settle_restore(restore_id, "test-worker", utcnow(), outcome)
            return db.session.get(Restore, restore_id, populate_existing=True).status

    def restore(self, body: dict, **kwargs) -> dict:
        """Start a restore through the API, run it, and return its JSON."""
        restore_id = self.start(body)["id"]
        self.work(**kwargs)
        return self.get(restore_id)

    def get(self, restore_id: str) -> dict:
        response = self.api.get(f"/api/restores/{restore_id}")
        assert response.status_code == 200
        return response.get_json()

    def items(self, restore_id: str) -> list[dict]:
        response = self.api.get(f"/api/restores/{restore_id}/items")
        assert response.status_code == 200
        return [json.loads(line) for line in response.get_data(as_text=True).splitlines() if line.strip()]

    def snapshot_records(self, run_id: str) -> dict[str, list[dict]]:
        """Every record of a stored snapshot, by entity."""
        services = services_of(self.app)
        with self.app.app_context():
            tenant = db.session.get(Tenant, self.site.id)
            run = db.session.get(BackupRun, run_id)
            key = data_key_for(tenant, utcnow(), services.sealer)
            out = {}
            for name in ("tests", "preconditions", "test_sets", "test_plans", "test_executions", "test_runs",
                         "folders", "project_settings"):
                raw = b"".join(services.store.read_file(run.snapshot_key, key, entity_file(name)))
                out[name] = [json.loads(line) for line in gzip.decompress(raw).splitlines() if line.strip()]
            return out

    def attachment(self, run_id: str, att_id: str) -> bytes:
        services = services_of(self.app)
        with self.app.app_context():
            tenant = db.session.get(Tenant, self.site.id)
            run = db.session.get(BackupRun, run_id)
            return b"".join(services.store.read_file(run.snapshot_key, data_key_for(tenant, utcnow(), services.sealer),
                                                     f"attachments/{att_id}"))

    def item_rows(self, restore_id: str) -> list[RestoreItem]:
        with self.app.app_context():
            rows = db.session.scalars(db.select(RestoreItem).where(RestoreItem.restore_id == restore_id)).all()
            db.session.expunge_all()
            return rows


@pytest.fixture
def restore_env(request, make_app, fake_jira):
    """A fresh simulated Xray (scale 1) and a restore-ready app; parametrize `database` with "postgresql" for PG."""
    dataset = Dataset(scale=1)
    with XraySimulator(dataset, clients={CLIENT_ID: CLIENT_SECRET}, import_delay=0.02) as xray:
        env = {"XRAY_API_URL": xray.url, "XRAY_RATE_LIMIT": "100000"}
        callspec = getattr(request.node, "callspec", None)
        if callspec is not None and callspec.params.get("database") == "postgresql":
            env["DATABASE_URL"] = request.getfixturevalue("pg_database_url")
        app = make_app(**env)
        jira_like(fake_jira, dataset)
        site = install_tenant(app, fake_jira)
        save_credentials(app, site)
        yield RestoreEnv(app=app, site=site, xray=xray, jira=fake_jira, api=ApiClient(app.test_client(), site))


# ---------------------------------------------------------------- comparing two snapshots modulo the id map

JIRA_RESTORABLE = ("summary", "description", "labels", "priority", "components", "fixVersions", "assignee")


class Snapshot:
    """A stored snapshot's records, indexed, with attachment bytes read on demand."""

    def __init__(self, env: RestoreEnv, run_id: str):
        self.env, self.run_id = env, run_id
        self.records = env.snapshot_records(run_id)
        self.by_id = {name: {str(r.get("issueId") or r.get("id")): r for r in self.records[name]}
                      for name in ("tests", "preconditions", "test_sets", "test_plans", "test_executions", "test_runs")}
        self._bytes: dict[str, bytes | None] = {}

    def file(self, att: dict):
        """(filename, sha256 of the bytes) of a stored attachment; (filename, None) for one kept in Jira."""
        if att.get("storedInJira"):
            return att.get("filename"), None
        if att["id"] not in self._bytes:
            self._bytes[att["id"]] = self.env.attachment(self.run_id, att["id"])
        return att.get("filename"), hashlib.sha256(self._bytes[att["id"]]).hexdigest()

    def projects(self) -> dict[str, dict]:
        return {str(r["projectId"]): r for r in self.records["folders"]}

    def folder_index(self) -> SourceIndex:
        if getattr(self, "_folders", None) is None:
            self._folders = SourceIndex()
            for record in self.records["folders"]:
                self._folders.add("folders", record)
        return self._folders


def _jira(record: dict, placeholder: bool, fields=JIRA_RESTORABLE) -> dict:
    jira = record.get("jira") or {}
    out = {name: jira.get(name) for name in fields}
    if placeholder and "summary" in out:
        out["summary"] = summary_for(jira.get("summary"), jira.get("key"))
    if "assignee" in out:
        out["assignee"] = (jira.get("assignee") or {}).get("accountId")
    return out


def _refs(connection, mapping: dict) -> list:
    return sorted(mapping.get(r["issueId"], r["issueId"]) for r in (connection or {}).get("results") or [])


def restorable(entity: str, record: dict, snap: Snapshot, mapping: dict, *, source: bool,
               jira_fields=JIRA_RESTORABLE) -> dict:
    """The restorable fields of a record, ids translated through `mapping` (source side) or kept (target side)."""
    ids = mapping if source else {}
    if entity == "test_runs":
        def files(items):
            return sorted(snap.file(e) for e in items or [] if not e.get("storedInJira"))

        return {
            "status": record["status"]["name"], "comment": record.get("comment"),
            "startedOn": record.get("startedOn"), "finishedOn": record.get("finishedOn"),
            "assigneeId": record.get("assigneeId"), "executedById": record.get("executedById"),
            "defects": record.get("defects"), "evidence": files(record.get("evidence")),
            "customFields": sorted((c["name"], json.dumps(c.get("values"))) for c in record.get("customFields") or []),
            "steps": [[s["status"]["name"], s.get("comment"), s.get("actualResult"), s.get("defects"),
                       files(s.get("evidence")), s.get("action"), s.get("data"), s.get("result")]
                      for s in record.get("steps") or []],
            "preconditions": sorted((ids.get(p["preconditionRef"]["issueId"], p["preconditionRef"]["issueId"]),
                                     p.get("definition")) for p in (record.get("preconditions") or {}).get("results")
                                    or []),
        }
    recreated = source and mapping.get(record["issueId"], record["issueId"]) != record["issueId"]
    out = {"jira": _jira(record, recreated, jira_fields)}  # a recreated empty summary gets the placeholder
    folder = (record.get("folder") or {}).get("path")
    if recreated and entity in ("tests", "preconditions"):  # it cannot go into a folder whose name holds a "/"
        folder = snap.folder_index().folder_for(str(record["projectId"]), folder)
    if entity == "tests":
        out.update(
            type=record["testType"]["name"], gherkin=record.get("gherkin"), scenarioType=record.get("scenarioType"),
            unstructured=record.get("unstructured"), folder=folder,
            preconditions=_refs(record.get("preconditions"), ids),
            steps=[[s.get("action"), s.get("data"), s.get("result"),
                    sorted((c["name"], json.dumps(c.get("value"))) for c in s.get("customFields") or []),
                    sorted(snap.file(a) for a in s.get("attachments") or [] if not a.get("storedInJira"))]
                   for s in record.get("steps") or []])
    elif entity == "preconditions":
        out.update(type=record["preconditionType"]["name"], definition=record.get("definition"),
                   folder=folder, tests=_refs(record.get("tests"), ids))
    else:
        out["tests"] = _refs(record.get("tests"), ids)
        if entity == "test_plans":
            out["testExecutions"] = _refs(record.get("testExecutions"), ids)
        if entity == "test_executions":
            out["testEnvironments"] = sorted(record.get("testEnvironments") or [])
    return out


def folder_state(record: dict) -> list[str]:
    """A project's folder paths that a restore can recreate (names holding a "/" cannot be)."""
    return sorted(folder_paths(record)[0])


def compare_snapshots(first: Snapshot, second: Snapshot, mapping: dict, project_ids: set[str], *,
                      project_map: dict | None = None, jira_fields=JIRA_RESTORABLE) -> list[str]:
    """Every difference, on a restorable field, between the first snapshot (ids mapped) and the second.

    `project_ids`: the first snapshot's projects to compare; `project_map`: where each went (default: itself).
    """
    project_map = project_map or {}
    problems: list[str] = []
    for entity in ("preconditions", "tests", "test_sets", "test_plans", "test_executions"):
        for record in first.records[entity]:
            if str(record["projectId"]) not in project_ids:
                continue
            target_id = mapping.get(record["issueId"], record["issueId"])
            other = second.by_id[entity].get(target_id)
            if other is None:
                problems.append(f"{entity} {record['jira']['key']}: missing after the restore")
                continue
            if str(other["projectId"]) != project_map.get(str(record["projectId"]), str(record["projectId"])):
                problems.append(f"{entity} {record['jira']['key']}: restored into project {other['projectId']}")
            want = restorable(entity, record, first, mapping, source=True, jira_fields=jira_fields)
            got = restorable(entity, other, second, mapping, source=False, jira_fields=jira_fields)
            for name in sorted(set(want) | set(got)):
                if want.get(name) != got.get(name):
                    problems.append(f"{entity} {record['jira']['key']}.{name}: {str(want.get(name))[:300]} != "
                                    f"{str(got.get(name))[:300]}")
    second_runs = {(r["testExecution"]["issueId"], r["test"]["issueId"]): r for r in second.records["test_runs"]}
    for run in first.records["test_runs"]:
        execution = first.by_id["test_executions"].get(run["testExecution"]["issueId"])
        if execution is None or str(execution["projectId"]) not in project_ids:
            continue
        pair = (mapping.get(run["testExecution"]["issueId"], run["testExecution"]["issueId"]),
                mapping.get(run["test"]["issueId"], run["test"]["issueId"]))
        other = second_runs.get(pair)
        if other is None:
            problems.append(f"test run {run['id']}: missing after the restore")
            continue
        want = restorable("test_runs", run, first, mapping, source=True)
        got = restorable("test_runs", other, second, mapping, source=False)
        for name in sorted(set(want) | set(got)):
            if want.get(name) != got.get(name):
                problems.append(f"test run {run['id']}.{name}: {str(want.get(name))[:300]} != {str(got.get(name))[:300]}")
    first_folders, second_folders = first.projects(), second.projects()
    for project_id in project_ids:
        target = project_map.get(project_id, project_id)
        want, got = folder_state(first_folders[project_id]), folder_state(second_folders[target])
        if want != got:
            problems.append(f"folders of project {project_id}: {want} != {got}")
    return problems


# ---------------------------------------------------------------- losing data, as users do

ALPHA, BRAVO, CHARLIE, DELTA = "10000", "10001", "10002", "10003"
ALL_PROJECTS = {ALPHA, BRAVO, CHARLIE, DELTA}


def delete_folder(xray, project_id: str, path: str) -> None:
    answer = xray.dataset.query('mutation($p: String!, $f: String!) { deleteFolder(projectId: $p, path: $f) }',
                                {"p": project_id, "f": path})
    assert not answer.get("errors"), answer


def delete_mix(xray) -> dict:
    """Delete what the restore must bring back: tests in sets, plans and executions (the empty-summary one, the
    130-step one with files, the data-driven one, a Cucumber and a generic one, two in the 110-test execution), a
    test set, an execution with runs and evidence, a folder, and every item and folder of a whole project."""
    ds = xray.dataset
    alpha_tests = [t for t in ds.tests if t["projectId"] == ALPHA]
    tests = [alpha_tests[i]["issueId"] for i in (2, 3, 4, 6, 7, 200, 201)]
    test_set = next(s["issueId"] for s in ds.test_sets if s["projectId"] == ALPHA and s["jira"]["summary"] == "Test set 2")
    execution = next(r["_test_execution"] for r in ds.test_runs if r["evidence"] and
                     ds.test_execution_by_id[r["_test_execution"]]["projectId"] == ALPHA and
                     len(ds.runs_by_execution[r["_test_execution"]]) < 50)
    for issue_id in [*tests, test_set, execution]:
        xray.delete(issue_id)
    delete_folder(xray, ALPHA, "/Regression/Login ✓")
    whole = [r["issueId"] for records in (ds.tests, ds.preconditions, ds.test_sets, ds.test_plans, ds.test_executions)
             for r in records if r["projectId"] == CHARLIE]
    for issue_id in whole:
        xray.delete(issue_id)
    for child in [c["path"] for c in ds.folders[CHARLIE]["folders"]]:
        delete_folder(xray, CHARLIE, child)
    return {"tests": tests, "test_set": test_set, "execution": execution, "project": whole}


def id_mapping(items: list[dict]) -> dict[str, str]:
    """Old → new issue ids from a restore's items report."""
    return {i["sourceId"]: i["targetId"] for i in items if i["targetId"] and i["entity"] != "test_runs"}


def issue_counts(ds) -> dict[str, int]:
    return {name: len(getattr(ds, name)) for name in ("tests", "preconditions", "test_sets", "test_plans",
                                                      "test_executions", "test_runs")}


@contextmanager
def browser_site_with_xray_data(site):
    """The browser tests' live site holding the simulator's projects, users, components and versions, no runs or
    restores, and credentials saved; Jira is put back and the simulator's faults cleared afterwards."""
    jira = site.jira
    saved = (list(jira.projects), dict(jira.users), dict(jira.components), dict(jira.versions))
    jira_like(jira, site.xray.dataset)
    client_id, secret = site.valid_pair
    with site.app.app_context():
        for model in (Restore, BackupRun):
            db.session.execute(delete(model))
        db.session.commit()
        services_of(site.app).credentials.save(db.session.get(Tenant, site.tenant.id), "admin-account",
                                               {"clientId": client_id, "clientSecret": secret})
    site.xray.set_faults()
    try:
        yield site
    finally:
        site.xray.set_faults()
        jira.projects, jira.users, jira.components, jira.versions = saved
