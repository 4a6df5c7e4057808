"""What a simulated Device OS reports about itself: the modules really in its flash (with the
validity checks Device OS runs), its network interfaces and its cellular ids.

Both ways of asking read from here: the listening-mode serial reply to ``s`` (sim/serial.py)
and the USB control requests (GetModuleInfo 90, network interfaces 400/401, cellular ids 554)
that particle-cli 3.21+ and ``particle update`` send. Modules are parsed from flash the way
sim/boot.py does (prefix at the MCU's offset, CRC-32 at the end), so writing a system part with
dfu-util or ``particle flash --usb`` changes what inspect and update see. Stdlib only.

GetModuleInfo answers as Device OS's system/src/control/storage.cpp does per version:
- 0.8.0 (Gen2) / 0.9.0 (Gen3) to 5.5.x: ``modules_deprecated`` (field 1, control/storage.proto):
  main-store modules only, the old type numbers, ``size`` = end - start (the CRC not counted),
  ``validity`` = failed bits (1 integrity, 2 dependencies).
- 5.6.0 on: ``modules`` (field 2, cloud/describe.proto FirmwareModule) for every store,
  with max size, checked/passed flags as fixed32, the SHA-256 of every module (FORCE_SHA) and
  ``size`` counting the CRC.
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Callable, Optional

from particle_py import module_layout as layout
from particle_py import platforms as platforms_mod
from particle_py.sim import boot
from particle_py.sim.protobuf import decode, first, fixed32, message, uint

# Module functions as the prefix stores them (Device OS module_function_t; the same numbers as
# the cloud protobuf's FirmwareModuleType) and the describe letters of the ``s`` reply.
FUNCTION_LETTERS = {0: "n", 1: "r", 2: "b", 3: "m", 4: "s", 5: "u", 7: "c", 8: "a"}
# The pre-5.6 GetModuleInfo reply numbers module types differently (control/storage.proto).
LEGACY_TYPE = {2: 1, 4: 2, 5: 3, 3: 4, 7: 5, 8: 6}

# Validity bits (hal/inc/ota_flash_hal.h): the ``vc``/``vv`` of ``s``, checked/passed flags of 90.
INTEGRITY, DEPENDENCIES, RANGE, PLATFORM = 2, 4, 8, 16
ALL_CHECKS = INTEGRITY | DEPENDENCIES | RANGE | PLATFORM

BOOTLOADER_MAX = {"stm32f2xx": 16384, "nrf52840": 49152}

NETWORKS = platforms_mod.NETWORKS

# Device OS versions from which a control request is answered (particle-usb's "supported
# platforms" notes); below them Device OS replies NOT_SUPPORTED and the serial protocol is the way.
CONTROL_SINCE = {
    "module_info": {2: (0, 8, 0), 3: (0, 9, 0), 4: (0, 0, 0)},
    "module_info_v2": {2: (5, 6, 0), 3: (5, 6, 0), 4: (5, 6, 0)},       # modules (field 2), not modules_deprecated
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


def module_slots(platform: platforms_mod.Platform, user_regions: Optional[tuple] = None) -> list[Slot]:
    """Where Device OS looks for modules on this platform (from the platform table); the user
    part(s) are ``user_regions`` (those of the Device OS in flash, boot.user_regions), else the
    platform's ``user_part``."""
    slots = []
    if platform.bootloader is not None and platform.mcu in BOOTLOADER_MAX:
        slots.append(Slot("b", 0, platform.bootloader, BOOTLOADER_MAX[platform.mcu], "m"))
    user = platform.user_part
    parts = platform.system_parts
    if parts and user is not None:
        ends = list(parts[1:]) + [user.address]
        for number, (start, end) in enumerate(zip(parts, ends), 1):
            slots.append(Slot("s", number, start, end - start, "m"))
    if user is not None and parts:
        for number, region in enumerate(user_regions or (user,), 1):
            if not region.grows_left:          # rtl872x: only once boot.user_regions located the app
                slots.append(Slot("u", number, region.address, region.max_size or 131072, "m"))
    if platform.radio_stack is not None and parts:
        slots.append(Slot("a", 0, platform.radio_stack, parts[0] - platform.radio_stack, "m"))
    factory = platform.factory_reset
    if factory is not None and factory.alt == 0 and factory.max_size and parts:
        slots.append(Slot("u", 1, factory.address, factory.max_size, "f"))
    return slots


Reader = Callable[[int, int, int], bytes]


def _read_slot(read: Reader, platform: platforms_mod.Platform, slot: Slot) -> ModuleReport:
    report = ModuleReport(slot)
    if slot.letter == "a":
        return _radio_stack(read, platform, report)
    # The prefix follows the vector table, except in a module without one (Electron's system
    # part at 0x08060000 carries it at offset 0), as sim/boot.py reads it.
    for offset in dict.fromkeys((platform.module_info_offset, 0)):
        prefix = layout.unpack_prefix(read(slot.alt, slot.address + offset, layout.PREFIX_SIZE))
        if prefix is None:
            return report
        if prefix.plausible_at() and prefix.function in FUNCTION_LETTERS:
            break
    else:
        return report                      # erased or no module header: an empty slot
    size = prefix.size
    report.function, report.index, report.version = prefix.function, prefix.index, prefix.version
    report.size, report.platform_id = size, prefix.platform_id
    report.deps = prefix.dependencies
    body = read(slot.alt, slot.address, size)
    passed = 0
    if len(body) == size:
        report.sha256 = body[-38:-6]          # the suffix's SHA-256, whether or not the CRC holds
        if layout.crc_matches(body):
            passed |= INTEGRITY
    if prefix.start == slot.address and size <= slot.max_size:
        passed |= RANGE
    if prefix.platform_id == platform.platform_id:
        passed |= PLATFORM
    report.passed = passed
    return report


def _radio_stack(read: Reader, platform: platforms_mod.Platform, report: ModuleReport) -> ModuleReport:
    """The SoftDevice: Device OS describes it from its own info structure (no module prefix)."""
    module = boot.radio_stack_module(read, platform)
    if module is None:
        return report
    sd_size = struct.unpack("<I", read(0, platform.radio_stack + boot.SD_INFO_OFFSET + 8, 4))[0]
    report.function, report.version, report.platform_id = module.function, module.version, module.platform_id
    report.size = sd_size if 0 < sd_size <= report.slot.max_size else 0
    report.passed = INTEGRITY | RANGE | PLATFORM
    return report


def scan(read: Reader, platform: platforms_mod.Platform) -> list[ModuleReport]:
    """Every module slot of the board with what it holds and which checks pass."""
    reports = []
    user_found = False
    for slot in module_slots(platform, boot.user_regions(read, platform)):
        report = _read_slot(read, platform, slot)
        if slot.letter == "u" and slot.location == "m":
            # Device OS 3.1+ reports one user part: the first intact one in the order it tries
            # them (ota_flash_hal.cpp HAL_System_Info); a later slot is listed empty.
            if user_found:
                report = ModuleReport(slot)
            elif not report.empty and report.passed & INTEGRITY:
                user_found = True
        reports.append(report)
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


# --- GetModuleInfo ----------------------------------------------------------------------------
def module_info_reply(reports: list[ModuleReport], new_format: bool) -> bytes:
    """GetModuleInfoReply: ``modules`` (cloud FirmwareModule, 5.6+) or ``modules_deprecated``."""
    return b"".join(_module_entry(r) if new_format else _deprecated_entry(r)
                    for r in reports if not r.empty)


STORES = {"m": 0, "f": 1, "b": 2, "t": 3}          # cloud FirmwareModuleStore


def _module_entry(r: ModuleReport) -> bytes:
    body = (uint(1, r.function) + uint(2, r.index) + uint(3, r.version) + uint(4, STORES[r.slot.location])
            + uint(5, r.slot.max_size) + fixed32(6, ALL_CHECKS) + fixed32(7, r.passed))
    if r.sha256 is not None:
        body += message(8, r.sha256)
    body += b"".join(message(9, uint(1, f) + uint(2, i) + uint(3, v)) for f, i, v in r.deps)
    return message(2, body + uint(11, r.size))


def _deprecated_entry(r: ModuleReport) -> bytes:
    kind = LEGACY_TYPE.get(r.function)
    if r.slot.location != "m" or kind is None:
        return b""                     # Device OS listed the main store's known kinds only
    failed = (0 if r.passed & INTEGRITY else 1) | (0 if r.passed & DEPENDENCIES else 2)
    body = (uint(1, kind) + uint(2, r.index) + uint(3, r.version) + uint(4, max(r.size - 4, 0))
            + uint(5, failed))
    body += b"".join(message(6, uint(1, LEGACY_TYPE[f]) + uint(2, i) + uint(3, v))
                     for f, i, v in r.deps if f in LEGACY_TYPE)
    return message(1, body)


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
        out += message(1, uint(1, INTERFACE_INDEX[kind]) + message(2, INTERFACE_NAMES[kind].encode())
                        + uint(3, INTERFACE_TYPES[kind]))
    return out


# Each interface as lwIP shows it on a device that is online (control/network.proto Interface):
# flags (IFF_*), MTU and an IPv4 address with its prefix; the address is made from the device
# id so that it is stable. Wi-Fi and PPP interfaces are up once the device reached its network.
IFF_UP, IFF_BROADCAST, IFF_LOOPBACK, IFF_POINTTOPOINT, IFF_LOWER_UP, IFF_NOARP, IFF_MULTICAST = (
    0x01, 0x02, 0x08, 0x10, 0x40, 0x80, 0x8000)
INTERFACE_FLAGS = {"loopback": IFF_UP | IFF_LOOPBACK | IFF_LOWER_UP,
                   "wifi": IFF_UP | IFF_BROADCAST | IFF_LOWER_UP | IFF_MULTICAST,
                   "cellular": IFF_UP | IFF_POINTTOPOINT | IFF_LOWER_UP | IFF_NOARP | IFF_MULTICAST}
INTERFACE_MTU = {"loopback": 0, "wifi": 1500, "cellular": 1500}


def ipv4_address(kind: str, device_id: str) -> tuple[int, int]:
    """(address as a 32-bit number, prefix length) of an interface."""
    tail = hashlib.sha256(f"ip:{kind}:{device_id}".encode()).digest()
    if kind == "loopback":
        return 0x7F000001, 8
    if kind == "wifi":
        return (192 << 24) | (168 << 16) | (1 << 8) | (2 + tail[0] % 250), 24
    return (10 << 24) | (tail[0] << 16) | (tail[1] << 8) | (1 + tail[2] % 254), 32


def _interface_address(address: int, prefix: int) -> bytes:
    """InterfaceAddress {IpAddress address = 1 {Ipv4Address v4 = 1 {fixed32 address = 1}}; prefix 2}."""
    return message(1, message(1, fixed32(1, address))) + uint(2, prefix)


def interface_reply(platform: platforms_mod.Platform, device_id: str, index: int) -> Optional[bytes]:
    for kind in interfaces(platform):
        if INTERFACE_INDEX[kind] == index:
            body = (uint(1, index) + message(2, INTERFACE_NAMES[kind].encode())
                    + uint(3, INTERFACE_TYPES[kind]) + uint(4, INTERFACE_FLAGS[kind]))
            body += message(6, message(1, _interface_address(*ipv4_address(kind, device_id))))
            if kind == "wifi":
                body += message(8, mac_address(device_id))
            body += uint(9, INTERFACE_MTU[kind])
            return message(1, body)
    return None


def cellular_reply(device_id: str) -> bytes:
    return message(1, iccid(device_id).encode()) + message(2, imei(device_id).encode())


def request_index(payload: bytes) -> int:
    """Field 1 (``index``) of a GetInterfaceRequest (0, no such interface, when unreadable)."""
    try:
        index = first(decode(payload), 1)
    except ValueError:
        return 0
    return index if isinstance(index, int) else 0
