"""The serial port seam: what ``serial_link`` needs from a port backend, pyserial's backend, and
the choice between it and the simulator's.

A backend lists ports and opens them; an open raw port reads, writes and closes. Failures are
the operating system's: ``OSError`` with its errno (EBUSY, EACCES, ENOENT) when a port cannot be
opened, any ``OSError`` when the device leaves an open port (pyserial's SerialException is one).
``transport`` turns them into ParticlePyError and applies particle-cli's reading rules on top, so
everything above this module is the same on hardware and on the simulator.

Under ``PARTICLE_PY_SIM`` the backend is the simulator's (``particle_py/sim/serial_port_backend.py``),
handed out by ``particle_py.usb`` with the USB backend, so both sides of one process see one bus;
``serial_link`` itself never imports the simulator. pyserial is imported only when a port is
listed or opened.
"""
from __future__ import annotations

import os
import time
from typing import Optional, Protocol, runtime_checkable

POLL_S = 0.05                   # the longest one read waits for bytes; transport's reading rules poll at it


class PortInfo(Protocol):
    """A listed port: the fields of pyserial's ListPortInfo that port discovery reads."""
    device: str
    vid: Optional[int]
    pid: Optional[int]
    serial_number: Optional[str]
    manufacturer: Optional[str]
    hwid: str


@runtime_checkable
class RawPort(Protocol):
    def read(self, wait_s: float) -> tuple[bytes, float]:
        """What has arrived, waiting at most ``wait_s`` for the first byte, and how many seconds
        were waited (wall clock on hardware, modelled time on the simulator)."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None:
        """Never fails (closing a port whose device has gone is nothing to report)."""


@runtime_checkable
class SerialBackend(Protocol):
    def comports(self) -> list[PortInfo]: ...

    def open(self, path: str, baud: int) -> RawPort: ...

    def pause(self, seconds: float) -> None:
        """Wait between tries at a port, in the backend's time."""


class PySerialPort:
    """A pyserial port as a RawPort."""

    def __init__(self, path: str, baud: int):
        import serial

        try:
            # exclusive: two programs reading one port each get half of every reply
            self.ser = serial.Serial(path, baud, timeout=POLL_S, write_timeout=2,
                                     exclusive=True if os.name != "nt" else None)
        except ValueError as exc:       # pyserial's answer to some bad port names
            raise OSError(str(exc)) from None

    def read(self, wait_s: float) -> tuple[bytes, float]:
        start = time.monotonic()
        try:
            self.ser.timeout = max(wait_s, 0.001)
            data = self.ser.read(max(1, self.ser.in_waiting))
        except TypeError:
            # pyserial on a port whose device left can fail inside its own read
            raise OSError("the port's device went away") from None
        return data, time.monotonic() - start

    def write(self, data: bytes) -> None:
        self.ser.write(data)
        self.ser.flush()

    def close(self) -> None:
        try:
            self.ser.close()
        except Exception:       # closing a port whose device has gone can fail; nothing to do
            pass


class PySerialBackend:
    def comports(self) -> list[PortInfo]:
        from serial.tools import list_ports

        return list(list_ports.comports())

    def open(self, path: str, baud: int) -> PySerialPort:
        return PySerialPort(path, baud)

    def pause(self, seconds: float) -> None:
        time.sleep(seconds)


PYSERIAL = PySerialBackend()


def get_backend() -> SerialBackend:
    """The simulator's backend under PARTICLE_PY_SIM (the switch that picks the USB backend), else pyserial."""
    from particle_py import usb

    return usb.simulator_serial_backend() or PYSERIAL
