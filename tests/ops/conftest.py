import sys
from pathlib import Path

import pytest

# tests/helpers is shared test code; make it importable as `helpers`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.cli import run  # noqa: E402,F401  (the shared fixtures)
from helpers.home import isolated_home  # noqa: E402,F401
from helpers.loopback import asset_server  # noqa: E402,F401
from helpers.simulator import DEVICE_IDS, profile, sim_fixture  # noqa: E402


@pytest.fixture(name="profile")
def profile_fixture():
    return profile


@pytest.fixture
def device_ids():
    return DEVICE_IDS


sim = sim_fixture()
