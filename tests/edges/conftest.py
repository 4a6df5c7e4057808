"""Fixtures for the edge tests (issue 11): a simulated bus, a logged-in simulated cloud, the
`particle` and `particle-sim` front ends in-process."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))        # tests/helpers as `helpers`
sys.path.insert(0, str(Path(__file__).resolve().parent))            # edge_helpers

from edge_helpers import EdgeSim  # noqa: E402
from helpers.cli import run  # noqa: E402,F401  (the shared fixtures)
from helpers.home import isolated_home  # noqa: E402,F401
from helpers.simulator import sim_fixture  # noqa: E402


sim = sim_fixture(EdgeSim)


@pytest.fixture
def logged_in(tmp_path, isolated_home):
    from particle_py.sim import cloud as sim_cloud

    running = sim_cloud.start(tmp_path / "cloud.sqlite")
    running.db.add_user("alice@example.com", "pw")
    token = running.db.issue_token("alice@example.com")
    (isolated_home / ".particle" / "particle.config.json").write_text(json.dumps(
        {"apiUrl": running.url, "access_token": token, "username": "alice@example.com",
         "flashWarningShownOn": 1}))
    yield running
    running.stop()
