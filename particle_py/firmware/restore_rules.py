"""The restore rules Particle's web Device Restore applies, as data, keyed by platform id (the
platform table is generated elsewhere; these facts stay here).

Sources: Device OS platform/MCU/nRF52840/inc/dct.h (``setup_done`` at DCT offset 8134) and
system/src/control/config.cpp before 4.0 (setDeviceSetupDone writes 0x01 there; 4.x hard-codes
"done"); the docs' Device Restore USB page (BRN402/B402 through 1.5.2, the Tracker's NCP);
@particle/device-constants (rtl872x ``bootloader index 1`` encrypted) and particle-cli 3.51
src/lib/flash-helper.js ``filterModulesToFlash``; Tinker's own dependency (M-SoM Tinker 6.3.4
needs Device OS 6.3.5, particle-cli #910's note).

``ops`` read the table through the functions below; nothing here touches a device.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from particle_py.module_layout import ModuleFunction


def version_number(version: str) -> int:
    """'1.5.2' -> 1502, '6.3.5-rc.1' -> 6305, as module versions count (0: not a version)."""
    parts = (version.split("-")[0].split("+")[0].split(".") + ["0", "0"])[:3]
    try:
        major, minor, patch = (int(p) for p in parts)
    except ValueError:
        return 0
    return major * 1000 + minor * 100 + patch


# --- Gen3 below Device OS 4: the setup-done flag ---------------------------------------------------
@dataclass(frozen=True)
class FlagRule:
    platform_ids: frozenset
    below: int               # Device OS module version from which the flag no longer matters
    alt: int
    address: int
    value: bytes


# nRF52840 platforms: argon, boron, bsom, b5som, tracker, electron2. Without the flag a Device OS
# below 4.0 starts in listening mode (blinking blue) after the restore.
SETUP_DONE = FlagRule(frozenset({12, 13, 23, 25, 26, 37}), 4000, 1, 8134, b"\x01")


def setup_done_flag(platform, version: str) -> Optional[FlagRule]:
    """The flag to set after restoring ``version`` on this platform, or None."""
    if platform.platform_id in SETUP_DONE.platform_ids and 0 < version_number(version) < SETUP_DONE.below:
        return SETUP_DONE
    return None


# --- downgrades that must pass through a release ----------------------------------------------------
@dataclass(frozen=True)
class SteppingStone:
    platform_ids: frozenset
    from_at_least: int       # running this or newer
    to_at_most: int          # going to this or older
    through: str             # must install this first
    why: str


STEPPING_STONES = (
    # Boron (BRN402) and B-SoM (B402) with the SARA-R410M: 1.5.2 brings the modem settings 2.x
    # left behind back to what 1.5.1 and older expect; skipping it leaves the modem unreachable.
    SteppingStone(frozenset({13, 23}), 2000, 1501, "1.5.2",
                  "a BRN402/B402 going from 2.x to 1.5.1 or older must install 1.5.2 first"),
)


def route(platform, current: Optional[str], target: str) -> list[tuple[str, str]]:
    """The releases to install before ``target``, each with why: [] when it can go directly."""
    if not current:
        return []
    now, goal = version_number(current), version_number(target)
    out = []
    for stone in STEPPING_STONES:
        if platform.platform_id in stone.platform_ids and now >= stone.from_at_least and 0 < goal <= stone.to_at_most:
            out.append((stone.through, stone.why))
    return out


# --- modules a restore never writes, or writes only on request -------------------------------------
RTL872X_PLATFORM_IDS = frozenset({28, 32, 35, 38})     # trackerm, p2, msom, sulu
NCP_ON_REQUEST_PLATFORM_IDS = frozenset({26})          # tracker: its ESP32 NCP


def never_written(platform, function: int, index: int) -> Optional[str]:
    """Why a module is left out of every restore (None: it may be written)."""
    if platform.platform_id in RTL872X_PLATFORM_IDS and function == ModuleFunction.BOOTLOADER and index == 1:
        return ("the rtl872x prebootloader part 1 is encrypted on the device and is never written over USB "
                "(a broken one needs the Particle Debugger)")
    return None


def needs_request(platform, function: int) -> Optional[str]:
    """Why a module is written only when asked for (None: written with the rest)."""
    if platform.platform_id in NCP_ON_REQUEST_PLATFORM_IDS and function == ModuleFunction.NCP_FIRMWARE:
        return "the Tracker's NCP (ESP32) is updated only on request"
    return None


# --- an app built for a newer Device OS than the device has ------------------------------------------
# (platform id, Tinker version) -> the Device OS that Tinker needs
TINKER_NEEDS = {
    (35, "6.3.4"): "6.3.5",          # M-SoM: Tinker 6.3.4 depends on system part 6.3.5
}


def device_os_for(module_version: int) -> Optional[str]:
    """The Device OS release a system part module version is (3.0.0 on: major*1000 + minor*100 +
    patch, 6305 = 6.3.5); None for the older numbering, which only the release table knows."""
    if module_version < 3000:
        return None
    return f"{module_version // 1000}.{module_version // 100 % 10}.{module_version % 100}"


def app_needs(platform, app_version: str, device_os: str) -> Optional[str]:
    """The Device OS to bring along before this Tinker, when the device's is older (None: fine).
    An app whose dependency is not met sends the device to safe mode (breathing magenta)."""
    need = TINKER_NEEDS.get((platform.platform_id, app_version))
    if need and version_number(device_os) < version_number(need):
        return need
    return None
