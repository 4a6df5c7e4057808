"""Device profiles: what a simulated device is, as data.

A profile string is ``name`` or ``name:key=value:key=value`` (``,`` also separates options;
a comma-split list hands the options back to the profile before them, see state.py). Names:

- ``photon``, ``stm32``, ``dfu11``, ``dfu11nt``, ``runtime``: the devices of the recorded
  dfu-util transcripts (compat/dfu-util/scenarios.md header), reproduced exactly: serial
  ``00000000010C``, bwPollTimeout 1 ms while busy, layout letters not enforced, leave answered
  with dfuMANIFEST; the photon comes back in normal mode after leaving, whatever its flash holds.
- any platform name of ``particle_py.platforms`` (``p1``, ``electron``, ``core``, ``argon``,
  ``boron``, ``p2``, ``electron2``, ``sulu``, ...; every platform of the pinned device-constants
  with a DFU mode): that platform's DFU bootloader, realistic: a 24-hex device id as
  serial, poll timeouts from the flash-time model, layout letters enforced, its bootloader
  version's descriptor values and leave habit (BOOTLOADERS), and a normal-mode successor
  after leaving DFU.
- ``apple-bt``, ``foxconn-bt``, ``broadcom-bt``: Bluetooth controllers with a DFU run-time
  interface (no strings, DFU 1.0 functional descriptor), the foreign devices that get in the way.
- ``<platform>-normal``: the same device running Device OS (2b04:c0xx): answers the Particle
  vendor control protocol; DFU_MODE makes it re-enumerate as the DFU-mode profile.

Options: ``id=<hex>`` (device id / serial), ``vid=<hex>``/``pid=<hex>`` (another model of the
same kind of device), ``leave=manifest|dnidle|reset``, ``poll=<ms>|model``,
``bl=<name>`` (a bootloader version of BOOTLOADERS below: descriptor values, serial, alt names,
leave habit; default the family's most common current one), ``protect=0|1``, ``fw=<version>`` (normal mode; default: what the flash holds), ``boot=check|normal`` (after leaving DFU a
board with no valid Device OS stays in DFU mode, as the bootloader does; ``normal`` skips the
check), ``real=1`` (the platform behaviour for
``photon``), and any fault knob (``FAKE_LEAVE_STATE=5``) for this device only.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field, replace
from typing import Optional

from .. import platforms
from . import descriptors as d
from . import knobs as knobs_mod

# Which flash technology each alt of a platform's DFU bootloader sits on (by MCU).
ALT_TIMINGS = {
    "stm32f2xx": ("stm32f2", "stm32f2"),
    "stm32f1xx": ("stm32f1", "spinor"),
    "nrf52840": ("nrf52840", "nrf52840", "spinor"),
    "rtl872x": ("spinor", "spinor"),
}


@dataclass(frozen=True)
class Bootloader:
    """What changed between versions of a Particle DFU bootloader, as a device shows it."""
    name: str
    bcd_device: int                 # device descriptor bcdDevice (dfu-util -l "ver=")
    serial: str                     # "id" (the device id), "short" (12 hex of it, upper case) or a fixed string
    leave: str                      # the answer to a DfuSe leave: reset (at once), dnidle, manifest
    alt_names: Optional[tuple] = None   # None: the platform's (particle_py/platforms.py)
    source: str = ""


# Bootloader versions by MCU family: data, chosen per device with the profile option bl=<name>.
# Sources are users' `dfu-util -l` listings and Particle's tools; ASSUMED marks what no
# listing shows.
BOOTLOADERS = {
    "stm32f2xx": {          # Photon, P1, Electron
        "2015": Bootloader(
            "2015", 0x0200, "00000000010C", "reset",
            source="2015-2016 listings (compat/forum transcripts): ver=0200, serial \"00000000010C\" on every "
                   "board; after :leave the board resets at once, so dfu-util's last GETSTATUS fails: "
                   "'Error during download get_status' (device-os#599)"),
        "current": Bootloader(
            "current", 0x0250, "id", "dnidle",
            source="listings from 2017 on (public repositories' notes): ver=0250, serial = the device id; "
                   "the leave is answered with dfuDNLOAD-IDLE 'to please dfu-util' (particle-usb's dfu.js "
                   "and its fake device), then the board resets"),
    },
    "stm32f1xx": {          # Core
        "core": Bootloader("core", 0x0200, "short", "reset",
                           source="Core listings: ver=0200, a 12-digit serial that is not the device id"),
    },
    "nrf52840": {           # Gen3
        "current": Bootloader(
            "current", 0x0250, "id", "manifest",
            source="a user's Argon listing: ver=0250; alt names as particle-usb's fake Boron shows them"),
        "alt-2": Bootloader(
            "alt-2", 0x0250, "id", "manifest",
            ("@Internal Flash   /0x00000000/1*004Ka,47*004Kg,192*004Kg,4*004Kg,4*004Ka,8*004Kg",
             "@DCT Flash   /0x00000000/1*016Ke", "@External Flash   /0x80000000/1024*004Kg"),
            source="the internal-flash name of a user's Argon listing (a flashing script's comment), which "
                   "marks other bootloader pages read-only; which bootloader version shows it is unknown"),
    },
    "rtl872x": {            # P2, Photon 2, Tracker M, M-SoM, Sulu
        "current": Bootloader("current", 0x0200, "id", "manifest",
                              source="ASSUMED: no P2 listing seen; bcdDevice as the first Particle bootloaders"),
    },
}
# The most common bootloader today for each family (what a device has unless a scenario chooses).
DEFAULT_BOOTLOADER = {"stm32f2xx": "current", "stm32f1xx": "core", "nrf52840": "current", "rtl872x": "current"}
# Whether an ERASE command also moves the DfuSe address pointer to the page it erased. ST's DFU
# library does (usbd_dfu_core.c: "Pointer = MAL_Buffer[1] ..." before MAL_Erase; the Gen2
# bootloaders and the recorded STM32 devices); Particle's own Gen3/P2 bootloaders erase at the
# command's address and leave the pointer (bootloader/src/*/usbd_dfu.cpp). Later DNLOAD and
# UPLOAD blocks are placed from the pointer, so a host that erases between blocks without a new
# SET_ADDRESS writes somewhere else on one family than on the other.
ERASE_KEEPS_POINTER_MCUS = frozenset({"nrf52840", "rtl872x"})


def erase_moves_pointer(profile: "Profile") -> bool:
    if not profile.platform:
        return True                   # the recorded STM32 devices: ST's library
    return platforms.by_name(profile.platform).mcu not in ERASE_KEEPS_POINTER_MCUS


def bootloader_for(p: "platforms.Platform", name: Optional[str] = None) -> Bootloader:
    family = BOOTLOADERS.get(p.mcu)
    if family is None:
        return Bootloader("generic", 0x0200, "id", "manifest")
    name = name or DEFAULT_BOOTLOADER[p.mcu]
    if name not in family:
        raise ValueError(f"bl={name!r}: the {p.display_name} bootloaders modelled are {', '.join(family)}")
    return family[name]

# DFU functional descriptor of Particle bootloaders (particle-usb fake-usb.js: 09 21 0b ff00 0010 1a01)
PARTICLE_FUNCTIONAL = d.Functional(0x0B, 255, 4096, 0x011A)
CORE_FUNCTIONAL = d.Functional(0x0B, 255, 1024, 0x011A)       # ASSUMED: Core bootloader used 1 KiB
DEFAULT_FIRMWARE_VERSION = {1: "1.4.4", 2: "2.3.1", 3: "4.2.0", 4: "5.8.0"}

NORMAL_SUFFIX = "-normal"


@dataclass(frozen=True)
class Profile:
    name: str                         # canonical profile name (the part before ':')
    kind: str                         # 'dfuse', 'dfu11', 'runtime' or 'normal'
    vid: int
    pid: int
    bcd_device: int
    manufacturer: Optional[str]
    product: Optional[str]
    serial: Optional[str]
    alt_names: tuple[str, ...] = ()
    alt_timings: tuple[str, ...] = ()
    functional: Optional[d.Functional] = None
    protect: bool = True
    poll_ms: Optional[int] = None     # fixed bwPollTimeout while busy; None = from the time model
    leave: str = "manifest"
    after_leave: Optional[str] = None     # profile spec that appears after leaving DFU; None = gone
    after_detach: Optional[str] = None    # run-time devices: the DFU-mode profile after DETACH+reset
    after_unprotect: Optional[str] = None
    dfu_profile: Optional[str] = None     # normal mode: the DFU-mode profile DFU_MODE switches to
    image_size: int = 0                   # plain DFU: bytes an UPLOAD returns on a fresh device
    boot: str = "check"                   # leaving DFU: "check" the flash (sim/boot.py) or "normal"
    runtime_interface: int = 1            # run-time devices: the DFU interface's number
    runtime_name: Optional[str] = "Run-Time DFU"
    app_class: int = 0xFF                 # run-time devices: class of the interfaces before it
    app_name: Optional[str] = "Application"
    platform: Optional[str] = None
    device_id: Optional[str] = None
    firmware_version: Optional[str] = None
    bootloader: Optional[str] = None      # bl= option: a BOOTLOADERS version (None: the default)
    knobs: dict = field(default_factory=dict)
    spec: str = ""                        # the string this was built from

    @property
    def is_dfu_mode(self) -> bool:
        return self.kind in ("dfuse", "dfu11")

    def description(self, knobs: Optional[dict] = None) -> d.DeviceDescription:
        knobs = dict(knobs or {}, **self.knobs)
        functional = self.functional
        if functional is not None and "TSIZE" in knobs:
            functional = replace(functional, transfer_size=knobs["TSIZE"])
        if self.kind in ("dfuse", "dfu11"):
            names = [knobs.get(f"ALT{n}_NAME", name) for n, name in enumerate(self.alt_names)]
            intfs = d.dfu_alt_settings(0, names, functional)
        elif self.kind == "runtime":
            apps = tuple(d.AltSetting(n, 0, self.app_class, 0, 0, self.app_name)
                         for n in range(self.runtime_interface))
            intfs = apps + d.dfu_alt_settings(self.runtime_interface, [self.runtime_name], functional,
                                              d.DFU_PROTOCOL_RUNTIME)
        else:   # normal mode: Particle's vendor-specific control interface
            intfs = (d.AltSetting(0, 0, 0xFF, 0, 0, None),)
        return d.DeviceDescription(self.vid, self.pid, self.bcd_device, self.manufacturer, self.product,
                                   knobs.get("SERIAL", self.serial), intfs)


def _scenario_profiles() -> dict:
    """The devices of compat/dfu-util/scenarios.md, exactly as its header describes them."""
    photon = platforms.by_name("photon")
    stm32_alts = ("@Internal Flash  /0x08000000/04*016Kg,01*064Kg,07*128Kg",
                  "@Option Bytes  /0x1FFFC000/01*016 e",
                  "@OTP Memory /0x1FFF7800/01*512 e,01*016 e",
                  "@Device Feature/0xFFFF0000/01*004 e")
    dfu11 = Profile("dfu11", "dfu11", 0x1209, 0x0001, 0x0100, "pid.codes", "DFU 1.1 test device", "ABC123",
                    ("Flash",), ("generic",), d.Functional(0x07, 255, 1024, 0x0110), protect=False,
                    poll_ms=1, image_size=3000)
    return {
        "photon": Profile("photon", "dfuse", *photon.dfu_ids, 0x0200, "Particle", "Photon DFU Mode",
                          "00000000010C", photon.dfu_layouts, ALT_TIMINGS[photon.mcu], PARTICLE_FUNCTIONAL,
                          protect=False, poll_ms=1, leave="manifest", after_leave="photon-normal",
                          platform="photon", device_id="00000000010c", boot="normal"),
        "stm32": Profile("stm32", "dfuse", 0x0483, 0xDF11, 0x2200, "STMicroelectronics", "STM32  BOOTLOADER",
                         "205F36825242", stm32_alts, ("stm32f2",) * 4, d.Functional(0x0B, 255, 2048, 0x011A),
                         protect=False, poll_ms=1, leave="manifest", after_unprotect="stm32"),
        "dfu11": dfu11,
        "dfu11nt": replace(dfu11, name="dfu11nt", functional=d.Functional(0x03, 255, 1024, 0x0110)),
        "runtime": Profile("runtime", "runtime", 0x1209, 0x0002, 0x0100, "pid.codes", "DFU run-time test device",
                           "ABC123", functional=d.Functional(0x07, 1000, 1024, 0x0110), poll_ms=1,
                           after_detach="dfu11"),
    }


SCENARIO_PROFILES = _scenario_profiles()


def _foreign_profiles() -> dict:
    """Non-Particle devices with a DFU run-time interface that users meet in dfu-util -l
    (compat/forum 024, 038, 045): Bluetooth controllers. They ignore DETACH."""
    def bt(name, vid, pid, bcd, manufacturer, product):
        return Profile(name, "runtime", vid, pid, bcd, manufacturer, product, None,
                       functional=d.Functional(0x07, 5000, 64, None), poll_ms=1, runtime_interface=3,
                       runtime_name=None, app_class=0xE0, app_name=None)
    return {
        "apple-bt": bt("apple-bt", 0x05AC, 0x8289, 0x0099, "Apple Inc.", "Bluetooth USB Host Controller"),
        "foxconn-bt": bt("foxconn-bt", 0x0489, 0xE07A, 0x0112, None, "BCM20702A0"),
        "broadcom-bt": bt("broadcom-bt", 0x0A5C, 0x217F, 0x0360, "Broadcom Corp", "BCM2045B (BDC-2.1)"),
    }


FOREIGN_PROFILES = _foreign_profiles()


def default_device_id(platform_name: str, index: int) -> str:
    """A stable 24-hex id per (platform, attach position), so runs are reproducible."""
    return hashlib.sha256(f"particle-py-sim:{platform_name}:{index}".encode()).hexdigest()[:24]


def _platform_profile(p: platforms.Platform, normal: bool, device_id: str,
                      bootloader: Optional[str] = None) -> Profile:
    gen = p.generation
    bl = bootloader_for(p, bootloader)
    keep = f":bl={bootloader}" if bootloader else ""          # the board keeps its bootloader
    if normal:
        return Profile(p.name + NORMAL_SUFFIX, "normal", *p.usb_ids, 0x0250, "Particle", p.display_name,
                       device_id, platform=p.name, device_id=device_id, dfu_profile=p.name + ":real=1" + keep,
                       bootloader=bootloader)
    functional = CORE_FUNCTIONAL if gen == 1 else PARTICLE_FUNCTIONAL
    if bl.serial == "id":
        serial = device_id if p.dfu_serial_is_device_id else device_id[-12:].upper()
    elif bl.serial == "short":
        serial = device_id[-12:].upper()
    else:
        serial = bl.serial
    manufacturer = "Spark Devices" if p.dfu_ids[0] == platforms.CORE_VID else "Particle"
    alt_names = bl.alt_names or p.dfu_layouts
    return Profile(p.name, "dfuse", *p.dfu_ids, bl.bcd_device, manufacturer, f"{p.display_name} DFU Mode", serial,
                   alt_names, ALT_TIMINGS.get(p.mcu, ("generic",) * len(alt_names)), functional,
                   protect=True, poll_ms=None, leave=bl.leave,
                   after_leave=p.name + NORMAL_SUFFIX + keep, platform=p.name, device_id=device_id,
                   bootloader=bootloader)


def _parse_options(text: str) -> dict:
    opts = {}
    for item in filter(None, (x.strip() for x in re.split(r"[:,]", text))):
        if "=" not in item:
            raise ValueError(f"profile option {item!r} is not key=value")
        k, v = item.split("=", 1)
        opts[k.strip()] = v.strip()
    return opts


def build(spec: str, index: int = 0) -> Profile:
    """The Profile for a profile string; ``index`` is the attach position (for default ids)."""
    name, _, opt_text = spec.partition(":")
    name = name.strip().lower()
    opts = _parse_options(opt_text)
    real = opts.pop("real", "0") not in ("0", "", "false")
    normal = name.endswith(NORMAL_SUFFIX)
    base_name = name[: -len(NORMAL_SUFFIX)] if normal else name
    platform = platforms.by_name(base_name)
    device_id = opts.pop("id", None)
    bootloader = opts.pop("bl", None)
    if device_id is not None:
        device_id = device_id.lower()
        if not re.fullmatch(r"[0-9a-f]{1,24}", device_id):
            raise ValueError(f"id={device_id!r}: a device id is up to 24 hex digits")
    if name in FOREIGN_PROFILES:
        prof = FOREIGN_PROFILES[name]
    elif name in SCENARIO_PROFILES and not real:
        prof = SCENARIO_PROFILES[name]
        if device_id:
            prof = replace(prof, serial=device_id.upper() if prof.platform is None else device_id,
                           device_id=device_id)
    elif platform is not None:
        prof = _platform_profile(platform, normal, device_id or default_device_id(platform.name, index), bootloader)
    else:
        known = sorted(set(SCENARIO_PROFILES) | set(FOREIGN_PROFILES) | set(platforms.names()))
        raise ValueError(f"unknown simulator profile {name!r} (known: {', '.join(known)}, <platform>-normal)")
    changes = {}
    if "leave" in opts:
        leave = opts.pop("leave")
        if leave not in ("manifest", "dnidle", "reset"):
            raise ValueError(f"leave={leave!r}: expected manifest, dnidle or reset")
        changes["leave"] = leave
        # the habit belongs to the board's bootloader: it comes back with it after a mode switch
        for link in ("after_leave", "dfu_profile"):
            if getattr(prof, link) and prof.platform is not None:
                changes[link] = getattr(prof, link) + f":leave={leave}"
    if "poll" in opts:
        poll = opts.pop("poll")
        changes["poll_ms"] = None if poll == "model" else int(poll, 0)
    if "protect" in opts:
        changes["protect"] = opts.pop("protect") not in ("0", "false", "")
    if "fw" in opts:
        changes["firmware_version"] = opts.pop("fw")
    for id_field in ("vid", "pid"):           # another model of the same kind of device
        if id_field in opts:
            changes[id_field] = int(opts.pop(id_field), 16)
    if "boot" in opts:
        boot = opts.pop("boot")
        if boot not in ("check", "normal"):
            raise ValueError(f"boot={boot!r}: expected check or normal")
        changes["boot"] = boot
    device_knobs = knobs_mod.normalize(opts)           # whatever is left must be fault knobs
    if device_knobs:
        changes["knobs"] = device_knobs
    return replace(prof, spec=spec, **changes)


def successor_spec(prof: Profile, target: Optional[str]) -> Optional[str]:
    """Profile string for the device that appears after a re-enumeration, keeping its id."""
    if target is None:
        return None
    name, _, opt_text = target.partition(":")
    opts = [o for o in re.split(r"[:,]", opt_text) if o and not o.startswith("id=")]
    if prof.device_id and prof.platform is not None:
        opts.append(f"id={prof.device_id}")
    return ":".join([name] + opts)


def names() -> list:
    """Every profile name create_state accepts (options aside)."""
    plats = platforms.names()
    return (list(SCENARIO_PROFILES) + plats + [p + NORMAL_SUFFIX for p in plats] + list(FOREIGN_PROFILES))
