"""Shared by the edge tests: simulated device profiles and a view of the simulator's state."""
from __future__ import annotations

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
