"""Each simulator test gets its own simulator: the tests change its data."""
from __future__ import annotations

import pytest

from sim.xray import XraySimulator
from sim_api import SimApi


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
