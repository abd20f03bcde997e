"""Xray Cloud simulator: a real HTTP server over a deterministic generated tenant.

    from sim.xray import XraySimulator, Dataset, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET
    with XraySimulator(scale=1) as xray:          # 127.0.0.1, ephemeral port
        xray.url                                   # e.g. http://127.0.0.1:53211 (global region)
        xray.region_url("eu")                      # {url}/eu
        xray.dataset                               # the ground truth (see sim.xray.dataset)
        xray.set_faults(error_every=3, latency_ms=50)   # see sim.xray.server for every fault
        xray.stats()                               # requests served by kind

Run standalone: ``python -m sim.xray --port 8002 --scale 1``.
"""
from .dataset import Dataset, public
from .graphql_api import MAX_ITEMS, MAX_LIMIT, RESOLVER_LIMIT, SCHEMA_PATH
from .server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, THROTTLE_TEXT, XraySimulator

__all__ = [
    "Dataset", "public", "XraySimulator", "DEFAULT_CLIENT_ID", "DEFAULT_CLIENT_SECRET", "THROTTLE_TEXT",
    "MAX_ITEMS", "MAX_LIMIT", "RESOLVER_LIMIT", "SCHEMA_PATH",
]
