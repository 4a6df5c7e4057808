import sys
from pathlib import Path

import pytest

# tests/helpers is shared test code; make it importable as `helpers`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEVICE_IDS = {
    "core": "53ff6c065075535128311587",
    "photon": "3a0035000f47343432313031",
    "p1": "2d0042000847353138383138",
    "electron": "1f0038000e51353532343635",
    "argon": "e00fce68a1b2c3d4e5f60718",
    "boron": "e00fce68f1e2d3c4b5a69788",
    "p2": "0a10aced202194944a001be0",
}
# The plain "photon" profile is the recorded dfu-util device; real=1 is the Particle bootloader.
PROFILE_OPTS = {"photon": "real=1,"}


def profile(platform, mode="", **opts):
    name = platform + ("-normal" if mode == "normal" else "")
    extra = PROFILE_OPTS.get(platform, "") + f"id={DEVICE_IDS[platform]}"
    for k, v in opts.items():
        extra += f",{k}={v}"
    return f"{name}:{extra}"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """particle-cli config under tmp_path, with the first-flash notice already shown."""
    from helpers.home import isolate_home
    return isolate_home(tmp_path, monkeypatch)


@pytest.fixture(name="profile")
def profile_fixture():
    return profile


@pytest.fixture
def device_ids():
    return DEVICE_IDS


class Sim:
    def __init__(self, state_dir):
        self.dir = state_dir

    def bus(self):
        from particle_py.sim.bus import SimBus

        return SimBus.load(self.dir)

    def devices(self):
        return self.bus().devices()

    def peek(self, alt, address, length, index=0):
        dev = self.devices()[index]
        return dev.memory(alt).peek(address, length)

    def poke(self, alt, address, data, index=0):
        bus = self.bus()
        dev = bus.devices()[index]
        dev.memory(alt).poke(address, data)
        bus.save()

    def log(self):
        from particle_py.sim.bus import read_log

        return read_log(self.dir)


@pytest.fixture
def sim(tmp_path, monkeypatch):
    """make(*profiles, **knobs) -> Sim; PARTICLE_PY_SIM points at it."""
    from particle_py.sim.state import create_state

    def make(*profiles, knobs=None):
        state = tmp_path / "sim"
        create_state(state, list(profiles), knobs or {})
        monkeypatch.setenv("PARTICLE_PY_SIM", str(state))
        return Sim(state)
    return make


from helpers.cli import run  # noqa: E402,F401  (the shared fixture)
