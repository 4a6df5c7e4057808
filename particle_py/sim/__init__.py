"""Simulated USB devices (stdlib only; importable by the system Python for umockdev).

Public API (docs/ARCHITECTURE.md, Contract 1): ``SimDevice`` and ``SimUsbError``
(sim/device.py), ``SimBus`` (sim/bus.py), ``create_state`` (sim/state.py). The pyusb backend
lives in sim/pyusb_backend.py and is the only module here that imports pyusb.
"""
from .bus import SimBus, read_log
from .device import SimDevice, SimUsbError
from .state import create_state

__all__ = ["SimBus", "SimDevice", "SimUsbError", "create_state", "read_log"]
