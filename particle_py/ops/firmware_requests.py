"""Device OS's own view of its modules, and its firmware update, over USB control requests.

Request numbers and messages: particle-usb request.js, device-os-protobuf control/storage.proto
(GetModuleInfo 90, read by ops/module_info.py; StartFirmwareUpdate 250, FinishFirmwareUpdate 251,
CancelFirmwareUpdate 252, FirmwareUpdateData 253). The update is particle-usb's
``updateFirmware``: start with the size, send chunks of the size the device asks for, finish;
Device OS checks the module and restarts to install it.
"""
from __future__ import annotations

from typing import Callable, Optional

from particle_py.errors import ParticlePyError
from particle_py.ops import protobuf
from particle_py.ops.module_info import GET_MODULE_INFO, ModuleInfo, parse

START_FIRMWARE_UPDATE = 250
FINISH_FIRMWARE_UPDATE = 251
CANCEL_FIRMWARE_UPDATE = 252
FIRMWARE_UPDATE_DATA = 253
RESULT_NOT_SUPPORTED = -120

# Device OS results (particle-usb result.js; the OTA ones, -1300 ... -1390, with Device OS's own
# words from services/inc/system_error.h).
RESULT_TEXT = {
    -120: "Not supported", -130: "Not allowed", -190: "Data is too large", -210: "Invalid state",
    -270: "Invalid argument", -280: "Invalid data format",
    -1300: "Module not found", -1310: "Unsupported module", -1320: "Module validation failed",
    -1330: "Module integrity check failed", -1340: "Module dependency check failed",
    -1350: "Invalid module address", -1351: "Invalid module size", -1360: "Invalid module platform",
    -1370: "Invalid module format", -1380: "Firmware updates are disabled", -1390: "Firmware update error",
}


def module_info(entry) -> Optional[list[ModuleInfo]]:
    """The modules Device OS runs (its main store) as it reports them, or None when it does not
    answer this request (too old, or a reply that cannot be read): then the flash is read over DFU."""
    from particle_py.ops.device import send_control

    try:
        result, reply = send_control(entry, GET_MODULE_INFO)
    except ParticlePyError:
        return None
    if result != 0:
        return None
    try:
        return [m for m in parse(reply) if m.store == "main"]
    except ParticlePyError:
        return None


def _refused(name: str, step: str, result: int) -> ParticlePyError:
    text = RESULT_TEXT.get(result, f"error {result}")
    return ParticlePyError(f"The device refused {name} ({step}: {text})",
                           "Device OS checked the module and did not install it. Check that the file is for this "
                           "device and that its dependencies are on the device (particle update installs a whole "
                           "release in order).")


def update_firmware(entry, name: str, data: bytes,
                    progress: Optional[Callable[[int, int], None]] = None) -> None:
    """Send one module for Device OS to install (it restarts to do so)."""
    from particle_py.ops.device import send_control

    result, reply = send_control(entry, START_FIRMWARE_UPDATE, protobuf.number_field(1, len(data)))
    if result != 0:
        raise _refused(name, "start", result)
    try:
        chunk = protobuf.Message(reply).uint(1) or 4096
    except ParticlePyError:
        chunk = 4096
    sent = 0
    try:
        while sent < len(data):
            piece = data[sent:sent + chunk]
            result, _ = send_control(entry, FIRMWARE_UPDATE_DATA, protobuf.bytes_field(1, piece))
            if result != 0:
                raise _refused(name, "data", result)
            sent += len(piece)
            if progress:
                progress(sent, len(data))
        result, _ = send_control(entry, FINISH_FIRMWARE_UPDATE, b"", may_vanish=True)
    except ParticlePyError:
        try:
            send_control(entry, CANCEL_FIRMWARE_UPDATE)
        except ParticlePyError:
            pass
        raise
    if result != 0:
        raise _refused(name, "finish", result)
