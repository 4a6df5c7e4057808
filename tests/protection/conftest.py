"""A protected board made with `particle-sim create --protected` (Device OS 6.2.1), its owner
logged in to a running simulated cloud, and the in-process front ends."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.home import isolated_home  # noqa: E402,F401

OWNER = "owner@example.com"
BORON = "e00fce68ba1d4f6c1e2b9a70"


class World:
    def __init__(self, tmp_path: Path, monkeypatch, capsys):
        self.tmp, self.capsys = tmp_path, capsys
        self.state = tmp_path / "sim"
        monkeypatch.setenv("PARTICLE_PY_SIM", str(self.state))
        self.cloud = None

    def create(self, platform: str = "boron", *options: str, device_id: str = BORON) -> str:
        from particle_py.cli.sim import main as particle_sim
        from particle_py.sim import cloud as sim_cloud

        args = ["create", platform, "--id", device_id, "--owner", OWNER, "--device-os", "6.2.1", *options]
        assert particle_sim(args) == 0
        self.cloud = sim_cloud.start(self.state / "cloud" / "cloud.sqlite")
        token = self.cloud.db.issue_token(OWNER)
        config = Path.home() / ".particle" / "particle.config.json"
        settings = json.loads(config.read_text())
        settings.update(apiUrl=self.cloud.url, access_token=token, username=OWNER)
        config.write_text(json.dumps(settings))
        self.capsys.readouterr()
        return device_id

    def particle(self, *args) -> tuple[int, str, str]:
        from particle_py.cli.particle.main import main

        self.capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def record(self):
        from particle_py.sim import protection
        return protection.read_record(self.state, 0)

    def bus(self):
        from particle_py.sim.bus import SimBus
        return SimBus.load(self.state)

    def log(self):
        from particle_py.sim.bus import read_log
        return read_log(self.state)

    def flash(self, alt: int, address: int, length: int) -> bytes:
        dev = self.bus().devices()[0]
        return dev._read_board(alt, address, length)

    def close(self):
        if self.cloud is not None:
            self.cloud.stop()


@pytest.fixture
def world(tmp_path, monkeypatch, capsys):
    w = World(tmp_path, monkeypatch, capsys)
    yield w
    w.close()
