"""Shared by the edge tests: simulated device profiles and a view of the simulator's state
(with the requests that switch a device to DFU mode)."""
from __future__ import annotations

from helpers.simulator import DEVICE_IDS, Sim, profile  # noqa: F401  (re-exported)


class EdgeSim(Sim):
    def dfu_mode_requests(self, since=0):
        """Vendor requests asking a running device to switch to DFU mode (control.DFU_MODE)."""
        from particle_py import control_codes as control
        return [e for e in self.log()[since:] if e.get("event") == "control"
                and (e["bmRequestType"] & 0x60) == 0x40 and e["wIndex"] == control.DFU_MODE]

    def in_dfu(self, index=0):
        from particle_py.platforms import by_usb
        dev = self.devices()[index]
        return by_usb(dev.vid, dev.pid).dfu_ids == (dev.vid, dev.pid)
