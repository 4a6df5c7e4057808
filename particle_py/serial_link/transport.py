"""Opening a serial port and reading what a device says (Contract: transport layer).

``open_port(path)`` returns a Port over the backend's raw port (``backend.py``: pyserial on
hardware, the simulator's under ``PARTICLE_PY_SIM``). Reads follow particle-cli's batch rule
(the first data within the timeout, then everything until the line has been quiet for 250 ms),
and every exchange is bounded in time and in bytes (``MAX_REPLY_BYTES``; ``BATCH_TAIL_S`` past the
timeout): a device that never stops sending (an app that logs nonstop) ends the exchange with
``Flooded`` instead of holding it and growing its buffer. Open failures become ParticlePyError
with the fix.
"""
from __future__ import annotations

import errno
import os
import sys
from typing import Optional, Sequence

from particle_py.errors import ParticlePyError
from particle_py.serial_link.backend import POLL_S

BATCH_IDLE_S = 0.25
DEFAULT_BAUD = 9600
EX_UNAVAILABLE = 69
EX_NOPERM = 77
EX_TEMPFAIL = 75
EX_PROTOCOL = 76
# The largest reply of the listening-mode protocol (a describe JSON of a full device) is a few KiB;
# a quarter MiB is far past any real one and still small to hold.
MAX_REPLY_BYTES = 256 * 1024
BATCH_TAIL_S = 5.0              # how long a reply may keep coming after its first byte

BUSY_HINT = ("Close the program that has the port open: another `particle serial monitor`, the Arduino "
             "IDE or Particle Workbench serial monitor, screen/minicom/PuTTY" +
             ("" if sys.platform != "linux" else ", or ModemManager (it probes new modems: "
              "`sudo systemctl stop ModemManager`)") + "; then try again.")


class PortClosed(ParticlePyError):
    """The device left while the port was open (reset, DFU mode, unplugged)."""


class Flooded(ParticlePyError):
    """The device kept sending past an exchange's bound (time or bytes) without a pause or an answer."""


def flooded(path: str, size: int, seconds: float) -> Flooded:
    return Flooded(f"The device on {path} kept sending without a pause ({size} bytes in {seconds:.1f} s) and "
                   "no reply particle-py can read came through: an application on it prints nonstop",
                   "Put it in listening mode, where its application stops printing (`particle usb "
                   "start-listening`, or hold MODE/SETUP for three seconds until it blinks blue); if it "
                   "blinks blue already, reset it (`particle usb reset`); then run the command again. "
                   "`particle serial monitor` shows what it prints.", EX_PROTOCOL)


def device_left(path: str, doing: str) -> PortClosed:
    return PortClosed(f"The device on {path} went away while {doing} (reset, DFU mode or unplugged)",
                      "Plug it back in (and wait for it to boot), then run the command again; "
                      "`particle serial list` shows its port.", EX_UNAVAILABLE)


def open_error(path: str, exc: BaseException) -> ParticlePyError:
    """What went wrong opening ``path`` and what to do, from the OS error behind it."""
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code is None:
        for candidate in (errno.EBUSY, errno.EACCES, errno.ENOENT, errno.EPERM):
            if f"[Errno {candidate}]" in text:
                code = candidate
    lowered = text.lower()
    if code == errno.EBUSY or "exclusively lock" in lowered or (os.name == "nt" and code == errno.EACCES) \
            or "access is denied" in lowered:
        # Windows answers "Access is denied" for a COM port another program holds
        return ParticlePyError(f"Serial port {path} is busy: another program has it open", BUSY_HINT, EX_TEMPFAIL)
    if code in (errno.EACCES, errno.EPERM) or "permission denied" in lowered:
        hint = ("Add yourself to the group that owns the port and log in again: "
                f"`sudo usermod -a -G dialout $USER` (`ls -l {path}` shows the group), "
                "or install particle-py's udev rules.")
        if sys.platform == "darwin":
            hint = f"Check the permissions of {path} (`ls -l {path}`); unplug and replug the device."
        return ParticlePyError(f"Permission denied opening serial port {path}", hint, EX_NOPERM)
    if code == errno.ENOENT or "no such file" in lowered or "filenotfound" in lowered or "cannot find" in lowered:
        return ParticlePyError(f"Serial port {path} does not exist",
                               "Run `particle serial list` to see the ports of the connected devices.",
                               EX_UNAVAILABLE)
    return ParticlePyError(f"Cannot open serial port {path}: {text}",
                           "Unplug and replug the device, then run `particle serial list`.", EX_UNAVAILABLE)


class Port:
    """An open serial port: particle-cli's reading rules over a backend's raw port
    (``backend.py``), with the backend's OS errors turned into ParticlePyError."""

    def __init__(self, path: str, raw):
        self.path = path
        self.raw = raw

    def _read_some(self, wait_s: float) -> tuple[bytes, float]:
        try:
            return self.raw.read(wait_s)
        except OSError:
            # pyserial: "device reports readiness to read but returned no data" = the device left
            raise device_left(self.path, "reading") from None

    def close(self) -> None:
        self.raw.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def write(self, data: bytes) -> None:
        try:
            self.raw.write(data)
        except OSError:
            raise device_left(self.path, "writing") from None

    def read_some(self, wait_s: float = POLL_S) -> bytes:
        return self._read_some(wait_s)[0]

    def read_batch(self, timeout_s: float, idle_s: float = BATCH_IDLE_S,
                   max_bytes: int = MAX_REPLY_BYTES) -> bytes:
        """particle-cli's first data batch: b'' if nothing came within ``timeout_s``. Flooded when
        the line is not quiet for ``idle_s`` within ``BATCH_TAIL_S`` of the first byte, or the
        batch passes ``max_bytes``."""
        out = bytearray()
        waited = 0.0
        while not out:
            if waited >= timeout_s:
                return b""
            data, spent = self._read_some(min(POLL_S, timeout_s - waited))
            waited += spent
            out += data
        quiet = 0.0
        tail = 0.0
        while quiet < idle_s:
            if len(out) > max_bytes or tail >= BATCH_TAIL_S:
                raise flooded(self.path, len(out), waited + tail)
            data, spent = self._read_some(min(POLL_S, idle_s - quiet))
            tail += spent
            if data:
                out += data
                quiet = 0.0
            else:
                quiet += spent
        return bytes(out)

    def read_until(self, markers: Sequence[str], timeout_s: float, seen: Optional[bytearray] = None,
                   max_bytes: int = MAX_REPLY_BYTES) -> tuple[str, Optional[str]]:
        """Read until the text holds one of ``markers``; (text, marker) or (text, None) on timeout.
        ``seen`` carries bytes read past an earlier marker. The timeout counts all time, bytes
        arriving or not, and more than ``max_bytes`` without a marker is Flooded."""
        buf = seen if seen is not None else bytearray()
        wanted = [(m.encode(), m) for m in markers]
        longest = max((len(b) for b, _ in wanted), default=1)
        scanned = 0             # bytes already searched: each byte is searched once, not once a read
        waited = 0.0
        while True:
            start = max(0, scanned - longest + 1)
            hits = [(pos, m, b) for b, m in wanted for pos in (buf.find(b, start),) if pos >= 0]
            if hits:
                pos, marker, raw = min(hits)
                cut = pos + len(raw)
                text = bytes(buf[:cut]).decode("utf-8", "replace")
                del buf[:cut]
                return text, marker
            scanned = len(buf)
            if len(buf) > max_bytes:
                size = len(buf)
                del buf[:]
                raise flooded(self.path, size, waited)
            if waited >= timeout_s:
                return buf.decode("utf-8", "replace"), None
            data, spent = self._read_some(min(POLL_S, timeout_s - waited))
            waited += spent
            buf += data


def open_port(path: str, baud: int = DEFAULT_BAUD, backend=None) -> Port:
    """Open a device's serial port with ``backend`` (default: the simulator's under PARTICLE_PY_SIM,
    else pyserial)."""
    from particle_py.serial_link.backend import get_backend

    try:
        return Port(path, (backend or get_backend()).open(path, baud))
    except OSError as exc:
        raise open_error(path, exc) from None


def pause(seconds: float) -> None:
    """Wait between tries at a port: wall-clock time on hardware, modelled time under
    PARTICLE_PY_SIM (the seam, like usb.sleep_ms, so operations never look at the simulator)."""
    from particle_py.serial_link.backend import get_backend

    get_backend().pause(seconds)


def touch_baud(path: str, baud: int) -> None:
    """Open and close the port at ``baud``: 14400 sends a device to DFU mode, 28800 to listening mode."""
    port = open_port(path, baud)
    port.close()
