"""Device OS's side of firmware updates over USB control requests.

Requests (Device OS system_control.h; particle-usb request.js; protobuf messages from
device-os-protobuf control/storage.proto); requests.py routes them here. Module info (90) is
answered from sim/device_info.py.

- 250 START_FIRMWARE_UPDATE {size}: reply {chunk_size}.
- 253 FIRMWARE_UPDATE_DATA {data}: appended to the update.
- 251 FINISH_FIRMWARE_UPDATE {validate_only}: Device OS checks the module (format, CRC,
  platform, function, size, dependencies) and refuses it with an error result, or stages it
  in the OTA region with the 0xA5 flag and restarts to apply it.
- 252 CANCEL_FIRMWARE_UPDATE.

The refusals are Device OS's OTA results from services/inc/system_error.h (the -1300 ... -1399
range, the same in every Device OS release that has this request): OTA_UNSUPPORTED_MODULE -1310,
OTA_INTEGRITY_CHECK_FAILED -1330, OTA_DEPENDENCY_CHECK_FAILED -1340, OTA_INVALID_PLATFORM -1360,
OTA_INVALID_FORMAT -1370. Which check Device OS makes first is ours to choose; the codes are not.

Stdlib only.
"""
from __future__ import annotations

from typing import Optional

from particle_py import module_layout as layout
from particle_py.control_codes import (OTA_DEPENDENCY_CHECK_FAILED, OTA_INTEGRITY_CHECK_FAILED, OTA_INVALID_FORMAT,
                                       OTA_INVALID_PLATFORM, OTA_UNSUPPORTED_MODULE, RESULT_INVALID_ARGUMENT,
                                       RESULT_INVALID_STATE, RESULT_OK, RESULT_TOO_LARGE)
from particle_py.platforms import OTA_FLAG_APPLY, OTA_FLAG_SLOT, Platform
from particle_py.sim import boot
from particle_py.sim.protobuf import decode, first, uint

CHUNK_SIZE = 4096
# What Device OS installs through this path here (the rest goes over DFU).
UPDATABLE = (boot.BOOTLOADER,)


def _field1(payload: bytes, kind: type, default):
    """Field 1 of a request message (all three carry one), or None when nanopb would fail to
    decode the message or the field has the wrong wire type."""
    try:
        value = first(decode(payload), 1, default)
    except ValueError:
        return None
    return value if isinstance(value, kind) else None


# --- firmware update session ---------------------------------------------------------------
class UpdateSession:
    def __init__(self):
        self.size: Optional[int] = None
        self.data = bytearray()

    def start(self, payload: bytes, platform: Platform) -> tuple[int, bytes]:
        size = _field1(payload, int, 0)
        if size is None:
            return RESULT_INVALID_ARGUMENT, b""
        region = platform.ota_region
        if region is None:
            return OTA_UNSUPPORTED_MODULE, b""
        if not size:
            return RESULT_INVALID_ARGUMENT, b""
        if size > (region.max_size or size):
            return RESULT_TOO_LARGE, b""
        self.size, self.data = size, bytearray()
        return RESULT_OK, uint(1, CHUNK_SIZE)

    def add(self, payload: bytes) -> tuple[int, bytes]:
        if self.size is None:
            return RESULT_INVALID_STATE, b""
        chunk = _field1(payload, bytes, b"")
        if chunk is None:
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
        validate_only = _field1(payload, int, 0)
        if validate_only is None:
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
    for offset in dict.fromkeys((platform.module_info_offset, 0)):
        prefix = layout.unpack_prefix(data, offset)
        if prefix is not None and prefix.start < prefix.end and prefix.size == len(data):
            break
    else:
        return OTA_INVALID_FORMAT
    if not layout.crc_matches(data):
        return OTA_INTEGRITY_CHECK_FAILED
    if prefix.platform_id != platform.platform_id:
        return OTA_INVALID_PLATFORM
    if prefix.function not in UPDATABLE:
        return OTA_UNSUPPORTED_MODULE
    module = boot.Module(prefix.start, prefix.function, prefix.index, prefix.version, prefix.platform_id,
                         prefix.dependencies)
    present = [m for m in _present(read, platform)
               if (m.function, m.index) != (prefix.function, prefix.index)] + [module]
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
