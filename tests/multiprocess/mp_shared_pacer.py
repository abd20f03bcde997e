"""Send Xray requests through a pacer from this process: `mp_shared_pacer.py MODE DB_URL XRAY_URL LIMIT WINDOW N EPOCH`.

MODE "db" paces through a DatabasePacer on DB_URL (shared with the other processes), "local" through this
process's own in-process Pacer. Starts at EPOCH (so processes race), prints the client's stats as JSON.
"""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: app, sim, tests.support

CLIENT_ID = "MP00000000000000000000000000PACE"
CLIENT_SECRET = "p" * 64
TENANT = "https://mp-pacing.atlassian.net"
QUERY = "query statuses { getStatuses { name } }"
MARGIN = 0.25


def main() -> None:
    from sqlalchemy import create_engine

    from app.xray.client import XrayClient
    from app.xray.pacer import Pacer
    from app.xray.shared_pacer import DatabasePacer

    mode, db_url, xray_url = sys.argv[1:4]
    limit, window, count, start_at = int(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), float(sys.argv[7])
    engine = None
    if mode == "db":
        args = {"connect_args": {"timeout": 30}} if db_url.startswith("sqlite") else {}
        engine = create_engine(db_url, **args)
        pacer = DatabasePacer(engine, TENANT, limit, window, margin=MARGIN)
        with engine.connect():
            pass  # connect before the start so both processes race from the same moment
    else:
        pacer = Pacer(limit, window, margin=MARGIN)
    client = XrayClient(xray_url, CLIENT_ID, CLIENT_SECRET, pacer=pacer)
    time.sleep(max(0.0, start_at - time.time()))
    started = time.monotonic()
    for _ in range(count):
        client.graphql("statuses", QUERY)
    stats = client.stats.as_dict()
    stats["wall"] = time.monotonic() - started
    client.close()
    if engine is not None:
        engine.dispose()
    print(json.dumps(stats), flush=True)


if __name__ == "__main__":
    main()
