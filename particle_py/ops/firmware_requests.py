"""Device OS's own view of its modules, and its firmware update, over USB control requests.

Request numbers and messages: particle-usb request.js, device-os-protobuf control/storage.proto
(GetModuleInfo 90; StartFirmwareUpdate 250, FinishFirmwareUpdate 251, CancelFirmwareUpdate 252,
FirmwareUpdateData 253). The update is particle-usb's ``updateFirmware``: start with the size,
send chunks of the size the device asks for, finish; Device OS checks the module and restarts
to install it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from particle_py.errors import ParticlePyError

GET_MODULE_INFO = 90
START_FIRMWARE_UPDATE = 250
FINISH_FIRMWARE_UPDATE = 251
CANCEL_FIRMWARE_UPDATE = 252
FIRMWARE_UPDATE_DATA = 253
RESULT_NOT_SUPPORTED = -120

# FirmwareModuleType of the deprecated reply (control/storage.proto) -> module function.
DEPRECATED_TYPES = {1: 2, 2: 4, 3: 5, 4: 3, 5: 7, 6: 8}
# Device OS results (particle-usb result.js; OTA ones from Device OS's system_error.h).
RESULT_TEXT = {
    -120: "Not supported", -130: "Not allowed", -190: "Data is too large", -210: "Invalid state",
    -270: "Invalid argument", -280: "Invalid data format",
    -1110: "Unsupported firmware module", -1120: "Invalid module address",
    -1130: "Integrity check failed", -1140: "Dependency check failed", -1150: "Invalid platform ID",
    -1170: "Invalid module format",
}


@dataclass(frozen=True)
class ModuleInfo:
    function: int
    index: int
    version: int
    size: int
    valid: bool                       # integrity (CRC) and dependencies checked by Device OS
    dependencies: tuple[tuple[int, int, int], ...] = ()


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos


def parse_fields(data: bytes) -> dict:
    """Protobuf wire format -> {field: [values]}; ValueError on anything malformed."""
    out: dict = {}
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ValueError("truncated field")
            value, pos = bytes(data[pos:pos + length]), pos + length
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            if pos + width > len(data):
                raise ValueError("truncated fixed field")
            value = int.from_bytes(data[pos:pos + width], "little")
            pos += width
        else:
            raise ValueError(f"wire type {wire}")
        if number == 0:
            raise ValueError("field 0")
        out.setdefault(number, []).append(value)
    return out


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        out.append(b | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _first(fields: dict, number: int, default=0) -> int:
    value = fields.get(number, [default])[0]
    if not isinstance(value, int):
        raise ValueError(f"field {number} is not a number")
    return value


def _messages(fields: dict, number: int) -> list[dict]:
    out = []
    for value in fields.get(number, []):
        if not isinstance(value, bytes):
            raise ValueError(f"field {number} is not a message")
        out.append(parse_fields(value))
    return out


def parse_module_info(reply: bytes) -> list[ModuleInfo]:
    """GetModuleInfoReply: the deprecated list (field 1) or the current one (field 2)."""
    fields = parse_fields(reply)
    out = []
    for m in _messages(fields, 1):
        deps = tuple((DEPRECATED_TYPES.get(_first(d, 1), 0), _first(d, 2), _first(d, 3))
                     for d in _messages(m, 6))
        out.append(ModuleInfo(DEPRECATED_TYPES.get(_first(m, 1), 0), _first(m, 2), _first(m, 3), _first(m, 4),
                              _first(m, 5) == 0, deps))
    for m in _messages(fields, 2):
        if _first(m, 4) != 0:                  # only the main store is what runs
            continue
        checked, passed = _first(m, 6), _first(m, 7)
        deps = tuple((_first(d, 1), _first(d, 2), _first(d, 3)) for d in _messages(m, 9))
        out.append(ModuleInfo(_first(m, 1), _first(m, 2), _first(m, 3), _first(m, 11),
                              (checked ^ passed) == 0, deps))
    return out


def module_info(entry) -> Optional[list[ModuleInfo]]:
    """What Device OS reports about its modules, or None when it does not answer this request."""
    from particle_py.ops.device import send_control

    try:
        result, reply = send_control(entry, GET_MODULE_INFO)
    except ParticlePyError:
        return None
    if result != 0:
        return None
    try:
        return parse_module_info(reply)
    except ValueError:
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

    result, reply = send_control(entry, START_FIRMWARE_UPDATE, b"\x08" + _encode_varint(len(data)))
    if result != 0:
        raise _refused(name, "start", result)
    try:
        chunk = int(_first(parse_fields(reply), 1, 0)) or 4096
    except ValueError:
        chunk = 4096
    sent = 0
    try:
        while sent < len(data):
            piece = data[sent:sent + chunk]
            result, _ = send_control(entry, FIRMWARE_UPDATE_DATA, b"\x0a" + _encode_varint(len(piece)) + piece)
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
