"""What to tell a user when USB access fails: the cause and the fix, per system.

Pure text; front ends print it (through ParticlePyError hints). Sources: particle-cli's
permission prompt (particle-cli.md 8.4; our rules file grants uaccess instead of its
MODE="0666"), Zadig's WinUSB steps, users' reports of
foreign DFU devices in the way (compat/forum 024, 038, 045).
"""
from __future__ import annotations

import sys
from typing import Optional

UDEV_RULES_PATH = "/etc/udev/rules.d/50-particle.rules"
# The gist of particle_py/data/50-particle.rules (which `particle usb configure` installs):
# access for the user at the computer (uaccess), never a world-writable device node.
UDEV_RULE_EXAMPLE = ('SUBSYSTEMS=="usb", ATTRS{idVendor}=="2b04", ATTRS{idProduct}=="[cd]0??", '
                     'TAG+="uaccess", GROUP="plugdev", MODE="0660"')

# Non-Particle devices that show up as DFU devices and confuse "which device?" questions.
FOREIGN_DFU_DEVICES = (
    (0x0489, 0xE07A, "a Broadcom/Foxconn Bluetooth adapter"),
    (0x0A5C, 0x217F, "a Broadcom Bluetooth adapter"),
    (0x0489, 0xE00F, "a Foxconn Bluetooth adapter"),
    (0x05AC, None, "an Apple device (keyboard, trackpad or Bluetooth controller)"),
)

# libusb error codes
ERROR_ACCESS = -3
ERROR_NOT_FOUND = -5
ERROR_BUSY = -6
ERROR_NOT_SUPPORTED = -12


def linux_permission_hint() -> str:
    return (
        "You are missing the permissions to access USB devices without root.\n"
        "Run `particle usb configure`: it installs the udev rules file shipped with particle-py as\n"
        f"{UDEV_RULES_PATH}, giving the user logged in at this computer access to Particle\n"
        f"devices (rules like: {UDEV_RULE_EXAMPLE}).\n"
        "Then: sudo udevadm control --reload-rules && sudo udevadm trigger\n"
        "and physically unplug and reconnect your Particle devices and try again\n"
        "(over ssh, also add your user to the plugdev group: sudo usermod -aG plugdev $USER)."
    )


def windows_driver_hint(vid: Optional[int] = None, pid: Optional[int] = None) -> str:
    which = f" {vid:04x}:{pid:04x}" if vid is not None and pid is not None else ""
    return (
        f"Windows has no WinUSB driver bound to the device{which}, so libusb cannot open it.\n"
        "Install the WinUSB driver for it: run Zadig (https://zadig.akeo.ie), choose\n"
        "Options > List All Devices, pick the Particle device (in DFU mode: the one named\n"
        "\"... DFU Mode\"), select WinUSB and press Replace Driver / Install Driver.\n"
        "Particle's Windows CLI installer also installs these drivers. Then unplug and\n"
        "reconnect the device and try again."
    )


def macos_hint() -> str:
    return ("Another program may hold the device (another particle or dfu-util, a serial monitor).\n"
            "Close it, unplug and reconnect the device, and try again.")


def foreign_device(vid: int, pid: int) -> Optional[str]:
    """A description of a known non-Particle DFU device, or None."""
    for f_vid, f_pid, what in FOREIGN_DFU_DEVICES:
        if vid == f_vid and (f_pid is None or pid == f_pid):
            return what
    return None


def foreign_dfu_device_hint(vid: int, pid: int) -> Optional[str]:
    what = foreign_device(vid, pid)
    if what is None:
        return None
    return (f"The DFU device {vid:04x}:{pid:04x} is {what}, not a Particle device.\n"
            "Name the Particle device explicitly (dfu-util -d 2b04:d006, or the device id),\n"
            "or disable/disconnect the other device while flashing.")


def no_backend_hint() -> str:
    if sys.platform.startswith("linux"):
        fix = ("install libusb 1.0: sudo apt-get install libusb-1.0-0 (Debian/Ubuntu), "
               "sudo dnf install libusb1 (Fedora), or reinstall particle-py so the "
               "libusb-package wheel brings its own copy")
    elif sys.platform == "darwin":
        fix = "reinstall particle-py (pip install --force-reinstall libusb-package) or brew install libusb"
    else:
        fix = "reinstall particle-py (pip install --force-reinstall libusb-package), which ships libusb for Windows"
    return f"No libusb library was found. To fix it, {fix}."


def hint_for_error(code: Optional[int], vid: Optional[int] = None, pid: Optional[int] = None,
                   platform: Optional[str] = None) -> Optional[str]:
    """The fix for a libusb error code on this system, or None when there is nothing to add."""
    platform = platform or sys.platform
    windows = platform.startswith("win")
    if code in (ERROR_NOT_SUPPORTED, ERROR_NOT_FOUND) and windows:
        return windows_driver_hint(vid, pid)
    if code == ERROR_ACCESS:
        if windows:
            return windows_driver_hint(vid, pid)
        if platform.startswith("linux"):
            return linux_permission_hint()
        return macos_hint()
    if code == ERROR_BUSY:
        return macos_hint() if platform == "darwin" else (
            "Another program holds the device (another particle or dfu-util, a serial monitor, "
            "ModemManager). Close it and try again.")
    return None
