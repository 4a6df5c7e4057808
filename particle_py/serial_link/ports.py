"""Which serial ports belong to Particle devices, and which one the user meant.

The rules are particle-cli's ``findDevices`` (src/cmd/serial.js): a port is a device's when its
USB VID:PID is a platform's normal-mode id, or (Windows) its hardware id names ``VID_xxxx`` and
``PID_xxxx``; the device id is the first 24-hex run of the serial number (Gen 1/2: older Device
OS did not put the id there; Gen 3+: the serial number itself); a port whose manufacturer says
Particle/Spark/Photon is a Core; with nothing else found, any /dev/ttyACM* or /dev/cuaU*.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Optional

from particle_py import platforms
from particle_py.errors import ParticlePyError

ID_RE = re.compile(r"[0-9A-Fa-f]{24}")
PNP_RE = re.compile(r"VID_([0-9A-Fa-f]{4}).*PID_([0-9A-Fa-f]{4})")
HWID_RE = re.compile(r"VID:PID=([0-9A-Fa-f]{4}):([0-9A-Fa-f]{4})")
EX_USAGE = 64
EX_UNAVAILABLE = 69

_NORMAL_IDS = {p.usb_ids: p for p in platforms.PLATFORMS}


@dataclass(frozen=True)
class SerialDevice:
    port: str
    type: str                       # particle-cli's productName ('' when only the port name matched)
    device_id: Optional[str]
    platform: Optional[platforms.Platform] = None

    def line(self) -> str:
        return f"{self.port} - {self.type} - {self.device_id if self.device_id else 'undefined'}"


def _ids(info) -> tuple[Optional[int], Optional[int]]:
    vid, pid = getattr(info, "vid", None), getattr(info, "pid", None)
    if vid is not None and pid is not None:
        return vid, pid
    hwid = getattr(info, "hwid", "") or ""
    found = PNP_RE.search(hwid.upper()) or HWID_RE.search(hwid)
    if found:
        return int(found.group(1), 16), int(found.group(2), 16)
    return None, None


def device_id_from_serial(serial_number: Optional[str], generation: int) -> Optional[str]:
    """particle-cli's deviceIdFromSerialNumber for Gen 1/2, the raw serial number for Gen 3+."""
    if not serial_number:
        return None
    if generation >= 3:
        return serial_number
    found = ID_RE.search(serial_number)
    return found.group(0).lower() if found else serial_number


def particle_ports(raw_ports) -> list[SerialDevice]:
    """The Particle devices among pyserial's ports (or the simulator's), in list order."""
    devices = []
    for info in raw_ports:
        path = getattr(info, "device", "")
        vid, pid = _ids(info)
        platform = _NORMAL_IDS.get((vid, pid)) if vid is not None else None
        if platform is not None:
            serial_number = getattr(info, "serial_number", None)
            if not serial_number:             # Windows: the instance id ends the pnpId
                hwid = getattr(info, "hwid", "") or ""
                tail = hwid.replace("/", "\\").split("\\")[-1]
                serial_number = tail if tail and tail != hwid else None
            devices.append(SerialDevice(path, platform.display_name,
                                        device_id_from_serial(serial_number, platform.generation), platform))
            continue
        manufacturer = getattr(info, "manufacturer", None) or ""
        if any(word in manufacturer for word in ("Particle", "Spark", "Photon")):
            devices.append(SerialDevice(path, "Core", None, platforms.by_name("core")))
    if not devices:
        for info in raw_ports:
            path = getattr(info, "device", "")
            if path.startswith("/dev/ttyACM") or path.startswith("/dev/cuaU"):
                devices.append(SerialDevice(path, "", None))
    return devices


def raw_ports() -> list:
    """The ports the backend lists (pyserial's, or the simulator's under PARTICLE_PY_SIM)."""
    from particle_py.serial_link.backend import get_backend

    backend = get_backend()
    try:
        return backend.comports()
    except ImportError:
        raise ParticlePyError("pyserial is not installed, so serial ports cannot be listed",
                              "Reinstall particle-py (`pip install --force-reinstall particle-py`).") from None
    except OSError as exc:
        raise ParticlePyError(f"Error listing serial ports: {exc}",
                              "Unplug and replug the device, then try again.", EX_UNAVAILABLE) from None


def find_devices() -> list[SerialDevice]:
    return particle_ports(raw_ports())


def _from_argument(devices: list[SerialDevice], port: str) -> SerialDevice:
    """particle-cli's _parsePort: a number is a 1-based index into the list, anything else a path."""
    if re.fullmatch(r"\s*-?\d+\s*", port):
        number = int(port)
        index = number - 1 if number > 0 else number
        if 0 <= index < len(devices):
            return devices[index]
        raise ParticlePyError(f"There is no serial device number {number}" +
                              (f" (found {len(devices)})" if devices else " (no devices found)"),
                              "Run `particle serial list` to see the devices and their numbers.", EX_USAGE)
    for device in devices:
        if device.port == port:
            return device
    # particle-cli tries any path it is given; so do we (opening it says what is wrong)
    return SerialDevice(port, "", None)


def choose(port: Optional[str], *, need_id: bool = True, interactive: Optional[bool] = None,
           ask: Optional[Callable[[list[SerialDevice]], SerialDevice]] = None) -> SerialDevice:
    """The device the user meant: by ``--port``, the only one, or the one ``ask(devices)`` returns
    (the front end's numbered choice on a terminal); an error listing them when there is nobody to
    ask (``ask`` None, or ``interactive`` False)."""
    devices = find_devices()
    if port:
        chosen = _from_argument(devices, port)
    elif len(devices) == 1:
        chosen = devices[0]
    elif not devices:
        raise ParticlePyError("No serial port identified: no Particle device found on a serial port",
                              "Connect the device with a data USB cable and wait for it to boot "
                              "(a device in DFU mode, blinking yellow, has no serial port: `particle usb reset`).",
                              EX_UNAVAILABLE)
    else:
        if ask is None or interactive is False:
            listing = "\n".join(f"  {n}: {d.line()}" for n, d in enumerate(devices, 1))
            raise ParticlePyError("Several devices are connected; which one did you mean?\n" + listing,
                                  "Name it with --port (a number from this list, or the port's path).", EX_USAGE)
        chosen = ask(devices)
    if need_id and not chosen.device_id:
        raise ParticlePyError(f"No serial port identified: {chosen.port} is not a Particle device's port "
                              "(no device id in its USB serial number)",
                              "Run `particle serial list`; pass one of its ports with --port.", EX_UNAVAILABLE)
    return chosen
