import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.cli import run  # noqa: E402,F401  (the shared fixtures)
from helpers.home import isolated_home  # noqa: E402,F401
from helpers.simulator import DEVICE_IDS, Sim, sim_fixture  # noqa: E402

IDS = dict(DEVICE_IDS, msom="0a10aced202194944a00e4f1")


class WifiSim(Sim):
    def wifi(self, index=0):
        """What the board holds: its known networks and the network it is connected to."""
        from particle_py.sim import wifi

        dev = self.devices()[index]
        store = wifi.board(dev)
        return [(n["ssid"], n["security"], n["password"]) for n in store.known], wifi.connected_ssid(dev)


sim = sim_fixture(WifiSim)


@pytest.fixture
def device(tmp_path, monkeypatch):
    """make(platform, fw=...) -> the view of a folder with that one device running that Device OS
    and an app (particle-sim create's contents, so it boots again after a reset)."""
    from particle_py.sim import devices

    def make(platform, fw="6.2.0", knobs=None):
        folder = tmp_path / "sim"
        devices.create(folder, [platform], devices.Recipe(device_os=fw), knobs=knobs, first_id=IDS[platform])
        monkeypatch.setenv("PARTICLE_PY_SIM", str(folder))
        return WifiSim(folder)
    return make
