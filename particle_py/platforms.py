"""Every Particle platform as data.

Code looks platforms up here and never branches on a platform's name: a new
platform is one more row. Pure stdlib on purpose: the simulator (which may run
under the system Python for umockdev) imports this table too.

Sources: particle-cli's device-constants 4.1.0/4.2.1 and keys-specs.js, Device
OS dct.h, and DfuSe layout strings seen on hardware (compat/SOURCES.md).
Layouts marked ASSUMED were not seen on real hardware; they follow the
platform's flash map.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

PARTICLE_VID = 0x2B04
CORE_VID = 0x1D50


@dataclass(frozen=True)
class DctSlot:
    """A region of the DCT (DFU alt 1) holding a key or a server-key blob."""
    address: int
    size: int
    alg: str                       # 'rsa' or 'ec'
    alt: int = 1
    address_offset: Optional[int] = None   # host TLV inside a server-key blob
    port_offset: Optional[int] = None      # u16 big-endian port inside a server-key blob


@dataclass(frozen=True)
class Region:
    """Where a kind of module lives and how large it may be."""
    address: int
    alt: int = 0
    max_size: Optional[int] = None
    grows_left: bool = False          # modules end at ``address`` instead of starting there (rtl872x)

    @property
    def window(self) -> tuple[int, int]:
        """[start, end) of the addresses a module in this region may occupy."""
        size = self.max_size or 0
        return (self.address - size, self.address) if self.grows_left else (self.address, self.address + size)


@dataclass(frozen=True)
class FormerUserPart:
    """An older app location that must be wiped when an app for newer Device OS is flashed
    (nRF52840: 128 KB apps at 0xD4000 before Device OS 3.1, particle-cli's
    "invalidate-128k-user-part")."""
    address: int
    size: int
    min_system_version: int


@dataclass(frozen=True)
class UserSlots:
    """Where one range of Device OS releases looks for the user application, from the system part
    version ``since`` on: the regions it tries, in order (the first holding an intact module for
    this platform whose dependencies are met runs; none: safe mode), and the region apps built
    for those releases are linked at. Sources in docs/doctor.md ("Where Device OS runs the app")."""
    since: int                          # system part 1 module version (3.1.0-rc.1 = 3102)
    tried: tuple[Region, ...]
    linked: Region


# Offset of the module prefix inside a module, after the MCU family's vector table.
MODULE_INFO_OFFSET = {"stm32f1xx": 0x10C, "stm32f2xx": 0x184, "nrf52840": 0x200, "rtl872x": 0}


@dataclass(frozen=True)
class Platform:
    name: str
    display_name: str
    platform_id: int
    generation: int
    mcu: str
    usb_ids: tuple[int, int]           # normal (application) mode
    dfu_ids: tuple[int, int]           # DFU bootloader
    protocols: tuple[str, ...]         # first one is the default
    dfu_layouts: tuple[str, ...]       # DfuSe iInterface strings, index = alt setting
    device_key: dict = field(default_factory=dict)   # protocol -> DctSlot
    server_key: dict = field(default_factory=dict)   # protocol -> DctSlot
    user_part: Optional[Region] = None
    system_parts: tuple[int, ...] = ()
    factory_reset: Optional[Region] = None
    bootloader: Optional[int] = None
    radio_stack: Optional[int] = None
    dfu_serial_is_device_id: bool = True
    control_out_needs_data_stage: bool = False
    public: bool = True
    former_user_part: Optional[FormerUserPart] = None
    headerless_app: bool = False       # firmware predating module headers is a whole user app (Core)
    # Where the old CLIs staged a bootloader for Device OS to apply at the next boot (with
    # OTA_FLAG_SLOT set to 0xA5): particle-cli 2.16.0 settings.js `otaRegion`.
    ota_region: Optional[Region] = None
    # Where Device OS looks for the app, per Device OS range (ascending ``since``); empty: always
    # ``user_part``.
    user_slots: tuple[UserSlots, ...] = ()

    @property
    def module_info_offset(self) -> int:
        return MODULE_INFO_OFFSET[self.mcu]

    @property
    def default_protocol(self) -> str:
        return self.protocols[0]

    @property
    def dfu_vid_pid(self) -> str:
        return "%04x:%04x" % self.dfu_ids


# --- DCT slot tables (keys-specs.js; identical for every gen >= 2 platform) ----------------
_GEN2_DEVICE_KEYS = {
    "tcp": DctSlot(34, 612, "rsa"),
    "udp": DctSlot(3106, 192, "ec"),
}
_GEN2_SERVER_KEYS = {
    "tcp": DctSlot(2082, 512, "rsa", address_offset=384, port_offset=450),
    "udp": DctSlot(3298, 320, "ec", address_offset=192, port_offset=258),
}
_UDP_DEVICE_KEYS = {"udp": _GEN2_DEVICE_KEYS["udp"]}
_UDP_SERVER_KEYS = {"udp": _GEN2_SERVER_KEYS["udp"]}
_TCP_DEVICE_KEYS = {"tcp": _GEN2_DEVICE_KEYS["tcp"]}
_TCP_SERVER_KEYS = {"tcp": _GEN2_SERVER_KEYS["tcp"]}

# The DCT byte that tells Device OS to apply the module staged in the OTA region (dct.h
# ota_update_flag; particle-cli's ota-flag-a5.bin).
OTA_FLAG_SLOT = DctSlot(1753, 1, "none")
OTA_FLAG_APPLY = 0xA5

# Electron's cloud transport byte (0xFF = platform default udp, 0x00 = tcp).
ELECTRON_TRANSPORT_SLOT = DctSlot(2977, 1, "none")

# --- DfuSe layouts as the bootloaders report them ---------------------------------------
_STM32F2_INTERNAL = "@Internal Flash   /0x08000000/03*016Ka,01*016Kg,01*064Kg,07*128Kg"
_STM32F2_DCT = "@DCT Flash   /0x00000000/01*016Kg"
_ELECTRON_DCT = "@DCT Flash /0x00000000/01*016Kg"
_CORE_INTERNAL = "@Internal Flash  /0x08000000/20*001Ka,108*001Kg"
_CORE_SPI = "@SPI Flash : SST25x/0x00000000/512*04Kg"
_NRF_INTERNAL = "@Internal Flash   /0x00000000/1*004Ka,47*004Kg,192*004Kg,4*004Kg,4*004Kg,8*004Ka"
_NRF_DCT = "@DCT Flash   /0x00000000/1*016Ke"          # readable + writable, NOT erasable
_NRF_EXTERNAL = "@External Flash   /0x80000000/1024*004Kg"
# ASSUMED: rtl872x 8 MiB flash in 4 KiB pages, the first 32 KiB (boot) read-only.
_RTL_INTERNAL = "@Internal Flash   /0x08000000/8*004Ka,2040*004Kg"
_RTL_DCT = "@DCT Flash   /0x00000000/1*016Ke"            # ASSUMED like Gen3: the CLI writes keys to alt 1

_GEN3_LAYOUTS = (_NRF_INTERNAL, _NRF_DCT, _NRF_EXTERNAL)
_RTL_LAYOUTS = (_RTL_INTERNAL, _RTL_DCT)

_GEN2_USER_128K = Region(0x080A0000, 0, 131072)
_GEN3_USER_256K = Region(0x000B4000, 0, 262144)
_GEN3_USER_128K = Region(0x000D4000, 0, 131072)
# rtl872x (P2 / Photon 2, M-SoM, Tracker-M), from Device OS's source (github.com/particle-iot/device-os,
# v6.2.0; docs/doctor.md "Where Device OS runs the app"): hal/src/rtl872x/ota_module_bounds.c and
# build/arm/linker/rtl872x/platform_flash.ld. Module info sits at offset 0 of system and user parts
# (platform/MCU/rtl872x/src/flash_mal.c FLASH_ModuleInfo: after a 32-byte Realtek image header
# only when the module starts with one, as the bootloader at 0x08004000 and the MBR do).
# System part 1: 0x08060000, up to 1.5 MB (2 MB in 5.x). The user part "grows left": it ends at
# 0x08600000 (MODULE_BOUNDS_FLAG_FIXED_END_ADDRESS), up to 1.5 MB (2 MB in 5.x), and Device OS
# takes its start from the dynamic-location extension that opens its suffix (core_hal.c).
_RTL_USER = Region(0x08600000, 0, 1572864, grows_left=True)
_RTL_SYSTEM_PART1 = 0x08060000
# nRF52840 Device OS before 3.1 runs the 128 KB app at 0xD4000 (ota_module_bounds.c at v3.0.0:
# module_user); 3.1.0-rc.1 on tries that slot first ("compat", index 1) and then the 256 KB part at
# 0xB4000 (index 2): hal/src/nRF52840/user_hal.cpp hal_user_module_get_descriptor().
_NRF_USER_SLOTS_128K = (UserSlots(0, (_GEN3_USER_128K,), _GEN3_USER_128K),)
_NRF_USER_SLOTS = _NRF_USER_SLOTS_128K + (UserSlots(3102, (_GEN3_USER_128K, _GEN3_USER_256K), _GEN3_USER_256K),)
_NRF_FORMER_USER_PART = FormerUserPart(0x000D4000, 4096, 3103)
_GEN2_OTA = Region(0x080C0000, 0, 131072)
_GEN3_OTA = Region(0x80289000, 2, 1024 * 1024)     # external flash, at the alt's 0x80000000 base


def _gen3(name, display, pid, *, user=_GEN3_USER_256K, factory=Region(0x00200000, 2), public=True,
          user_slots=_NRF_USER_SLOTS):
    return Platform(
        name, display, pid, 3, "nrf52840", (PARTICLE_VID, 0xC000 + pid), (PARTICLE_VID, 0xD000 + pid),
        ("udp",), _GEN3_LAYOUTS, _UDP_DEVICE_KEYS, _UDP_SERVER_KEYS, user_part=user,
        system_parts=(0x00030000,), factory_reset=factory, bootloader=0x000F4000, radio_stack=0x00001000,
        public=public, former_user_part=_NRF_FORMER_USER_PART, ota_region=_GEN3_OTA, user_slots=user_slots)


def _rtl(name, display, pid, gen=4):
    # The bootloader (0x08004000, 64 KB, its prefix after the 32-byte Realtek header) and the KM0
    # parts are left out: particle-py neither writes nor checks them on rtl872x.
    return Platform(
        name, display, pid, gen, "rtl872x", (PARTICLE_VID, 0xC000 + pid), (PARTICLE_VID, 0xD000 + pid),
        ("udp",), _RTL_LAYOUTS, _UDP_DEVICE_KEYS, _UDP_SERVER_KEYS, user_part=_RTL_USER,
        system_parts=(_RTL_SYSTEM_PART1,), control_out_needs_data_stage=True)


PLATFORMS: tuple[Platform, ...] = (
    Platform("core", "Core", 0, 1, "stm32f1xx", (CORE_VID, 0x607D), (CORE_VID, 0x607F), ("tcp",),
             (_CORE_INTERNAL, _CORE_SPI),
             {"tcp": DctSlot(0x2000, 1024, "rsa")},
             {"tcp": DctSlot(0x1000, 2048, "rsa", address_offset=384, port_offset=450)},
             user_part=Region(0x08005000, 0, 108 * 1024), factory_reset=Region(0x00020000, 1),
             dfu_serial_is_device_id=False, headerless_app=True),
    Platform("photon", "Photon", 6, 2, "stm32f2xx", (PARTICLE_VID, 0xC006), (PARTICLE_VID, 0xD006), ("tcp",),
             (_STM32F2_INTERNAL, _STM32F2_DCT), _TCP_DEVICE_KEYS, _TCP_SERVER_KEYS,
             user_part=_GEN2_USER_128K, system_parts=(0x08020000, 0x08060000),
             factory_reset=Region(0x080E0000, 0, 131072), bootloader=0x08000000, ota_region=_GEN2_OTA),
    Platform("p1", "P1", 8, 2, "stm32f2xx", (PARTICLE_VID, 0xC008), (PARTICLE_VID, 0xD008), ("tcp",),
             (_STM32F2_INTERNAL, _STM32F2_DCT), _TCP_DEVICE_KEYS, _TCP_SERVER_KEYS,
             user_part=_GEN2_USER_128K, system_parts=(0x08020000, 0x08060000),
             factory_reset=Region(0x080E0000, 0, 131072), bootloader=0x08000000, ota_region=_GEN2_OTA),
    # The Electron speaks UDP by default; the old CLI let it be switched to TCP (RSA keys).
    Platform("electron", "Electron", 10, 2, "stm32f2xx", (PARTICLE_VID, 0xC00A), (PARTICLE_VID, 0xD00A),
             ("udp", "tcp"), (_STM32F2_INTERNAL, _ELECTRON_DCT), _GEN2_DEVICE_KEYS, _GEN2_SERVER_KEYS,
             user_part=Region(0x08080000, 0, 131072), system_parts=(0x08020000, 0x08040000, 0x08060000),
             factory_reset=Region(0x080A0000, 0, 131072), bootloader=0x08000000, ota_region=_GEN2_OTA),
    _gen3("argon", "Argon", 12),
    _gen3("boron", "Boron", 13),
    _gen3("xenon", "Xenon", 14, user=_GEN3_USER_128K, user_slots=_NRF_USER_SLOTS_128K),
    _gen3("esomx", "E-SoM-X", 15),
    _gen3("asom", "A-SoM", 22, user=_GEN3_USER_128K, public=False, user_slots=_NRF_USER_SLOTS_128K),
    _gen3("bsom", "B-SoM", 23),
    _gen3("xsom", "X-SoM", 24, user=_GEN3_USER_128K, public=False, user_slots=_NRF_USER_SLOTS_128K),
    _gen3("b5som", "B5-SoM", 25, factory=Region(0x00600000, 2)),
    _gen3("tracker", "Asset Tracker / Monitor One", 26, factory=Region(0x00600000, 2)),
    _rtl("trackerm", "Tracker-M", 28, gen=3),
    _rtl("p2", "Photon 2 / P2", 32),
    _rtl("msom", "M-SoM", 35),
    _gen3("electron2", "Electron 2", 37),
)

_BY_NAME = {p.name: p for p in PLATFORMS}
_BY_ID = {p.platform_id: p for p in PLATFORMS}
_BY_USB = {ids: p for p in PLATFORMS for ids in (p.usb_ids, p.dfu_ids)}
ALIASES = {"photon2": "p2", "e-som-x": "esomx", "tracker-m": "trackerm", "monitorone": "tracker"}


def user_slots(platform: Platform, system_version: Optional[int]) -> UserSlots:
    """Where the Device OS whose system part 1 has module version ``system_version`` looks for
    the app (None, unknown: the newest releases' slots)."""
    rows = platform.user_slots or (UserSlots(0, (platform.user_part,), platform.user_part),)
    found = rows[-1]
    if system_version is not None:
        for row in rows:
            if row.since <= system_version:
                found = row
    return found


def by_name(name: str) -> Optional[Platform]:
    key = name.strip().lower()
    return _BY_NAME.get(ALIASES.get(key, key))


def by_id(platform_id: int) -> Optional[Platform]:
    return _BY_ID.get(platform_id)


def by_usb(vid: int, pid: int) -> Optional[Platform]:
    return _BY_USB.get((vid, pid))


def is_dfu_ids(vid: int, pid: int) -> bool:
    p = by_usb(vid, pid)
    return p is not None and p.dfu_ids == (vid, pid)


def names() -> list[str]:
    return [p.name for p in PLATFORMS]


# Which networks each platform has (particle-cli's device-constants "features"): `serial wifi`
# needs Wi-Fi, `identify` reads IMEI/ICCID from cellular ones.
NETWORKS = {
    "core": ("wifi",), "photon": ("wifi",), "p1": ("wifi",), "argon": ("wifi",), "p2": ("wifi",),
    "electron": ("cellular",), "boron": ("cellular",), "esomx": ("cellular",), "bsom": ("cellular",),
    "b5som": ("cellular",), "tracker": ("cellular",), "trackerm": ("cellular",), "electron2": ("cellular",),
    "msom": ("wifi", "cellular"),
}


def networks(platform: Platform) -> tuple[str, ...]:
    return NETWORKS.get(platform.name, ())
