"""The USB control requests particle-cli 3.21+ uses instead of the serial protocol, and the
decoding of their protobuf replies (outside input: ProtoError, never anything else).

GetModuleInfo (90), NETWORK_GET_INTERFACE_LIST (400), NETWORK_GET_INTERFACE (401) and
CELLULAR_GET_ICCID (554). A Device OS too old for a request answers NOT_SUPPORTED; callers
then fall back on the listening-mode protocol.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Optional

GET_MODULE_INFO = 90
NETWORK_GET_INTERFACE_LIST = 400
NETWORK_GET_INTERFACE = 401
CELLULAR_GET_ICCID = 554
RESULT_NOT_SUPPORTED = -120

# cloud FirmwareModuleType (5.6+ replies) and control/storage.proto's older numbering
MODULE_TYPES = {1: "RESOURCE", 2: "BOOTLOADER", 3: "MONO_FIRMWARE", 4: "SYSTEM_PART", 5: "USER_PART",
                6: "SETTINGS", 7: "NCP_FIRMWARE", 8: "RADIO_STACK", 9: "ASSET"}
LEGACY_MODULE_TYPES = {1: "BOOTLOADER", 2: "SYSTEM_PART", 3: "USER_PART", 4: "MONO_FIRMWARE",
                       5: "NCP_FIRMWARE", 6: "RADIO_STACK"}
INTERFACE_TYPES = {1: "LOOPBACK", 2: "THREAD", 4: "ETHERNET", 8: "WIFI", 0x10: "PPP"}
# checked/passed flag bits (cloud FirmwareModuleValidityFlag) and particle-usb's error names
VALIDITY_ERRORS = ((2, "INTEGRITY_CHECK_FAILED"), (4, "DEPENDENCY_CHECK_FAILED"),
                   (8, "RANGE_CHECK_FAILED"), (16, "PLATFORM_CHECK_FAILED"))
LEGACY_VALIDITY_ERRORS = ((1, "INTEGRITY_CHECK_FAILED"), (2, "DEPENDENCY_CHECK_FAILED"))


class ProtoError(ValueError):
    pass


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ProtoError("truncated varint")
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise ProtoError("varint too long")


def fields(data: bytes) -> list[tuple[int, object]]:
    """(field number, value) pairs of a protobuf message: ints, or bytes for length-delimited."""
    out = []
    pos = 0
    data = bytes(data)
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtoError("field number 0")
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 1:
            if pos + 8 > len(data):
                raise ProtoError("truncated fixed64")
            value = struct.unpack_from("<Q", data, pos)[0]
            pos += 8
        elif wire == 2:
            length, pos = _varint(data, pos)
            if pos + length > len(data):
                raise ProtoError("truncated length-delimited field")
            value = data[pos:pos + length]
            pos += length
        elif wire == 5:
            if pos + 4 > len(data):
                raise ProtoError("truncated fixed32")
            value = struct.unpack_from("<I", data, pos)[0]
            pos += 4
        else:
            raise ProtoError(f"unsupported wire type {wire}")
        out.append((number, value))
    return out


def _get(pairs, number, default=0):
    for n, v in pairs:
        if n == number:
            return v
    return default


def _ints(pairs, number) -> int:
    value = _get(pairs, number, 0)
    if not isinstance(value, int):
        raise ProtoError(f"field {number} is not a number")
    return value


def _bytes(pairs, number) -> bytes:
    value = _get(pairs, number, b"")
    if not isinstance(value, bytes):
        raise ProtoError(f"field {number} is not bytes")
    return value


@dataclass
class ModuleInfo:
    type: str
    index: int
    version: int
    size: int
    max_size: Optional[int] = None
    hash: Optional[str] = None
    validity_errors: list = field(default_factory=list)
    dependencies: list = field(default_factory=list)       # [(type, index, version)]


def parse_module_info(data: bytes) -> list[ModuleInfo]:
    """GetModuleInfoReply: the deprecated list (before 5.6.0) if present, else ``modules``."""
    top = fields(data)
    legacy = [v for n, v in top if n == 1]
    current = [v for n, v in top if n == 2]
    modules = []
    for raw in legacy:
        if not isinstance(raw, bytes):
            raise ProtoError("module entry is not a message")
        m = fields(raw)
        validity = _ints(m, 5)
        deps = []
        for n, v in m:
            if n == 6:
                if not isinstance(v, bytes):
                    raise ProtoError("dependency is not a message")
                d = fields(v)
                deps.append((LEGACY_MODULE_TYPES.get(_ints(d, 1), "UNKNOWN"), _ints(d, 2), _ints(d, 3)))
        modules.append(ModuleInfo(LEGACY_MODULE_TYPES.get(_ints(m, 1), "UNKNOWN"), _ints(m, 2), _ints(m, 3),
                                  _ints(m, 4), None, None,
                                  [name for bit, name in LEGACY_VALIDITY_ERRORS if validity & bit], deps))
    if modules:
        return modules
    for raw in current:
        if not isinstance(raw, bytes):
            raise ProtoError("module entry is not a message")
        m = fields(raw)
        failed = _ints(m, 6) ^ _ints(m, 7)
        deps = []
        for n, v in m:
            if n == 9:
                if not isinstance(v, bytes):
                    raise ProtoError("dependency is not a message")
                d = fields(v)
                deps.append((MODULE_TYPES.get(_ints(d, 1), "UNKNOWN"), _ints(d, 2), _ints(d, 3)))
        modules.append(ModuleInfo(MODULE_TYPES.get(_ints(m, 1), "UNKNOWN") if _ints(m, 1) else "INVALID",
                                  _ints(m, 2), _ints(m, 3), _ints(m, 11), _ints(m, 5),
                                  _bytes(m, 8).hex(), [name for bit, name in VALIDITY_ERRORS if failed & bit], deps))
    return modules


@dataclass(frozen=True)
class Interface:
    index: int
    name: str
    type: str
    hw_address: str = ""


def parse_interface_list(data: bytes) -> list[Interface]:
    out = []
    for n, v in fields(data):
        if n != 1:
            continue
        if not isinstance(v, bytes):
            raise ProtoError("interface entry is not a message")
        e = fields(v)
        out.append(Interface(_ints(e, 1), _bytes(e, 2).decode("utf-8", "replace"),
                             INTERFACE_TYPES.get(_ints(e, 3), "INVALID_INTERFACE_TYPE")))
    return out


def parse_interface(data: bytes) -> Optional[Interface]:
    body = _bytes(fields(data), 1)
    if not body:
        return None
    e = fields(body)
    mac = ":".join(f"{b:02x}" for b in _bytes(e, 8))
    return Interface(_ints(e, 1), _bytes(e, 2).decode("utf-8", "replace"),
                     INTERFACE_TYPES.get(_ints(e, 3), "INVALID_INTERFACE_TYPE"), mac)


def parse_cellular(data: bytes) -> tuple[str, str]:
    """(ICCID, IMEI) from a GetIccidReply."""
    pairs = fields(data)
    return _bytes(pairs, 1).decode("ascii", "replace"), _bytes(pairs, 2).decode("ascii", "replace")


def index_request(index: int) -> bytes:
    """GetInterfaceRequest {index}."""
    out = bytearray([0x08])
    while True:
        b = index & 0x7F
        index >>= 7
        out.append(b | (0x80 if index else 0))
        if not index:
            return bytes(out)
