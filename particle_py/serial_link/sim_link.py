"""The simulator behind the serial seam (PARTICLE_PY_SIM): ports listed from the simulated
bus, and a Port whose other end is the device model (particle_py/sim/serial.py).

In one process the serial side and the USB side (particle_py.usb's simulator backend) must
see one bus, or the last to save would undo the other: when the USB backend has the folder
loaded its bus is used, otherwise one bus per folder is kept here and reloaded whenever
another process has saved since.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Optional

from particle_py.errors import ParticlePyError
from particle_py.serial_link.transport import Port, device_left, open_error

_buses: dict = {}


def active() -> bool:
    return bool(os.environ.get("PARTICLE_PY_SIM"))


def _state_dir() -> str:
    return os.path.abspath(os.environ["PARTICLE_PY_SIM"])


def _bus():
    """(bus, save) for the simulator folder, shared with the USB backend when it is loaded."""
    state_dir = _state_dir()
    usb_mod = sys.modules.get("particle_py.usb")
    backend = getattr(usb_mod, "_sim_backends", {}).get(state_dir) if usb_mod else None
    if backend is not None:
        return backend._ensure_bus(), backend.save
    from particle_py.sim.bus import SimBus, state_token

    if not os.path.exists(os.path.join(state_dir, "state.json")):
        raise ParticlePyError(f"PARTICLE_PY_SIM is set, but {state_dir} holds no simulated devices",
                              "Create some (particle-sim create photon-normal), or unset PARTICLE_PY_SIM.")
    bus = _buses.get(state_dir)
    if bus is None or state_token(state_dir) != bus.token:
        bus = _buses[state_dir] = SimBus.load(state_dir)
    return bus, bus.save


@dataclass(frozen=True)
class SimPortInfo:
    """The fields of pyserial's ListPortInfo that port discovery reads."""
    device: str
    vid: Optional[int]
    pid: Optional[int]
    serial_number: Optional[str]
    manufacturer: Optional[str]
    hwid: str


def comports() -> list:
    from particle_py.sim import serial as sim_serial

    bus, _ = _bus()
    out = []
    for path, dev in sim_serial.serial_devices(bus):
        hwid = f"USB VID:PID={dev.vid:04X}:{dev.pid:04X} SER={dev.serial or ''}"
        out.append(SimPortInfo(path, dev.vid, dev.pid, dev.serial, dev.description.manufacturer, hwid))
    return out


class SimPort(Port):
    def __init__(self, path: str, baud: int):
        from particle_py.sim import serial as sim_serial

        self.path = path
        bus, save = _bus()
        matches = [dev for name, dev in sim_serial.serial_devices(bus) if name == path]
        if not matches:
            raise open_error(path, FileNotFoundError(2, "No such file or directory"))
        dev = matches[0]
        fault = sim_serial.load_board(_state_dir(), dev.unit).get("faults", {}).get("open")
        if fault == "busy":
            raise open_error(path, OSError(16, "Device or resource busy"))
        if fault == "denied":
            raise open_error(path, PermissionError(13, "Permission denied"))
        self.unit = dev.unit
        self.end = sim_serial.DeviceSerial(dev, _state_dir())
        self.end.set_baud(baud)
        save()
        self.closed = False

    def _device(self):
        """The port's device on the current bus (a reload gives new objects for the same board)."""
        from particle_py.sim import serial as sim_serial

        bus, save = _bus()
        for _name, dev in sim_serial.serial_devices(bus):
            if dev.unit == self.unit:
                self.end.dev = dev
                return save
        raise device_left(self.path, "the port was open")

    def _read_some(self, wait_s: float) -> tuple[bytes, float]:
        from particle_py.sim.serial import PortGone

        save = self._device()
        try:
            data = self.end.read()
            if not data:
                self.end.idle(int(wait_s * 1_000_000))
        except PortGone:
            save()
            raise device_left(self.path, "reading") from None
        if self.end.dev.gone:
            save()
        return data, (0.0 if data else wait_s)

    def _write(self, data: bytes) -> None:
        from particle_py.sim.serial import PortGone

        save = self._device()
        try:
            self.end.write(data)
        except PortGone:
            raise device_left(self.path, "writing") from None
        finally:
            save()

    def close(self) -> None:
        self.closed = True


def open_port(path: str, baud: int) -> SimPort:
    return SimPort(path, baud)


_waited_s = 0.0


def wait(seconds: float) -> None:
    """A host-side pause in modelled time. Nobody is at a simulated keyboard: after a modelled
    minute of waiting for a device that does not come, the simulated user presses Ctrl-C."""
    global _waited_s
    bus, save = _bus()
    bus.sleep_ms(int(seconds * 1000))
    save()
    _waited_s += seconds
    if _waited_s >= 60:
        _waited_s = 0.0
        raise KeyboardInterrupt
