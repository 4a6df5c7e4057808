"""The byte layout of a Device OS module: its prefix (module_info_t), the CRC at its end and the
suffix before it. Data and stdlib-only unpackers, shared by the client (firmware.module, the
doctor, flash) and the simulator, which may import no client code (tests/packaging/test_layers).

Sources: Device OS ``dynalib/inc/module_info.h`` and ``hal/src/rtl872x/core_hal.c``;
binary-version-reader's HalModuleParser.
"""
from __future__ import annotations

import struct
import zlib
from typing import Callable, NamedTuple, Optional

# start, end, MCU, flags, version, platform id, function, index, then two dependencies
# (function, index, version); little-endian.
PREFIX_FORMAT = "<IIBBHHBBBBHBBH"
PREFIX_SIZE = struct.calcsize(PREFIX_FORMAT)
# The first six fields alone: enough to tell whether a module starts at an address.
HEAD_FORMAT = "<IIBBHH"
HEAD_SIZE = struct.calcsize(HEAD_FORMAT)
CRC_SIZE = 4                    # CRC-32 (zlib) of everything before it, stored big-endian
ERASED_PREFIX = b"\xff" * PREFIX_SIZE
NO_SUFFIX = 0xFFFF
# No module is larger: a prefix naming more is noise, not a module (largest flash: 2 MiB).
MAX_MODULE = 2 * 1024 * 1024
# rtl872x Device OS finds a user part that ends at a fixed address by the start address in the
# first extension of its suffix (a dynamic location: type 2, at least 16 bytes).
DYNAMIC_LOCATION, DYNAMIC_LOCATION_SIZE = 2, 16

Reader = Callable[[int, int, int], bytes]      # (alt, address, length) -> bytes


class ModuleFunction:
    NONE = 0
    RESOURCE = 1
    BOOTLOADER = 2
    MONO_FIRMWARE = 3
    SYSTEM_PART = 4
    USER_PART = 5
    SETTINGS = 6
    NCP_FIRMWARE = 7
    RADIO_STACK = 8
    ASSET = 9


class Prefix(NamedTuple):
    start: int                  # the module's first address
    end: int                    # the CRC's address
    mcu: int
    flags: int
    version: int
    platform_id: int
    function: int
    index: int
    dep1_function: int
    dep1_index: int
    dep1_version: int
    dep2_function: int
    dep2_index: int
    dep2_version: int

    @property
    def size(self) -> int:
        return self.end - self.start + CRC_SIZE

    @property
    def dependencies(self) -> tuple[tuple[int, int, int], ...]:
        """(function, index, version) of each dependency that is not NONE."""
        return tuple(d for d in ((self.dep1_function, self.dep1_index, self.dep1_version),
                                 (self.dep2_function, self.dep2_index, self.dep2_version)) if d[0])

    def plausible_at(self, address: Optional[int] = None) -> bool:
        """Starts at ``address`` (any, when None) and names a size a module can have."""
        return (address is None or self.start == address) and self.start < self.end < self.start + MAX_MODULE


class Head(NamedTuple):
    start: int
    end: int
    mcu: int
    flags: int
    version: int
    platform_id: int


def unpack_prefix(raw: bytes, offset: int = 0) -> Optional[Prefix]:
    """The prefix at ``offset`` of ``raw``; None when fewer bytes are there."""
    if offset < 0 or len(raw) < offset + PREFIX_SIZE:
        return None
    return Prefix._make(struct.unpack_from(PREFIX_FORMAT, raw, offset))


def unpack_head(raw: bytes, offset: int = 0) -> Optional[Head]:
    if offset < 0 or len(raw) < offset + HEAD_SIZE:
        return None
    return Head._make(struct.unpack_from(HEAD_FORMAT, raw, offset))


def stored_crc(body: bytes) -> int:
    return struct.unpack_from(">I", body, len(body) - CRC_SIZE)[0]


def crc_matches(body: bytes) -> bool:
    """The module's own check: the CRC-32 of all but its last 4 bytes equals those bytes."""
    return len(body) >= CRC_SIZE and zlib.crc32(body[:-CRC_SIZE]) & 0xFFFFFFFF == stored_crc(body)


def user_part_start(read: Reader, region) -> tuple[Optional[int], str, str]:
    """(address, code, why) of the app Device OS runs from ``region`` (platforms.UserSlot):
    its address, or for a region that grows left (rtl872x) the start its suffix names.
    code: 'ok', 'missing' (erased) or 'invalid'."""
    if not region.grows_left:
        return region.address, "ok", "ok"
    crc_at = region.address - CRC_SIZE
    suffix_size = struct.unpack("<H", read(region.alt, crc_at - 2, 2))[0]
    if suffix_size == NO_SUFFIX:
        return None, "missing", "empty (erased flash)"
    ext_type, length, start = struct.unpack("<HHI", read(region.alt, crc_at - suffix_size, 8))
    if ext_type != DYNAMIC_LOCATION or length < DYNAMIC_LOCATION_SIZE:
        return None, "invalid", "no module ends there (its suffix names no start address)"
    low, high = region.window
    if not low <= (start & ~0xFFF) < high:        # Device OS takes the start only inside the region
        return None, "invalid", f"the module ending there names a start (0x{start:08x}) outside the user part"
    return start, "ok", "ok"
