"""Run the Xray simulator in the foreground: ``python -m sim.xray --port 8002 --scale 1``."""
from __future__ import annotations

import argparse
import signal
import threading

from .server import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, XraySimulator


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m sim.xray", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8002)
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--client-id", default=DEFAULT_CLIENT_ID)
    parser.add_argument("--client-secret", default=DEFAULT_CLIENT_SECRET)
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per window per client")
    parser.add_argument("--rate-window", type=float, default=300.0, help="seconds")
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--import-delay", type=float, default=0.2, help="seconds a bulk import job takes")
    parser.add_argument("--clock-skew", type=float, default=0.0, help="seconds Xray's clock runs ahead (or behind)")
    args = parser.parse_args(argv)

    sim = XraySimulator(scale=args.scale, seed=args.seed, clients={args.client_id: args.client_secret},
                        rate_limit=args.rate_limit, rate_window=args.rate_window, host=args.host, port=args.port,
                        import_delay=args.import_delay)
    sim.set_clock(skew_seconds=args.clock_skew)
    if args.latency_ms:
        sim.set_faults(latency_ms=args.latency_ms)
    sim.start()
    counts = ", ".join(f"{k} {v}" for k, v in sim.dataset.counts().items())
    print(f"Xray simulator on {sim.url} (regions: {sim.url}/us, /eu, /au)", flush=True)
    print(f"client id {args.client_id}; client secret as given by --client-secret (default in sim/xray/server.py)")
    print(f"dataset scale {args.scale}: {counts}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
