"""Stand-in Particle firmware for simulated devices: real-shaped modules, no Particle code.

A module built here has what Device OS and particle-cli check: the 24-byte prefix at
the MCU family's usual offset, a 40-byte suffix (product data, SHA-256, suffix
size) and the big-endian CRC-32 of everything before it. The payload is seeded
noise. Knobs break one thing at a time, for tests of the checks.

Stdlib only: the simulator and the demo use it, and so do the tests.
"""
from __future__ import annotations

import glob
import hashlib
import os
import random
import struct
import zlib
from typing import Optional, Sequence

from particle_py import module_layout as layout
from particle_py.platforms import Platform, by_name

BOOTLOADER, SYSTEM_PART, USER_PART, RADIO_STACK = 2, 4, 5, 8


# Device OS versions as module versions (e.g. 1.5.2 -> 1512 in the prefix). Stand-ins, except 5.0.0:
# 5002 (Device OS modules/shared/system_module_version.mk at v5.0.0), which Particle's P2 Tinker needs.
DEVICE_OS_MODULE_VERSION = {"0.6.2": 108, "0.7.0": 207, "1.5.2": 1512, "2.3.1": 2301, "4.1.0": 4100,
                            "5.0.0": 5002}

# The Device OS a new simulated device holds unless told otherwise, per MCU family: 1.5.2 where
# it was released; rtl872x devices (P2 / Photon 2, M-SoM, Tracker-M) never ran anything before
# 5.x, and particle-cli's P2 Tinker (tinker-5.0.0-p2.bin) needs 5.0.0.
DEFAULT_DEVICE_OS = {"rtl872x": "5.0.0"}
# MCU families whose modules end with the suffix extensions of Device OS's module_info.inc, the
# dynamic location (where the module starts) first: how rtl872x Device OS finds a user part that
# ends at a fixed address (hal_platform_rtl8721x_config.h HAL_PLATFORM_MODULE_DYNAMIC_LOCATION).
DYNAMIC_LOCATION_MCUS = frozenset({"rtl872x"})


def default_device_os(platform: Platform) -> str:
    return DEFAULT_DEVICE_OS.get(platform.mcu, "1.5.2")


def dynamic_location(start: int, dynalib_offset: int = 0x88) -> bytes:
    """The dynamic-location suffix extension (module_info.h module_info_dynamic_location_ext_t):
    type 2, 16 bytes, the module's start, its dynalib table in flash, and in RAM (a stand-in)."""
    return struct.pack("<HHIII", layout.DYNAMIC_LOCATION, layout.DYNAMIC_LOCATION_SIZE, start,
                       start + dynalib_offset, 0x023F0000)


def default_start(platform: Platform, function: int, index: int = 1, size: int = 0) -> int:
    if function == USER_PART:
        region = platform.user_part
        return region.address - size if region.grows_left else region.address
    if function == SYSTEM_PART:
        return platform.system_parts[max(index - 1, 0)]
    if function == BOOTLOADER:
        return platform.bootloader or 0
    if function == RADIO_STACK:
        return platform.radio_stack or 0
    return platform.user_part.address


def build_module(platform: "str | Platform" = "photon", *, function: int = USER_PART,
                 index: Optional[int] = None, version: int = 6, size: int = 4096,
                 start: Optional[int] = None, platform_id: Optional[int] = None,
                 deps: Sequence[tuple[int, int, int]] = ((SYSTEM_PART, 2, 6),),
                 flags: int = 0, prefix_offset: Optional[int] = None,
                 product_id: int = 0xFFFF, product_version: int = 0xFFFF,
                 suffix_extensions: bytes = b"", seed: int = 1, bad_crc: bool = False,
                 bad_sha: bool = False, mcu: int = 0) -> bytes:
    """A complete module of exactly ``size`` bytes (prefix, payload, suffix, CRC)."""
    plat = by_name(platform) if isinstance(platform, str) else platform
    if index is None:
        index = 1 if function in (USER_PART, SYSTEM_PART) else 0
    if prefix_offset is None:
        prefix_offset = plat.module_info_offset
    if start is None:
        start = default_start(plat, function, index, size)
    suffix_size = 40 + len(suffix_extensions)
    tail = 4 + suffix_size
    if size < prefix_offset + layout.PREFIX_SIZE + tail:
        raise ValueError("module too small for its prefix and suffix")
    rng = random.Random(seed)
    body = bytearray(rng.randbytes(size - tail))
    dep_fields = list(deps)[:2] + [(0, 0, 0)] * (2 - len(list(deps)[:2]))
    prefix = struct.pack(
        layout.PREFIX_FORMAT, start, start + size - 4, mcu, flags, version,
        plat.platform_id if platform_id is None else platform_id, function, index,
        dep_fields[0][0], dep_fields[0][1], dep_fields[0][2],
        dep_fields[1][0], dep_fields[1][1], dep_fields[1][2])
    body[prefix_offset:prefix_offset + layout.PREFIX_SIZE] = prefix
    before_hash = bytes(body) + suffix_extensions + struct.pack("<HHH", product_id, product_version, 0)
    sha = hashlib.sha256(before_hash).digest()
    if bad_sha:
        sha = bytes(b ^ 0xFF for b in sha)
    without_crc = before_hash + sha + struct.pack("<H", suffix_size)
    crc = zlib.crc32(without_crc) & 0xFFFFFFFF
    if bad_crc:
        crc ^= 0xDEADBEEF
    return without_crc + struct.pack(">I", crc)


PEERS_ENV = "PARTICLE_PY_PEERS"
DROP_MODULE_INFO = 0x01


def peer_cache() -> str:
    return os.environ.get(PEERS_ENV) or os.path.join(os.path.expanduser("~"), ".cache", "particle-py-peers")


def _peer_file(name: str, sha256: str) -> Optional[bytes]:
    """A module file from particle-cli's npm packages in the peer cache, if it is the pinned one."""
    for path in sorted(glob.glob(os.path.join(peer_cache(), "particle-cli-*", "node_modules", "particle-cli",
                                              "assets", "updates", name))):
        with open(path, "rb") as fh:
            data = fh.read()
        if hashlib.sha256(data).hexdigest() == sha256:
            return data
    return None


def real_device_os(platform: Platform, version: str) -> Optional[list[tuple[int, bytes]]]:
    """The published module files of a pinned Device OS release, as Device OS holds them in
    flash (a module flagged DROP_MODULE_INFO without its prefix), or None when the release is
    not pinned for the platform or the peer cache lacks a file."""
    # The pinned table is generated data (no client code), so the stdlib-only simulator may read it.
    from particle_py.release_table import RELEASES

    entry = RELEASES.get(version, {}).get(platform.name)
    if entry is None:
        return None
    out = []
    for module in entry["modules"]:
        data = _peer_file(module["file"], module["sha256"])
        if data is None:
            return None
        if module["flags"] & DROP_MODULE_INFO:
            data = data[24:]
        out.append((int(module["start"], 16), data))
    return out


def device_os(platform: Platform, version: str = "1.5.2", part_size: int = 16384) -> list[tuple[int, bytes]]:
    """Device OS for ``platform``: [(address, module), ...]. A pinned release whose files are in
    the peer cache is the real thing (bootloader and radio stack included); otherwise stand-in
    system parts, part N+1 depending on part N of the same version, as in real releases.
    """
    real = real_device_os(platform, version)
    if real is not None:
        return real
    modver = module_version(version)
    parts = []
    for index, address in enumerate(platform.system_parts, 1):
        deps = ((SYSTEM_PART, index - 1, modver),) if index > 1 else ()
        parts.append((address, build_module(platform, function=SYSTEM_PART, index=index, version=modver,
                                            size=part_size, start=address, deps=deps, seed=index,
                                            suffix_extensions=suffix_extensions_for(platform, address))))
    return parts


def suffix_extensions_for(platform: Platform, start: int) -> bytes:
    return dynamic_location(start) if platform.mcu in DYNAMIC_LOCATION_MCUS else b""


def user_app(platform: Platform, device_os_version: str = "1.5.2", size: int = 5324, seed: int = 7) -> bytes:
    """A stand-in user application (tinker-sized) that needs the given Device OS, linked at the
    address apps for that Device OS are built for."""
    from particle_py.platforms import user_slots

    last_part = max(len(platform.system_parts), 1)
    needs = module_version(device_os_version)
    # linked where apps for that Device OS go (Gen3: 0xD4000 before 3.1, 0xB4000 from 3.1 on)
    region = user_slots(platform, needs).linked if platform.user_part is not None else None
    start = default_start(platform, USER_PART, 1, size) if region is None or region.grows_left else region.address
    return build_module(platform, function=USER_PART, index=1, version=6, size=size,
                        deps=((SYSTEM_PART, last_part, needs),), seed=seed, start=start,
                        suffix_extensions=suffix_extensions_for(platform, start))


def module_version(device_os_version: str) -> int:
    """A Device OS version as a module version: the table above, else major*1000+minor*100+patch."""
    if device_os_version in DEVICE_OS_MODULE_VERSION:
        return DEVICE_OS_MODULE_VERSION[device_os_version]
    parts = [int(p) for p in device_os_version.split("-")[0].split(".")[:3] if p.isdigit()]
    major, minor, patch = (parts + [0, 0, 0])[:3]
    return major * 1000 + minor * 100 + patch


def version_of_module(module_version_number: int, platform: Optional[str] = None) -> str:
    """The inverse of ``module_version``; for Particle's own release files (pinned in
    release_table), the release whose system parts carry that module version on ``platform``: a
    module version is not a release number (2.3.1's system parts are module version 2302)."""
    for text, number in DEVICE_OS_MODULE_VERSION.items():
        if number == module_version_number:
            return text
    released = _released_versions(platform).get(module_version_number)
    if released is not None:
        return released
    v = module_version_number
    return f"{v // 1000}.{v // 100 % 10}.{v % 100}"


def _released_versions(platform: Optional[str]) -> dict:
    """{system part module version: release} from the pinned releases of ``platform``, where one
    module version names one release only."""
    from particle_py.release_table import RELEASES

    seen: dict = {}
    for version, by_platform in RELEASES.items():
        for name, release in by_platform.items():
            if platform is not None and name != platform:
                continue
            for module in release.get("modules", []):
                if module.get("function") == "system part":
                    seen.setdefault(module.get("module_version"), set()).add(version)
    return {number: versions.pop() for number, versions in seen.items() if len(versions) == 1}


def release_file_names(platform: Platform, version: str) -> list[str]:
    """Names Particle's release pages gave the system parts: ``system-part1-0.4.7-photon.bin``
    (Gen2 and the Core era) and ``argon-system-part1@1.5.2.bin`` (Gen3 and later)."""
    if platform.generation <= 2:
        return [f"system-part{n}-{version}-{platform.name}.bin" for n in range(1, len(platform.system_parts) + 1)]
    return [f"{platform.name}-system-part{n}@{version}.bin" for n in range(1, len(platform.system_parts) + 1)]


def stand_in_files(platform: Platform, version: str) -> list[tuple[str, int, bytes]]:
    """Stand-in firmware files a person can flash with the commands of guides:
    [(file name, address it goes to, bytes)]: the system parts, then ``app-<platform>.bin``."""
    files = []
    for name, (address, module) in zip(release_file_names(platform, version),
                                       device_os(platform, version)):
        files.append((name, address, module))
    if platform.user_part is not None:
        app = user_app(platform, version)
        start = struct.unpack_from("<I", app, platform.module_info_offset)[0]
        files.append((f"app-{platform.name}.bin", start, app))
    return files
