"""Talk to a running Xray simulator over HTTP as a client would, and check that a refusal changed nothing."""
from __future__ import annotations

import base64
import json
from contextlib import contextmanager

import requests

from sim.xray import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

GROUND_TRUTH = ("tests", "preconditions", "test_sets", "test_plans", "test_executions", "test_runs", "attachments",
                "folders", "project_settings", "_next_issue", "_keys")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def literal(value) -> str:
    """A Python value as a GraphQL literal (objects with bare keys), for documents written inline."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


class SimApi:
    """An authenticated requests session against one simulator."""

    def __init__(self, sim, client_id: str = DEFAULT_CLIENT_ID, secret: str = DEFAULT_CLIENT_SECRET):
        self.sim, self.url = sim, sim.url
        self.session = requests.Session()
        self.client_id, self.secret = client_id, secret
        self.token = self.authenticate().json()

    def authenticate(self) -> requests.Response:
        return self.session.post(f"{self.url}/api/v2/authenticate",
                                 json={"client_id": self.client_id, "client_secret": self.secret}, timeout=10)

    @property
    def headers(self) -> dict:
        return {"Authorization": f"Bearer {self.token}"}

    def graphql(self, query: str, variables: dict | None = None) -> requests.Response:
        return self.session.post(f"{self.url}/api/v2/graphql", json={"query": query, "variables": variables or {}},
                                 headers=self.headers, timeout=10)

    def data(self, query: str, variables: dict | None = None) -> dict:
        """The ``data`` of an answer that must have no errors."""
        response = self.graphql(query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert not body.get("errors"), body["errors"]
        return body["data"]

    def error(self, query: str, variables: dict | None = None) -> str:
        """The first error message of an answer that must be a GraphQL error in a 200."""
        response = self.graphql(query, variables)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body.get("errors"), body
        return body["errors"][0]["message"]

    def call(self, name: str, selection: str = "", **arguments) -> str:
        """A mutation document calling ``name`` with literal arguments and the given selection."""
        args = ", ".join(f"{k}: {literal(v)}" for k, v in arguments.items())
        return f"mutation {{ {name}({args}){f' {{ {selection} }}' if selection else ''} }}"

    def mutate(self, name: str, selection: str = "", **arguments):
        """Send one mutation that must succeed; its result."""
        return self.data(self.call(name, selection, **arguments))[name]

    def refused(self, name: str, selection: str = "", **arguments) -> str:
        """Send one mutation that must be refused; the error message."""
        return self.error(self.call(name, selection, **arguments))

    def post(self, path: str, body=None, **kwargs) -> requests.Response:
        return self.session.post(f"{self.url}{path}", json=body, headers=self.headers, timeout=10, **kwargs)

    def get(self, path: str) -> requests.Response:
        return self.session.get(f"{self.url}{path}", headers=self.headers, timeout=10)

    def download(self, att_id: str) -> requests.Response:
        return self.get(f"/api/v2/attachments/{att_id}")


def ground_truth(ds) -> dict:
    """What a change may alter, as JSON text per attribute, for before/after comparisons."""
    with ds.lock:
        return {name: json.dumps(getattr(ds, name), sort_keys=True) for name in GROUND_TRUTH}


@contextmanager
def unchanged(ds):
    """Assert that the block leaves the ground truth exactly as it was."""
    before = ground_truth(ds)
    yield
    after = ground_truth(ds)
    for name in GROUND_TRUTH:
        assert after[name] == before[name], f"{name} changed"
