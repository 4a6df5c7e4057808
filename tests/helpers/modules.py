"""Build real-shaped Particle firmware modules for tests.

A module built here has what Device OS and particle-cli expect: the 24-byte prefix at the
platform's usual file offset, a 40-byte suffix (product data, SHA-256, suffix size) and the
big-endian CRC-32 of everything before it. Knobs break one thing at a time.
"""
from __future__ import annotations

import hashlib
import random
import struct
import zlib
from typing import Optional, Sequence

from particle_py.firmware.module import ModuleFunction
from particle_py.platforms import Platform, by_name

# Where the prefix sits in files built for each MCU family (after the vector table).
PREFIX_OFFSET_BY_MCU = {"stm32f1xx": 0x10C, "stm32f2xx": 0x184, "nrf52840": 0x200, "rtl872x": 0}


def default_start(platform: Platform, function: int, index: int = 1, size: int = 0) -> int:
    if function == ModuleFunction.USER_PART:
        if platform.mcu == "rtl872x":          # rtl872x user parts end at the region address
            return platform.user_part.address - size
        return platform.user_part.address
    if function == ModuleFunction.SYSTEM_PART:
        return platform.system_parts[max(index - 1, 0)]
    if function == ModuleFunction.BOOTLOADER:
        return platform.bootloader or 0
    if function == ModuleFunction.RADIO_STACK:
        return platform.radio_stack or 0
    return platform.user_part.address


def build_module(platform: str | Platform = "photon", *, function: int = ModuleFunction.USER_PART,
                 index: Optional[int] = None, version: int = 6, size: int = 4096,
                 start: Optional[int] = None, platform_id: Optional[int] = None,
                 deps: Sequence[tuple[int, int, int]] = ((ModuleFunction.SYSTEM_PART, 2, 6),),
                 flags: int = 0, prefix_offset: Optional[int] = None,
                 product_id: int = 0xFFFF, product_version: int = 0xFFFF,
                 suffix_extensions: bytes = b"", seed: int = 1, bad_crc: bool = False,
                 bad_sha: bool = False, mcu: int = 0) -> bytes:
    """A complete module of exactly ``size`` bytes (prefix, payload, suffix, CRC)."""
    plat = by_name(platform) if isinstance(platform, str) else platform
    if index is None:
        index = 1 if function in (ModuleFunction.USER_PART, ModuleFunction.SYSTEM_PART) else 0
    if prefix_offset is None:
        prefix_offset = PREFIX_OFFSET_BY_MCU[plat.mcu]
    if start is None:
        start = default_start(plat, function, index, size)
    suffix_size = 40 + len(suffix_extensions)
    tail = 4 + suffix_size
    if size < prefix_offset + 24 + tail:
        raise ValueError("module too small for its prefix and suffix")
    rng = random.Random(seed)
    body = bytearray(rng.getrandbits(8) for _ in range(size - tail))
    dep_fields = list(deps)[:2] + [(0, 0, 0)] * (2 - len(list(deps)[:2]))
    prefix = struct.pack(
        "<IIBBHHBBBBHBBH", start, start + size - 4, mcu, flags, version,
        plat.platform_id if platform_id is None else platform_id, function, index,
        dep_fields[0][0], dep_fields[0][1], dep_fields[0][2],
        dep_fields[1][0], dep_fields[1][1], dep_fields[1][2])
    body[prefix_offset:prefix_offset + 24] = prefix
    before_hash = bytes(body) + suffix_extensions + struct.pack("<HHH", product_id, product_version, 0)
    sha = hashlib.sha256(before_hash).digest()
    if bad_sha:
        sha = bytes(b ^ 0xFF for b in sha)
    without_crc = before_hash + sha + struct.pack("<H", suffix_size)
    crc = zlib.crc32(without_crc) & 0xFFFFFFFF
    if bad_crc:
        crc ^= 0xDEADBEEF
    out = without_crc + struct.pack(">I", crc)
    assert len(out) == size
    return out


def write_module(path, data: bytes):
    path.write_bytes(data)
    return path
