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


# --- libusb errors: what each one means and its usual cause and fix, per system ---------------
# One row per libusb error code: (name, what happened, {system: usual cause and fix}); system is
# "linux", "darwin", "win32" or "*" (any). Sources: libusb's error list, dfu-util's and
# particle-cli's issue threads (compat/forum), device-behaviour.md 3.
LIBUSB_ERROR_TABLE: dict = {
    -1: ("LIBUSB_ERROR_IO", "the USB transfer failed on the wire", {
        "*": "Usual cause: a loose or charge-only cable, a hub, or the device resetting. Fix: use a short "
             "data cable plugged straight into the computer, and run the command again."}),
    -3: ("LIBUSB_ERROR_ACCESS", "the system refused access to the device", {
        "linux": "Usual cause: no udev rule for Particle devices. Fix: install "
                 f"{UDEV_RULES_PATH} (particle-py prints it with the permission error) and reconnect.",
        "darwin": "Usual cause: another program holds the device. Fix: close it, reconnect, try again.",
        "win32": "Usual cause: no WinUSB driver bound to the device. Fix: install it with Zadig "
                 "(https://zadig.akeo.ie) and reconnect."}),
    -4: ("LIBUSB_ERROR_NO_DEVICE", "the device was disconnected", {
        "*": "Usual cause: the device reset (leaving DFU mode does that) or the cable moved. Fix: check "
             "the device's LED, put it back in DFU mode if needed, and run the command again."}),
    -5: ("LIBUSB_ERROR_NOT_FOUND", "the device or its interface was not found", {
        "win32": "Usual cause: no WinUSB driver for this mode of the device (DFU mode has its own). "
                 "Fix: install it with Zadig for the \"DFU Mode\" device.",
        "*": "Usual cause: the device re-enumerated (changed mode) during the command. Fix: run the "
             "command again."}),
    -6: ("LIBUSB_ERROR_BUSY", "another program holds the device", {
        "linux": "Usual cause: another particle or dfu-util, a serial monitor, or ModemManager. Fix: "
                 "close it (or stop ModemManager) and try again.",
        "*": "Usual cause: another particle or dfu-util, or a serial monitor. Fix: close it and try again."}),
    -7: ("LIBUSB_ERROR_TIMEOUT", "the device stopped answering", {
        "*": "Usual cause: the device is busy erasing or has crashed, or a USB hub dropped it. Fix: reset "
             "the device into DFU mode (hold MODE, tap RESET, release MODE at blinking yellow), plug it "
             "in directly, and run the command again."}),
    -8: ("LIBUSB_ERROR_OVERFLOW", "the device sent more data than asked for", {
        "*": "Usual cause: a device or bootloader that does not follow the DFU transfer size. Fix: "
             "update the bootloader (particle update), or try another USB port."}),
    -9: ("LIBUSB_ERROR_PIPE", "the device stalled (refused) the request", {
        "linux": "Usual cause: the device left DFU mode or is in a DFU error state, or a USB 3 port or "
                 "hub garbles control transfers. Fix: put the device back in DFU mode, plug it into a "
                 "USB 2 port directly, and run the command again.",
        "darwin": "Usual cause: the device left DFU mode or is in a DFU error state, or a USB-C hub or "
                  "adapter. Fix: put the device back in DFU mode, plug it in directly (or via another "
                  "adapter), and run the command again.",
        "win32": "Usual cause: a driver other than WinUSB (libusbK, a serial driver) on the DFU "
                 "interface, or the device left DFU mode. Fix: install WinUSB with Zadig for the "
                 "\"DFU Mode\" device, put the device back in DFU mode, and run the command again."}),
    -10: ("LIBUSB_ERROR_INTERRUPTED", "the transfer was interrupted", {
        "*": "Usual cause: the command was stopped (Ctrl-C or a signal). Fix: run the command again."}),
    -11: ("LIBUSB_ERROR_NO_MEM", "libusb ran out of memory", {
        "*": "Fix: close other programs and run the command again."}),
    -12: ("LIBUSB_ERROR_NOT_SUPPORTED", "the operation is not supported for this device", {
        "win32": "Usual cause: no WinUSB driver bound to the device. Fix: install it with Zadig.",
        "*": "Usual cause: the system's libusb cannot drive this device. Fix: update libusb, or "
             "reinstall particle-py so libusb-package brings its own copy."}),
    -99: ("LIBUSB_ERROR_OTHER", "an unknown USB error", {
        "*": "Fix: reconnect the device (directly, no hub) and run the command again."}),
}
_NAME_TO_CODE = {row[0]: code for code, row in LIBUSB_ERROR_TABLE.items()}


def _system_key(platform: Optional[str]) -> str:
    platform = platform or sys.platform
    return "win32" if platform.startswith("win") else ("linux" if platform.startswith("linux") else platform)


def libusb_error_explanation(code: int, platform: Optional[str] = None) -> Optional[tuple[str, str, str]]:
    """(name, what happened, usual cause and fix on this system) for a libusb error code."""
    row = LIBUSB_ERROR_TABLE.get(code)
    if row is None:
        return None
    name, meaning, fixes = row
    return name, meaning, fixes.get(_system_key(platform), fixes.get("*", next(iter(fixes.values()))))


_RETURNED_RE = None


def libusb_code_in(err: BaseException) -> Optional[int]:
    """The libusb error code behind an error: its own or that of an error it was raised from
    (``__cause__``/``__context__``), or one its message names ("returned -9", LIBUSB_ERROR_PIPE)."""
    import re
    global _RETURNED_RE
    if _RETURNED_RE is None:
        _RETURNED_RE = re.compile(r"returned (-\d+)|(LIBUSB_ERROR_[A-Z_]+)")
    seen = set()
    current: Optional[BaseException] = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "libusb_code", None)
        if isinstance(code, int) and code in LIBUSB_ERROR_TABLE:
            return code
        for number, name in _RETURNED_RE.findall(str(getattr(current, "message", "") or current)):
            found = int(number) if number else _NAME_TO_CODE.get(name)
            if found in LIBUSB_ERROR_TABLE:
                return found
        current = current.__cause__ or current.__context__
    return None


def explain_libusb(err, platform: Optional[str] = None):
    """``err`` (a ParticlePyError) naming its libusb error and, in its hint, the usual cause and fix
    on this system; unchanged when no libusb error is behind it or it says so already."""
    code = libusb_code_in(err)
    if code is None:
        return err
    name, meaning, fix = libusb_error_explanation(code, platform)
    message = err.message
    if name not in message and f"({meaning})" in message:
        message = message.replace(f"({meaning})", f"({name}: {meaning})")
    elif name not in message:
        message = f"{message} ({name}: {meaning})"
    elif meaning not in message and f"({name})" in message:
        message = message.replace(f"({name})", f"({name}: {meaning})")
    elif meaning not in message:
        message = f"{message} ({meaning})"
    hint = err.hint or ""
    # the fuller per-system fix (udev rules, Zadig) may be there already: then no second one
    fuller = hint_for_error(code, platform=platform)
    if fuller and fuller.splitlines()[-1] in hint:
        fix = ""
    if fix and fix not in hint:
        hint = f"{fix}\n{hint}" if hint else fix
    from particle_py.errors import ParticlePyError
    explained = ParticlePyError(message, hint, err.exit_code)
    explained.libusb_code = code
    return explained
