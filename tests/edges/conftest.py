"""Fixtures for the edge tests (issue 11): a simulated bus, a logged-in simulated cloud, the
`particle` and `particle-sim` front ends in-process."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))        # tests/helpers as `helpers`

DEVICE_IDS = {"photon": "3a0035000f47343432313031", "argon": "e00fce68a1b2c3d4e5f60718",
              "electron": "1f0038000e51353532343635", "p2": "0a10aced202194944a001be0",
              "boron": "e00fce68f1e2d3c4b5a69788"}


def profile(platform, mode="", **opts):
    name = platform + ("-normal" if mode == "normal" else "")
    extra = ("real=1," if platform == "photon" else "") + f"id={DEVICE_IDS[platform]}"
    for k, v in opts.items():
        extra += f",{k}={v}"
    return f"{name}:{extra}"


class Sim:
    def __init__(self, state_dir):
        self.dir = state_dir

    def devices(self):
        from particle_py.sim.bus import SimBus
        return SimBus.load(self.dir).devices()

    def log(self):
        from particle_py.sim.bus import read_log
        return read_log(self.dir)

    def dfu_mode_requests(self, since=0):
        """Vendor requests asking a running device to switch to DFU mode (control.DFU_MODE)."""
        from particle_py.ops import control
        return [e for e in self.log()[since:] if e.get("event") == "control"
                and (e["bmRequestType"] & 0x60) == 0x40 and e["wIndex"] == control.DFU_MODE]

    def in_dfu(self, index=0):
        from particle_py.platforms import by_usb
        dev = self.devices()[index]
        return by_usb(dev.vid, dev.pid).dfu_ids == (dev.vid, dev.pid)


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
