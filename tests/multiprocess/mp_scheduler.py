"""A scheduler + worker process for the multiprocess tests: `flask scheduler`'s service with a stand-in backup.

The stand-in does what a backup does to the queue and storage (works in steps under the lease, checks
`still_owner()` between them and right before publishing, publishes a real encrypted snapshot, records the
result) without the Xray engine, so queue, lease and crash behaviour are exercised on their own.
Every publish is logged as `PUBLISHED <run id> <worker id>` on stderr.

    python tests/multiprocess/mp_scheduler.py --workers 2 --steps 10 --step-seconds 0.2
"""
from __future__ import annotations

import argparse
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository: app, sim, tests.support


def say(line: str) -> None:
    sys.stderr.write(line + "\n")  # one write: worker threads must not interleave inside a line
    sys.stderr.flush()


def stand_in_execute(steps: int, step_seconds: float):
    def execute(run_id, *, now, still_owner, **_):
        from app.backups.lifecycle.datakeys import data_key_for
        from app.backups.runs.status import RunOutcome, RunStatus
        from app.extensions import db
        from app.models import BackupRun
        from app.services import current_services

        services = current_services()
        run = db.session.get(BackupRun, run_id, populate_existing=True)
        tenant, worker_id = run.tenant, run.worker_id
        root = Path(services.config.instance_path) / "tmp" / "mp"
        root.mkdir(parents=True, exist_ok=True)
        for leftover in root.glob(f"{run_id}-*"):  # a killed attempt's local data: this run is ours now
            shutil.rmtree(leftover, ignore_errors=True)
        work = root / f"{run_id}-{worker_id.replace(':', '_')}"
        work.mkdir()
        try:
            for step in range(steps):
                if not still_owner():
                    say(f"STOPPED {run_id} {worker_id} ")
                    return
                (work / f"part-{step}.json").write_text('{"step": %d}' % step)
                time.sleep(step_seconds)
            data_key = data_key_for(tenant, now(), services.sealer)
            if not still_owner():
                say(f"STOPPED {run_id} {worker_id} ")
                return
            key = services.store.publish(tenant.client_key, run_id, work, data_key)
            say(f"PUBLISHED {run_id} {worker_id} ")
            return RunOutcome(RunStatus.SUCCEEDED, None, {"snapshot_key": key, "counts": {"parts": steps}})
        finally:
            shutil.rmtree(work, ignore_errors=True)

    return execute


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--no-schedule", action="store_true")
    parser.add_argument("--enqueue-every", type=float, default=0.5)
    parser.add_argument("--poll", type=float, default=0.2)
    parser.add_argument("--retry-delay", type=float, default=0.5)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--step-seconds", type=float, default=0.05)
    parser.add_argument("--real", action="store_true", help="run the real backup (app.backups.runs.runner)")
    args = parser.parse_args()

    from app import create_app
    from app.backups.runs.status import RetryPolicy
    from app.scheduler import start_background
    from app.services import services_of

    app = create_app()
    services = services_of(app)
    services.retry = RetryPolicy(delay=args.retry_delay)
    execute = None if args.real else stand_in_execute(args.steps, args.step_seconds)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    service = start_background(app, services, workers=args.workers, schedule=not args.no_schedule,
                               enqueue_seconds=args.enqueue_every, poll_interval=args.poll, execute=execute)
    print("READY", file=sys.stderr, flush=True)
    while not stop.wait(0.5):
        pass
    service.stop(timeout=10)
    print("EXITED", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
