"""Start the Xray simulator for the credential tests with one known-good API key."""
from __future__ import annotations

GOOD_CLIENT_ID = "B7E1C0DA5F3A4C2E9D8B7A6F5E4D3C2B"
GOOD_CLIENT_SECRET = "3c9f1e7a5b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a"


def start_xray_simulator(client_id: str = GOOD_CLIENT_ID, client_secret: str = GOOD_CLIENT_SECRET):
    """A running XraySimulator accepting (client_id, client_secret) on every region; returns (sim, pair)."""
    from sim.xray import XraySimulator

    sim = XraySimulator(scale=1, clients={client_id: client_secret}).start()
    return sim, (client_id, client_secret)
