"""Xray Cloud simulator: a real HTTP server over a deterministic generated tenant that also takes changes.

    from sim.xray import XraySimulator, Dataset, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
    with XraySimulator(scale=1) as xray:          # 127.0.0.1, ephemeral port
        xray.url                                   # e.g. http://127.0.0.1:53211 (global region)
        xray.region_url("eu")                      # {url}/eu
        xray.dataset                               # the ground truth (see sim.xray.dataset)
        xray.set_faults(error_every=3, latency_ms=50)   # see sim.xray.server for every fault
        xray.set_faults(fail_mutation={"name": "createTestSet", "times": 1, "status": 503})
        xray.set_faults(reject_credentials=True)   # tokens revoked, authenticate answers 401 until cleared
        xray.stats()                               # requests by kind, by_query, by_mutation, mutations
        xray.set_clock(skew_seconds=-120)          # Xray's clock two minutes behind real time
        xray.add("test", project="ALPHA", summary="New", steps=[...])   # changes, as a user would make
        xray.edit(issue_id, summary="Renamed"); xray.edit_run(run_id, status="PASSED")
        xray.link(set_id, [test_id]); xray.delete(issue_id)             # see sim.xray.admin
        before = xray.snapshot()                   # a deep copy of the ground truth to compare with later

Xray's API as served: GraphQL queries and the mutations a restore needs (``sim.xray.mutations``,
``sim.xray.run_mutations``; ``modifiedSince`` on every list), attachments, the bulk test import
(``sim.xray.bulk_import``) and the execution results import (``sim.xray.execution_import``). Every change,
whichever way it comes, goes through ``sim.xray.changes`` / ``edits`` / ``run_changes``, which keep
``lastModified`` as Xray does. Control routes for other processes: ``sim.xray.control``.

Run standalone: ``python -m sim.xray --port 8002 --scale 1``.
"""
from .dataset import Dataset, public
from .graphql_api import MAX_ITEMS, MAX_LIMIT, RESOLVER_LIMIT, SCHEMA_PATH
from .errors import ChangeError
from .server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, THROTTLE_TEXT, XraySimulator

__all__ = [
    "Dataset", "public", "XraySimulator", "DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "THROTTLE_TEXT",
    "MAX_ITEMS", "MAX_LIMIT", "RESOLVER_LIMIT", "SCHEMA_PATH", "ChangeError",
]
