"""The simulator's own tests change its data, so each gets a fresh simulator.

Deliberately named like the suite-wide fixtures they replace inside tests/sim only: `xray` (here: a fresh
simulator, not the shared-dataset one of tests/support/backups.py), `api` (here: an HTTP client of that simulator,
not the app's API client of tests/support/apps.py), and `ds` (its dataset).
"""
from __future__ import annotations

import pytest

from sim.xray import XraySimulator
from tests.support.sim_api import SimApi


@pytest.fixture
def xray():
    with XraySimulator(import_delay=0.05) as sim:
        yield sim


@pytest.fixture
def api(xray):
    return SimApi(xray)


@pytest.fixture
def ds(xray):
    return xray.dataset
