"""The simulator folder of an in-process test: the `sim` fixture makes one from profiles (and
fault knobs), points PARTICLE_PY_SIM at it and returns a view of what its devices hold."""
from __future__ import annotations

import pytest

# one device id per platform, for every folder's simulated devices
DEVICE_IDS = {
    "core": "53ff6c065075535128311587",
    "photon": "3a0035000f47343432313031",
    "p1": "2d0042000847353138383138",
    "electron": "1f0038000e51353532343635",
    "argon": "e00fce68a1b2c3d4e5f60718",
    "boron": "e00fce68f1e2d3c4b5a69788",
    "p2": "0a10aced202194944a001be0",
}


def profile(platform, mode="", **opts):
    """The profile of ``platform``'s device with its id (DFU mode, or ``mode="normal"``); a Photon
    gets the Particle bootloader (real=1; the plain "photon" is the recorded dfu-util device)."""
    name = platform + ("-normal" if mode == "normal" else "")
    extra = ("real=1," if platform == "photon" else "") + f"id={DEVICE_IDS[platform]}"
    for k, v in opts.items():
        extra += f",{k}={v}"
    return f"{name}:{extra}"


class Sim:
    def __init__(self, state_dir):
        self.dir = state_dir

    def bus(self):
        from particle_py.sim.bus import SimBus

        return SimBus.load(self.dir)

    def devices(self):
        return self.bus().devices()

    def peek(self, alt, address, length, index=0):
        return self.devices()[index].memory(alt).peek(address, length)

    def poke(self, alt, address, data, index=0):
        bus = self.bus()
        bus.devices()[index].memory(alt).poke(address, data)
        bus.save()

    def log(self):
        from particle_py.sim.bus import read_log

        return read_log(self.dir)


def sim_fixture(view=Sim):
    """A `sim` fixture whose make(*profiles, knobs=None) returns a ``view`` of the folder."""

    @pytest.fixture
    def sim(tmp_path, monkeypatch):
        from particle_py.sim.state import create_state

        def make(*profiles, knobs=None):
            state = tmp_path / "sim"
            create_state(state, list(profiles), knobs or {})
            monkeypatch.setenv("PARTICLE_PY_SIM", str(state))
            return view(state)
        return make
    return sim


def set_addresses(log) -> int:
    """DfuSe SET_ADDRESS commands in a wire log (DNLOAD block 0 whose data starts 0x21)."""
    return sum(1 for e in log if e.get("event") == "control" and e["bmRequestType"] == 0x21 and e["bRequest"] == 1
               and e["wValue"] == 0 and e["data"].startswith("21"))
