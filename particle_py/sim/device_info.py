"""What a simulated Device OS reports about itself: the modules really in its flash (with the
validity checks Device OS runs), its network interfaces and its cellular ids.

Both ways of asking read from here: the listening-mode serial reply to ``s`` (sim/serial.py)
and the USB control requests particle-cli 3.21+ sends (GetModuleInfo 90, network interfaces
400/401, cellular ids 554). Modules are parsed from flash the way sim/boot.py does (prefix at
the MCU's offset, CRC-32 at the end), so writing a system part with dfu-util or
``particle flash --usb`` changes what inspect shows. Stdlib only.
"""
from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass
from typing import Callable, Optional

from particle_py import platforms as platforms_mod

# Module functions as the prefix stores them (Device OS module_function_t; the same numbers as
# the cloud protobuf's FirmwareModuleType) and the describe letters of the ``s`` reply.
FUNCTION_LETTERS = {0: "n", 1: "r", 2: "b", 3: "m", 4: "s", 5: "u", 7: "c", 8: "a"}
# The pre-5.6 GetModuleInfo reply numbers module types differently (control/storage.proto).
LEGACY_TYPE = {2: 1, 4: 2, 5: 3, 3: 4, 7: 5, 8: 6}

# Validity bits (hal/inc/ota_flash_hal.h): the ``vc``/``vv`` of ``s``, checked/passed flags of 90.
INTEGRITY, DEPENDENCIES, RANGE, PLATFORM = 2, 4, 8, 16
ALL_CHECKS = INTEGRITY | DEPENDENCIES | RANGE | PLATFORM

BOOTLOADER_MAX = {"stm32f2xx": 16384, "nrf52840": 49152}
MAX_MODULE = 2 * 1024 * 1024

NETWORKS = platforms_mod.NETWORKS

# Device OS versions from which a control request is answered (particle-usb's "supported
# platforms" notes); below them Device OS replies NOT_SUPPORTED and the serial protocol is the way.
CONTROL_SINCE = {
    "module_info": {2: (0, 8, 0), 3: (0, 9, 0), 4: (0, 0, 0)},
    "module_info_v2": {2: (5, 6, 0), 3: (5, 6, 0), 4: (5, 6, 0)},       # modules (field 2), not the deprecated list
    "interfaces": {2: (0, 8, 0), 3: (0, 9, 0), 4: (0, 0, 0)},
    "cellular_ids": {2: (6, 0, 0), 3: (6, 0, 0), 4: (6, 0, 0)},         # IMEI in the reply since 6.0
}


def version_tuple(text: Optional[str]) -> tuple:
    numbers = []
    for part in (text or "0").split("-", 1)[0].split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        numbers.append(int(digits or 0))
    return tuple(numbers + [0] * (3 - len(numbers)))


def answers(feature: str, platform: platforms_mod.Platform, firmware_version: Optional[str]) -> bool:
    since = CONTROL_SINCE[feature].get(platform.generation)
    return since is not None and version_tuple(firmware_version) >= since


@dataclass(frozen=True)
class Slot:
    letter: str            # what the slot is meant to hold (used for empty slots)
    index: int
    address: int
    max_size: int
    location: str          # m main, b backup, f factory, t temp
    alt: int = 0


@dataclass
class ModuleReport:
    slot: Slot
    function: Optional[int] = None     # None: nothing valid-looking in the slot
    index: int = 0
    version: int = 0
    size: int = 0
    platform_id: int = 0
    deps: tuple = ()
    sha256: Optional[bytes] = None
    passed: int = 0

    @property
    def empty(self) -> bool:
        return self.function is None


def module_slots(platform: platforms_mod.Platform) -> list[Slot]:
    """Where Device OS looks for modules on this platform (from the platform table)."""
    slots = []
    if platform.bootloader is not None and platform.mcu in BOOTLOADER_MAX:
        slots.append(Slot("b", 0, platform.bootloader, BOOTLOADER_MAX[platform.mcu], "m"))
    user = platform.user_part
    parts = platform.system_parts
    if parts and user is not None:
        ends = list(parts[1:]) + [user.address]
        for number, (start, end) in enumerate(zip(parts, ends), 1):
            slots.append(Slot("s", number, start, end - start, "m"))
    if user is not None and not user.grows_left and parts:
        slots.append(Slot("u", 1, user.address, user.max_size or 131072, "m"))
    if platform.radio_stack is not None and parts:
        slots.append(Slot("a", 0, platform.radio_stack, parts[0] - platform.radio_stack, "m"))
    factory = platform.factory_reset
    if factory is not None and factory.alt == 0 and factory.max_size and parts:
        slots.append(Slot("u", 1, factory.address, factory.max_size, "f"))
    return slots


Reader = Callable[[int, int, int], bytes]


def _read_slot(read: Reader, platform: platforms_mod.Platform, slot: Slot) -> ModuleReport:
    report = ModuleReport(slot)
    head = read(slot.alt, slot.address + platform.module_info_offset, 24)
    if len(head) < 24:
        return report
    start, end, _mcu, _flags, version, pid, function, index, f1, i1, v1, f2, i2, v2 = struct.unpack(
        "<IIBBHHBBBBHBBH", head)
    if not start < end < start + MAX_MODULE or function not in FUNCTION_LETTERS:
        return report                      # erased or no module header: an empty slot
    size = end - start + 4
    report.function, report.index, report.version = function, index, version
    report.size, report.platform_id = size, pid
    report.deps = tuple(d for d in ((f1, i1, v1), (f2, i2, v2)) if d[0])
    body = read(slot.alt, slot.address, size)
    passed = 0
    if len(body) == size:
        report.sha256 = body[-38:-6]          # the suffix's SHA-256, whether or not the CRC holds
        if zlib.crc32(body[:-4]) & 0xFFFFFFFF == struct.unpack(">I", body[-4:])[0]:
            passed |= INTEGRITY
    if start == slot.address and size <= slot.max_size:
        passed |= RANGE
    if pid == platform.platform_id:
        passed |= PLATFORM
    report.passed = passed
    return report


def scan(read: Reader, platform: platforms_mod.Platform) -> list[ModuleReport]:
    """Every module slot of the board with what it holds and which checks pass."""
    reports = [_read_slot(read, platform, slot) for slot in module_slots(platform)]
    present = [r for r in reports if not r.empty and r.passed & INTEGRITY]
    for report in reports:
        if report.empty:
            continue
        met = all(any(p.function == f and p.index == i and p.version >= v for p in present)
                  for f, i, v in report.deps)
        if met:
            report.passed |= DEPENDENCIES
    return reports


def describe_json(reports: list[ModuleReport], platform: platforms_mod.Platform) -> str:
    """The listening-mode ``s`` reply (system_info.cpp's JSON, keys in its order, no spaces)."""
    import json

    modules = []
    for r in reports:
        entry: dict = {"s": r.slot.max_size, "l": r.slot.location, "vc": ALL_CHECKS,
                       "vv": r.passed if not r.empty else 0}
        if not r.empty:
            if r.function == 5 and r.sha256:
                entry["u"] = r.sha256.hex().upper()
            entry["f"] = FUNCTION_LETTERS[r.function]
            entry["n"] = str(r.index)
            entry["v"] = r.version
        entry["d"] = [{"f": FUNCTION_LETTERS.get(f, "n"), "n": str(i), "v": v} for f, i, v in r.deps]
        modules.append(entry)
    return json.dumps({"p": platform.platform_id, "m": modules}, separators=(",", ":"))


# --- protobuf encoding (just what the replies need) -------------------------------------------
def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        b = value & 0x7F
        value >>= 7
        if value:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def pb_varint(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value) if value else b""


def pb_bytes(field: int, raw: bytes) -> bytes:
    return _varint((field << 3) | 2) + _varint(len(raw)) + raw


def pb_fixed32(field: int, value: int) -> bytes:
    return _varint((field << 3) | 5) + struct.pack("<I", value)


def module_info_reply(reports: list[ModuleReport], new_format: bool) -> bytes:
    """GetModuleInfoReply: ``modules`` (cloud FirmwareModule, 5.6+) or ``modules_deprecated``."""
    out = b""
    for r in reports:
        if r.empty:
            continue
        if new_format:
            body = (pb_varint(1, r.function) + pb_varint(2, r.index) + pb_varint(3, r.version)
                    + pb_varint(4, {"m": 0, "f": 1, "b": 2, "t": 3}[r.slot.location])
                    + pb_varint(5, r.slot.max_size) + pb_fixed32(6, ALL_CHECKS) + pb_fixed32(7, r.passed))
            if r.sha256 is not None:
                body += pb_bytes(8, r.sha256)
            for f, i, v in r.deps:
                body += pb_bytes(9, pb_varint(1, f) + pb_varint(2, i) + pb_varint(3, v))
            body += pb_varint(11, r.size)
            out += pb_bytes(2, body)
        else:
            failed = (0 if r.passed & INTEGRITY else 1) | (0 if r.passed & DEPENDENCIES else 2)
            body = (pb_varint(1, LEGACY_TYPE.get(r.function, 0)) + pb_varint(2, r.index)
                    + pb_varint(3, r.version) + pb_varint(4, r.size) + pb_varint(5, failed))
            for f, i, v in r.deps:
                body += pb_bytes(6, pb_varint(1, LEGACY_TYPE.get(f, 0)) + pb_varint(2, i) + pb_varint(3, v))
            out += pb_bytes(1, body)
    return out


# --- network identity -------------------------------------------------------------------------
def _digits(device_id: str, salt: str, count: int) -> str:
    digest = hashlib.sha256(f"{salt}:{device_id}".encode()).hexdigest()
    return "".join(str(int(c, 16) % 10) for c in digest)[:count]


def mac_address(device_id: str) -> bytes:
    """A stable locally-administered-looking MAC per device (Particle's Wi-Fi OUI prefix)."""
    tail = hashlib.sha256(f"mac:{device_id}".encode()).digest()[:3]
    return bytes([0x6C, 0x0B, 0x84]) + tail


def imei(device_id: str) -> str:
    return "35" + _digits(device_id, "imei", 13)


def iccid(device_id: str) -> str:
    return "8901" + _digits(device_id, "iccid", 16)


INTERFACE_TYPES = {"wifi": 8, "cellular": 0x10, "loopback": 1}
INTERFACE_NAMES = {"wifi": "wl4", "cellular": "pp3", "loopback": "lo0"}
INTERFACE_INDEX = {"loopback": 1, "cellular": 3, "wifi": 4}


def interfaces(platform: platforms_mod.Platform) -> list[str]:
    return ["loopback"] + list(NETWORKS.get(platform.name, ()))


def interface_list_reply(platform: platforms_mod.Platform) -> bytes:
    out = b""
    for kind in interfaces(platform):
        out += pb_bytes(1, pb_varint(1, INTERFACE_INDEX[kind]) + pb_bytes(2, INTERFACE_NAMES[kind].encode())
                        + pb_varint(3, INTERFACE_TYPES[kind]))
    return out


def interface_reply(platform: platforms_mod.Platform, device_id: str, index: int) -> Optional[bytes]:
    for kind in interfaces(platform):
        if INTERFACE_INDEX[kind] == index:
            body = (pb_varint(1, index) + pb_bytes(2, INTERFACE_NAMES[kind].encode())
                    + pb_varint(3, INTERFACE_TYPES[kind]))
            if kind == "wifi":
                body += pb_bytes(8, mac_address(device_id)) + pb_varint(9, 1500)
            return pb_bytes(1, body)
    return None


def cellular_reply(device_id: str) -> bytes:
    return pb_bytes(1, iccid(device_id).encode()) + pb_bytes(2, imei(device_id).encode())


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while pos < len(data):
        b = data[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, pos
    raise ValueError("truncated varint")


def request_index(payload: bytes) -> int:
    """Field 1 (``index``) of a GetInterfaceRequest."""
    pos = 0
    while pos < len(payload):
        key, pos = _read_varint(payload, pos)
        if key == 0x08:
            value, pos = _read_varint(payload, pos)
            return value
        if key & 7 == 0:
            _, pos = _read_varint(payload, pos)
        else:
            return 0
    return 0
