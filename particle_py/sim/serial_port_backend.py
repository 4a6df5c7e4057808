"""The simulator's serial port backend: ports listed from the simulated bus, opened as in-process
ports whose other end is the device model (``serial.py``).

It has the shape of the client's port backend (``particle_py/serial_link/backend.py``:
``comports``, ``open``, ``pause``; a port's ``read``/``write``/``close``) and fails the way the
operating system does, with ``OSError`` and its errno, so the client code above the seam is the
code that runs on hardware. Like ``pyusb_backend.py`` it imports nothing of the client: the client
picks it through ``particle_py.usb`` under ``PARTICLE_PY_SIM``.

In one process the serial side and the USB side must see one bus, or the last to save would undo
the other: this backend works on the bus of the folder's pyusb backend (which reloads it whenever
another process has saved since and nothing of ours is open).
"""
from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Optional

from . import serial as sim_serial

# nobody is at a simulated keyboard: after this much modelled waiting for a device that does not
# come, the simulated user presses Ctrl-C
USER_GIVES_UP_S = 60


@dataclass(frozen=True)
class SimPortInfo:
    """The fields of pyserial's ListPortInfo that port discovery reads."""
    device: str
    vid: Optional[int]
    pid: Optional[int]
    serial_number: Optional[str]
    manufacturer: Optional[str]
    hwid: str


def _gone(doing: str) -> OSError:
    return OSError(errno.EIO, f"Input/output error: the device left while {doing}")


class SimSerialPort:
    def __init__(self, backend: "SimSerialBackend", path: str, baud: int):
        self.backend = backend
        matches = [dev for name, dev in sim_serial.serial_devices(backend.bus()) if name == path]
        if not matches:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        dev = matches[0]
        fault = sim_serial.load_board(backend.state_dir, dev.unit).get("faults", {}).get("open")
        if fault == "busy":
            raise OSError(errno.EBUSY, "Device or resource busy", path)
        if fault == "denied":
            raise PermissionError(errno.EACCES, "Permission denied", path)
        self.end = sim_serial.DeviceSerial(dev, backend.state_dir)
        self.end.set_baud(baud)
        backend.save()

    def _follow(self, doing: str) -> None:
        if not self.end.follow(self.backend.bus()):
            raise _gone(doing)

    def read(self, wait_s: float) -> tuple[bytes, float]:
        self._follow("reading")
        try:
            data = self.end.read()
            if not data:
                self.end.idle(int(wait_s * 1_000_000))
        except sim_serial.PortGone:
            self.backend.save()
            raise _gone("reading") from None
        if self.end.dev.gone:
            self.backend.save()
        # a flooding app fills every poll: its bytes take the time the host waited
        return data, (wait_s if getattr(self.end, "flooding", False) or not data else 0.0)

    def write(self, data: bytes) -> None:
        self._follow("writing")
        try:
            self.end.write(data)
        except sim_serial.PortGone:
            raise _gone("writing") from None
        finally:
            self.backend.save()

    def close(self) -> None:
        pass


class SimSerialBackend:
    """The serial ports of a simulator folder, on the bus of its pyusb backend ``usb_backend``."""

    def __init__(self, usb_backend):
        self.usb = usb_backend
        self.state_dir = usb_backend.state_dir
        self.waited_s = 0.0

    def bus(self):
        return self.usb._ensure_bus()

    def save(self) -> None:
        self.usb.save()

    def comports(self) -> list:
        out = []
        for path, dev in sim_serial.serial_devices(self.bus()):
            hwid = f"USB VID:PID={dev.vid:04X}:{dev.pid:04X} SER={dev.serial or ''}"
            out.append(SimPortInfo(path, dev.vid, dev.pid, dev.serial, dev.description.manufacturer, hwid))
        return out

    def open(self, path: str, baud: int) -> SimSerialPort:
        return SimSerialPort(self, path, baud)

    def pause(self, seconds: float) -> None:
        """A host-side pause in modelled time; a modelled minute of them ends in the user's Ctrl-C."""
        self.usb.sleep_ms(int(seconds * 1000))
        self.save()
        self.waited_s += seconds
        if self.waited_s >= USER_GIVES_UP_S:
            self.waited_s = 0.0
            raise KeyboardInterrupt
