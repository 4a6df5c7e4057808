"""Fixtures for the simulator tests (helpers are in sim_helpers.py)."""
import pytest


@pytest.fixture
def state_dir(tmp_path):
    return tmp_path / "sim"
