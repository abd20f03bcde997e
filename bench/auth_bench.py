"""Benchmark: what Connect request verification costs, on a real gunicorn server on loopback.

    .venv/bin/python bench/auth_bench.py [--requests 800] [--seconds 4] [--workers 1]

Starts a fake Jira, migrates a fresh SQLite database in a temporary folder, installs a tenant,
starts gunicorn serving the app, then measures (one client on loopback) the public `/healthz`
against an authenticated probe doing the same work behind a context token, a real `/api/...` GET,
and the refusal of an unauthenticated API call. Loops are bounded by count and time.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

CANDIDATE_API_PATHS = ("/api/backup-settings", "/api/xray-credentials", "/api/backups")
PROBE_PATH = "/api/_bench/probe"


def bench_app():
    """`wsgi:app` plus one authenticated probe doing exactly what /healthz does (gunicorn calls this).

    Comparing the probe with /healthz isolates what verification costs; the real API route is
    measured too, for what a user sees.
    """
    from flask import jsonify
    from sqlalchemy import text

    from app import create_app
    from app.extensions import db

    app = create_app()

    def probe():
        db.session.execute(text("SELECT 1"))
        return jsonify({"status": "ok"})

    app.add_url_rule(PROBE_PATH, "bench_probe", probe)
    return app


def _environment(instance: Path, keys_url: str) -> dict[str, str]:
    from app.crypto import generate_key

    env = dict(os.environ)
    env.update({
        "APP_BASE_URL": "http://127.0.0.1:8000",
        "APP_ENV": "development",
        "INSTANCE_PATH": str(instance),
        "DATABASE_URL": f"sqlite:///{instance / 'bench.db'}",
        "ENCRYPTION_KEYS": f"bench:{generate_key()}",
        "SCHEDULER_ENABLED": "false",
        "CONNECT_ALLOWED_HOSTS": "127.0.0.1,localhost",
        "CONNECT_INSTALL_KEYS_URL": keys_url,
        "BACKUP_STORAGE_URL": (instance / "backups").as_uri(),
    })
    return env


def _prepare(env: dict[str, str], jira) -> str:
    """Migrate the database, install the fake site; return the cheapest authenticated API path."""
    from flask_migrate import upgrade

    from app import create_app
    from app.config import load_config
    from app.models import utcnow
    from app.services import services_of
    from app.tenants import install

    app = create_app(load_config(env, instance_path=env["INSTANCE_PATH"]))
    with app.app_context():
        upgrade()
        install(jira.install_payload(), utcnow(), sealer=services_of(app).sealer)
    routed = {rule.rule for rule in app.url_map.iter_rules() if "GET" in rule.methods}
    for path in CANDIDATE_API_PATHS:
        if path in routed:
            return path
    raise SystemExit("no authenticated GET route under /api/ to measure")


def _start_gunicorn(env: dict[str, str], workers: int) -> tuple[subprocess.Popen, str]:
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(
        # Sync workers as measured so far (gunicorn.conf.py would make them threaded): compare like with like.
        [sys.executable, "-m", "gunicorn", "--worker-class", "sync", "--workers", str(workers), "--bind", "127.0.0.1:0",
         "--log-level", "info", "--pythonpath", str(ROOT / "bench"), "auth_bench:bench_app()"],
        cwd=ROOT, env=env, stdout=log, stderr=log,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        log.seek(0)
        match = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log.read())
        if match:
            url = match.group(1)
            try:
                if requests.get(url + "/healthz", timeout=2).status_code == 200:
                    return process, url
            except requests.RequestException:
                pass
        if process.poll() is not None:
            log.seek(0)
            raise SystemExit("gunicorn exited:\n" + log.read()[-2000:])
        time.sleep(0.2)
    process.terminate()
    raise SystemExit("gunicorn did not start within 30 s")


def _measure(session: requests.Session, base: str, cases: list, count: int, seconds: float) -> dict[str, list[float]]:
    """Round-robin one request per case, so load from other processes hits every case alike."""
    samples: dict[str, list[float]] = {name: [] for name, *_ in cases}
    deadline = time.monotonic() + seconds
    for _ in range(count):
        for name, path, headers, expected in cases:
            started = time.perf_counter()
            response = session.get(base + path, headers=headers, timeout=10)
            samples[name].append(time.perf_counter() - started)
            if response.status_code != expected:
                raise SystemExit(f"{path} answered {response.status_code}, expected {expected}")
        if time.monotonic() > deadline:
            break
    return samples


def _row(name: str, latencies: list[float]) -> dict:
    ordered = sorted(latencies)
    return {
        "name": name,
        "n": len(ordered),
        "rps": len(ordered) / sum(ordered),
        "rps50": 1 / statistics.median(ordered),
        "p50": statistics.median(ordered) * 1000,
        "p99": ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="at most this many requests per endpoint")
    parser.add_argument("--seconds", type=float, default=15.0, help="at most this long in all")
    parser.add_argument("--workers", type=int, default=1, help="gunicorn sync workers")
    args = parser.parse_args(argv)

    from sim.jira import FakeJira
    from tests.connect_helpers import context_token

    with FakeJira() as jira, tempfile.TemporaryDirectory(prefix="auth-bench-") as tmp:
        env = _environment(Path(tmp), jira.keys_url)
        api_path = _prepare(env, jira)
        process, base = _start_gunicorn(env, args.workers)
        try:
            token = context_token(jira)  # reused like a page reuses AP.context.getToken()
            auth = {"Authorization": f"JWT {token}"}
            cases = [
                ("public GET /healthz (SELECT 1)", "/healthz", {}, 200),
                ("authenticated probe (SELECT 1)", PROBE_PATH, auth, 200),
                (f"authenticated GET {api_path}", api_path, auth, 200),
                (f"refused GET {api_path} (no token)", api_path, {}, 401),
            ]
            session = requests.Session()
            _measure(session, base, cases, 20, 10)  # warm up (and fill the admin cache)
            samples = _measure(session, base, cases, args.requests, args.seconds)
        finally:
            process.terminate()
            process.wait(timeout=10)
        rows = [_row(name, samples[name]) for name, *_ in cases]
        admin_checks = sum(1 for r in jira.requests if r["path"] == "/rest/api/3/permissions/check")

    print(f"gunicorn sync workers: {args.workers}; one client on loopback, requests interleaved; SQLite; "
          f"Python {sys.version.split()[0]}")
    print(f"{'request':<46} {'n':>5} {'req/s':>7} {'req/s@p50':>9} {'p50 ms':>7} {'p99 ms':>7}")
    for row in rows:
        print(f"{row['name']:<46} {row['n']:>5} {row['rps']:>7.0f} {row['rps50']:>9.0f} {row['p50']:>7.2f} "
              f"{row['p99']:>7.2f}")
    public, probe, api = rows[0], rows[1], rows[2]
    # Medians resist the noise of a shared machine; the mean-based figure is printed too.
    cost = 1 - probe["rps50"] / public["rps50"]
    print(f"verification cost (probe vs /healthz, same work): {cost * 100:.1f} % of throughput at the median, "
          f"{(1 - probe['rps'] / public['rps']) * 100:.1f} % by the mean (target < 30 %)")
    print(f"real API route vs /healthz: {(1 - api['rps50'] / public['rps50']) * 100:.1f} % at the median "
          f"(includes the view's own work)")
    print(f"admin checks sent to Jira: {admin_checks} (cached per tenant and account)")


if __name__ == "__main__":
    main()
