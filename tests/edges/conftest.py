"""Fixtures for the edge tests (issue 11): a simulated bus, a logged-in simulated cloud, the
`particle` and `particle-sim` front ends in-process."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))        # tests/helpers as `helpers`
sys.path.insert(0, str(Path(__file__).resolve().parent))            # edge_helpers

from edge_helpers import Sim  # noqa: E402


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    from helpers.home import isolate_home
    home = isolate_home(tmp_path, monkeypatch)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return home


@pytest.fixture
def sim(tmp_path, monkeypatch):
    from particle_py.sim.state import create_state

    def make(*profiles, knobs=None):
        state = tmp_path / "sim"
        create_state(state, list(profiles), knobs or {})
        monkeypatch.setenv("PARTICLE_PY_SIM", str(state))
        return Sim(state)
    return make


@pytest.fixture
def run(capsys):
    from particle_py.cli.particle.main import main

    def go(*argv):
        capsys.readouterr()
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err
    return go


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
