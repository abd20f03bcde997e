"""Press "Back up now" from this process at an agreed moment: `mp_backup_now.py CLIENT_KEY SECRET EPOCH`.

The app handles a real POST /api/backups with a valid context token (through the test client); prints the status.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: app, sim, tests.support


def main() -> None:
    from types import SimpleNamespace

    from app import create_app
    from tests.support.connect import context_token

    client_key, shared_secret, start_at = sys.argv[1], sys.argv[2], float(sys.argv[3])
    app = create_app()
    client = app.test_client()
    tenant = SimpleNamespace(client_key=client_key, shared_secret=shared_secret)
    headers = {"Authorization": f"JWT {context_token(tenant)}"}
    client.get("/api/backups", headers=headers)  # warm up: connections, admin check cache
    time.sleep(max(0.0, start_at - time.time()))
    response = client.post("/api/backups", headers=headers)
    print(response.status_code, flush=True)


if __name__ == "__main__":
    main()
