"""Device OS's side of firmware updates over USB control requests, and its module info.

Requests (Device OS system_control.h; particle-usb request.js; protobuf messages from
device-os-protobuf control/storage.proto):

- 90  GET_MODULE_INFO: ``GetModuleInfoReply.modules_deprecated`` (field 1), one entry per
  module Device OS finds: type, index, version, size, validity (0x01 integrity failed,
  0x02 dependencies failed) and dependencies. Built from the flash, as Device OS does.
- 250 START_FIRMWARE_UPDATE {size}: reply {chunk_size}.
- 253 FIRMWARE_UPDATE_DATA {data}: appended to the update.
- 251 FINISH_FIRMWARE_UPDATE {validate_only}: Device OS checks the module (format, CRC,
  platform, function, size, dependencies) and refuses it with an error result, or stages it
  in the OTA region with the 0xA5 flag and restarts to apply it.
- 252 CANCEL_FIRMWARE_UPDATE.

ASSUMED: the OTA error results are Device OS's system_error.h values as we know them
(OTA_UNSUPPORTED_MODULE -1110, OTA_INTEGRITY_CHECK_FAILED -1130, OTA_DEPENDENCY_CHECK_FAILED
-1140, OTA_INVALID_PLATFORM -1150, OTA_INVALID_FORMAT -1170); not checked against a device.

Stdlib only.
"""
from __future__ import annotations

import struct
import zlib
from typing import Optional

from particle_py.platforms import OTA_FLAG_APPLY, OTA_FLAG_SLOT, Platform
from particle_py.sim import boot

REQ_GET_MODULE_INFO = 90
REQ_START_FIRMWARE_UPDATE = 250
REQ_FINISH_FIRMWARE_UPDATE = 251
REQ_CANCEL_FIRMWARE_UPDATE = 252
REQ_FIRMWARE_UPDATE_DATA = 253

RESULT_OK = 0
RESULT_INVALID_STATE = -210
RESULT_TOO_LARGE = -190
RESULT_INVALID_ARGUMENT = -270
OTA_UNSUPPORTED_MODULE = -1110
OTA_INTEGRITY_CHECK_FAILED = -1130
OTA_DEPENDENCY_CHECK_FAILED = -1140
OTA_INVALID_PLATFORM = -1150
OTA_INVALID_FORMAT = -1170

CHUNK_SIZE = 4096
# Module function (prefix) -> FirmwareModuleType of the deprecated module-info reply.
PROTO_TYPE = {boot.BOOTLOADER: 1, boot.SYSTEM_PART: 2, boot.USER_PART: 3, 3: 4, 7: 5, boot.RADIO_STACK: 6}
VALIDITY_INTEGRITY, VALIDITY_DEPENDENCIES = 0x01, 0x02
# What Device OS installs through this path here (the rest goes over DFU).
UPDATABLE = (boot.BOOTLOADER,)


# --- protobuf, the little of it these messages need ---------------------------------------
def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value) if value else b""


def field_bytes(number: int, data: bytes) -> bytes:
    return varint((number << 3) | 2) + varint(len(data)) + data


def parse_fields(data: bytes) -> dict:
    """{field number: [values]} (varints as ints, length-delimited as bytes); ValueError if malformed."""
    out: dict = {}
    pos = 0

    def read_varint():
        nonlocal pos
        shift = value = 0
        while True:
            if pos >= len(data) or shift > 63:
                raise ValueError("truncated varint")
            b = data[pos]
            pos += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return value

    while pos < len(data):
        key = read_varint()
        number, wire = key >> 3, key & 7
        if wire == 0:
            value = read_varint()
        elif wire == 2:
            length = read_varint()
            if pos + length > len(data):
                raise ValueError("truncated field")
            value = bytes(data[pos:pos + length])
            pos += length
        elif wire == 5:
            if pos + 4 > len(data):
                raise ValueError("truncated fixed32")
            value = struct.unpack_from("<I", data, pos)[0]
            pos += 4
        elif wire == 1:
            if pos + 8 > len(data):
                raise ValueError("truncated fixed64")
            value = struct.unpack_from("<Q", data, pos)[0]
            pos += 8
        else:
            raise ValueError(f"wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


# --- module info -------------------------------------------------------------------------
def _module_entry(module: boot.Module, size: int, validity: int) -> bytes:
    body = (field_varint(1, PROTO_TYPE.get(module.function, 0)) + field_varint(2, module.index)
            + field_varint(3, module.version) + field_varint(4, size) + field_varint(5, validity))
    for function, index, version in module.deps:
        dep = field_varint(1, PROTO_TYPE.get(function, 0)) + field_varint(2, index) + field_varint(3, version)
        body += field_bytes(6, dep)
    return field_bytes(1, body)


def module_info(read, platform: Platform) -> bytes:
    """GetModuleInfoReply from what the flash holds (intact modules; a broken one is listed with
    its integrity bit when its header can still be read)."""
    found: list[tuple[boot.Module, int, int]] = []
    candidates = []
    if platform.bootloader is not None:
        candidates.append(platform.bootloader)
    candidates += list(platform.system_parts)
    if platform.user_part is not None and not platform.user_part.grows_left:
        candidates.append(platform.user_part.address)
    for address in candidates:
        module, _why = boot.read_module(read, platform, address)
        if module is not None:
            found.append((module, _size(read, platform, address), 0))
        else:
            broken = _header(read, platform, address)
            if broken is not None:
                found.append((broken, _size(read, platform, address), VALIDITY_INTEGRITY))
    radio = boot.radio_stack_module(read, platform)
    if radio is not None:
        found.append((radio, 0, 0))
    present = [m for m, _s, v in found if not v]
    reply = b""
    for module, size, validity in found:
        if not validity and boot._unmet(module, present):
            validity |= VALIDITY_DEPENDENCIES
        reply += _module_entry(module, size, validity)
    return reply


def _header(read, platform: Platform, address: int) -> Optional[boot.Module]:
    for offset in dict.fromkeys((platform.module_info_offset, 0)):
        head = read(0, address + offset, 24)
        start, end, _mcu, _flags, version, pid, function, index, f1, i1, v1, f2, i2, v2 = struct.unpack(
            "<IIBBHHBBBBHBBH", head)
        if start == address and start < end < start + boot.MAX_MODULE and pid == platform.platform_id:
            deps = tuple(d for d in ((f1, i1, v1), (f2, i2, v2)) if d[0])
            return boot.Module(address, function, index, version, pid, deps)
    return None


def _size(read, platform: Platform, address: int) -> int:
    for offset in dict.fromkeys((platform.module_info_offset, 0)):
        start, end = struct.unpack("<II", read(0, address + offset, 8))
        if start == address and start < end < start + boot.MAX_MODULE:
            return end - start + 4
    return 0


# --- firmware update session ---------------------------------------------------------------
class UpdateSession:
    def __init__(self):
        self.size: Optional[int] = None
        self.data = bytearray()

    def start(self, payload: bytes, platform: Platform) -> tuple[int, bytes]:
        try:
            size = parse_fields(payload).get(1, [0])[0]
        except ValueError:
            return RESULT_INVALID_ARGUMENT, b""
        region = platform.ota_region
        if region is None:
            return OTA_UNSUPPORTED_MODULE, b""
        if not size:
            return RESULT_INVALID_ARGUMENT, b""
        if size > (region.max_size or size):
            return RESULT_TOO_LARGE, b""
        self.size, self.data = size, bytearray()
        return RESULT_OK, field_varint(1, CHUNK_SIZE)

    def add(self, payload: bytes) -> tuple[int, bytes]:
        if self.size is None:
            return RESULT_INVALID_STATE, b""
        try:
            chunk = parse_fields(payload).get(1, [b""])[0]
        except ValueError:
            return RESULT_INVALID_ARGUMENT, b""
        if len(self.data) + len(chunk) > self.size:
            return RESULT_TOO_LARGE, b""
        self.data += chunk
        return RESULT_OK, b""

    def cancel(self) -> tuple[int, bytes]:
        self.size, self.data = None, bytearray()
        return RESULT_OK, b""

    def finish(self, payload: bytes, platform: Platform, read, write) -> tuple[int, bool]:
        """(result, restart): checks as Device OS makes them; on success the module is staged."""
        if self.size is None:
            return RESULT_INVALID_STATE, False
        try:
            validate_only = bool(parse_fields(payload).get(1, [0])[0])
        except ValueError:
            return RESULT_INVALID_ARGUMENT, False
        data = bytes(self.data)
        self.size, self.data = None, bytearray()
        result = check_update(data, platform, read)
        if result != RESULT_OK or validate_only:
            return result, False
        region = platform.ota_region
        write(region.alt, region.address, data)
        write(OTA_FLAG_SLOT.alt, OTA_FLAG_SLOT.address, bytes([OTA_FLAG_APPLY]))
        return RESULT_OK, True


def check_update(data: bytes, platform: Platform, read) -> int:
    head = None
    for offset in dict.fromkeys((platform.module_info_offset, 0)):
        if len(data) >= offset + 24:
            fields = struct.unpack_from("<IIBBHHBBBBHBBH", data, offset)
            if fields[0] < fields[1] and fields[1] - fields[0] + 4 == len(data):
                head = fields
                break
    if head is None:
        return OTA_INVALID_FORMAT
    start, end, _mcu, _flags, version, pid, function, index, f1, i1, v1, f2, i2, v2 = head
    if zlib.crc32(data[:-4]) & 0xFFFFFFFF != struct.unpack(">I", data[-4:])[0]:
        return OTA_INTEGRITY_CHECK_FAILED
    if pid != platform.platform_id:
        return OTA_INVALID_PLATFORM
    if function not in UPDATABLE:
        return OTA_UNSUPPORTED_MODULE
    module = boot.Module(start, function, index, version, pid, tuple(d for d in ((f1, i1, v1), (f2, i2, v2)) if d[0]))
    present = [m for m in _present(read, platform) if (m.function, m.index) != (function, index)] + [module]
    if boot._unmet(module, present):
        return OTA_DEPENDENCY_CHECK_FAILED
    return RESULT_OK


def _present(read, platform: Platform) -> list[boot.Module]:
    out = boot.platform_modules(read, platform)
    for address in platform.system_parts:
        module, _why = boot.read_module(read, platform, address)
        if module is not None:
            out.append(module)
    return out
