"""Particle devices on the bus: list them, find every one that matches, choose one.

Finding and choosing are two steps: ``find_devices`` returns every device that matches (the
seam for working on many devices at once), ``choose_one`` is the rule a single-device command
applies (exactly one, or the one with this id; its errors say which are attached). An
``UsbEntry`` holds its pyusb device until ``release_entry`` (or the ``ParticleDfuDevice`` it
was opened as) lets it go.
"""
from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Callable, Optional

from particle_py.errors import ParticlePyError
from particle_py.platforms import Platform, by_usb

DFU_HELP = """!!! The device needs to be in DFU mode for this command.
> To put your device in DFU manually, please:
1) Press and hold both the RESET and MODE/SETUP buttons simultaneously.
2) Release only the RESET button while continuing to hold the MODE/SETUP button.
3) Release the MODE/SETUP button once the device begins to blink yellow."""

MODE_DFU = "DFU"
MODE_NORMAL = "NORMAL"

# The question a front end asks when several devices are attached and none was named: a
# callable(entries) -> the chosen entry, set by `particle` on a terminal (cli/particle/prompts.py);
# None where nobody can answer: the error lists the devices (particle-cli's non-interactive mode).
CHOOSER: Optional[Callable[[list], "UsbEntry"]] = None


@dataclass
class UsbEntry:
    """A Particle device seen on the bus (not opened for DFU yet)."""
    usb_device: object
    platform: Platform
    device_id: str
    mode: str                      # MODE_DFU or MODE_NORMAL
    # Whether device_id is the device's own id: shown in normal mode, by a bootloader whose
    # serial is the id, or carried across a switch from normal mode. False for a bootloader's
    # serial that is not the id (the 2015 Gen2 one's 00000000010C, the Core's 12 digits) and for
    # an id the user gave that the device has not confirmed (ops.device.confirm_identity).
    id_known: bool = True

    @property
    def in_dfu(self) -> bool:
        return self.mode == MODE_DFU


def _clean_serial(raw) -> str:
    """The device id from a USB serial number: letters and digits only, else no id. The id
    becomes part of file and folder names (keys new/save/load, backups), so a serial such as
    ``../../../x`` must never pass."""
    import re

    text = "".join(c for c in (raw or "") if 32 < ord(c) < 127).lower()
    return text if re.fullmatch(r"[0-9a-z]{1,64}", text) else ""


# Particle devices describe themselves in US English only; asking for it directly (as
# particle-usb's node-usb does) saves the language-list request before every string.
LANGID_EN_US = 0x0409


def string_descriptor(dev, index: int, *, stalled_means_absent: bool = False) -> Optional[str]:
    """A string descriptor (None when unreadable). ``stalled_means_absent``: a string only some
    bootloaders have (0xFA) is not asked for again through the language list when refused."""
    try:
        raw = bytes(dev.ctrl_transfer(0x80, 6, 0x0300 | index, LANGID_EN_US, 255, timeout=1000))
    except Exception:
        if stalled_means_absent:
            return None
        raw = b""
    if len(raw) < 2 or raw[1] != 3:
        import usb.util

        try:
            return usb.util.get_string(dev, index)      # the language list first, as pyusb asks
        except Exception:
            return None
    return raw[2:min(raw[0], len(raw))].decode("utf-16-le", "replace")


def _serial(dev) -> str:
    try:
        if not dev.iSerialNumber:
            return ""
        return _clean_serial(string_descriptor(dev, dev.iSerialNumber))
    except Exception:              # a device that will not answer is listed without an id
        return ""


# A batch (ops/batch.py) gives each worker thread one device: the thread sees only the devices
# on its port (a board keeps its port across a reset), or, when its board came back elsewhere,
# one showing its id on a port no other worker holds. Every single-device operation then runs
# unchanged on its own device, and never touches (opens, reads) another thread's device.
_scope = threading.local()
_held_ports: set = set()
_held_guard = threading.Lock()


@contextlib.contextmanager
def device_scope(port: Optional[tuple], device_id: str):
    """Within this thread, the bus holds only the device on ``port`` (bus, port numbers)."""
    with _held_guard:
        _held_ports.add(port)
    _scope.pin = (port, device_id)
    try:
        yield
    finally:
        _scope.pin = None
        with _held_guard:
            _held_ports.discard(port)


def _in_scope(devices: list) -> list:
    pin = getattr(_scope, "pin", None)
    if pin is None:
        return devices
    port, device_id = pin

    def where(dev):
        ports = getattr(dev, "port_numbers", None)
        return (getattr(dev, "bus", None), tuple(ports)) if ports else None
    here = [d for d in devices if where(d) == port]
    if here:
        return here
    with _held_guard:
        free = [d for d in devices if where(d) not in _held_ports]
    return [d for d in free if by_usb(d.idVendor, d.idProduct) is not None and _serial(d) == device_id]


def list_devices() -> list[UsbEntry]:
    """Every Particle device attached now, normal and DFU mode, in bus order."""
    from particle_py import usb as transport

    out = []
    for dev in _in_scope(list(transport.find_devices())):
        platform = by_usb(dev.idVendor, dev.idProduct)
        if platform is None:
            continue
        mode = MODE_DFU if platform.dfu_ids == (dev.idVendor, dev.idProduct) else MODE_NORMAL
        serial = _serial(dev)
        known = is_full_id(serial) and (mode == MODE_NORMAL or platform.dfu_serial_is_device_id)
        out.append(UsbEntry(dev, platform, serial, mode, known))
    return out


def unknown_particle_devices() -> list[str]:
    """What to say about each attached Particle USB device the platform table does not know."""
    from particle_py import usb as transport
    from particle_py.platforms import unknown_device_text

    found = []
    for dev in transport.find_devices():
        text = unknown_device_text(dev.idVendor, dev.idProduct)      # descriptor only: never opened
        if text:
            found.append(text[0].upper() + text[1:])
    return found


def release_entry(entry: UsbEntry) -> None:
    """Let go of a found device that will not be opened (after all)."""
    from particle_py.usb import release_device

    release_device(entry.usb_device)


def _release_all(entries, keep=()) -> None:
    for e in entries:
        if not any(e is k for k in keep):
            release_entry(e)


def matches(entry: UsbEntry, wanted: str) -> bool:
    """Whether the device has this id; short ids (< 24 characters) are matched as prefixes."""
    wanted = wanted.lower()
    if len(wanted) >= 24:
        return entry.device_id == wanted
    return bool(entry.device_id) and entry.device_id.startswith(wanted)


def find_devices(wanted: Optional[str] = None, *, platform_id: Optional[int] = None,
                 mode: Optional[str] = None) -> list[UsbEntry]:
    """Every attached device with this id or id prefix, platform and mode (each filter only
    when given), in bus order; the others are released."""
    entries = list_devices()
    found = [e for e in entries
             if (not wanted or matches(e, wanted))
             and (platform_id is None or e.platform.platform_id == platform_id)
             and (mode is None or e.mode == mode)]
    _release_all(entries, keep=found)
    return found


def choose_one(entries: list[UsbEntry], wanted: Optional[str] = None, *, need_dfu: bool = False,
               prefer_platform: Optional[int] = None) -> UsbEntry:
    """The single-device rule: the one device of ``entries``, or the one with this id / id
    prefix. With ``prefer_platform`` and no id, devices of other platforms are left out when
    that leaves exactly one. Every entry not chosen is released, on success and on error."""
    if prefer_platform is not None and not wanted and len(entries) > 1:
        same = [e for e in entries if e.platform.platform_id == prefer_platform]
        if len(same) == 1:
            _release_all(entries, keep=same)
            entries = same
    if wanted:
        found = [e for e in entries if matches(e, wanted)]
        _release_all(entries, keep=found)
        if not found:
            raise ParticlePyError(f"Device not found: {wanted}",
                                  "Check the id with `particle usb list`; is the device connected by USB?")
        if len(found) > 1:
            _release_all(found)
            raise ParticlePyError(f"More than one device matches {wanted}",
                                  "Give more of the id: " + ", ".join(e.device_id for e in found))
        return found[0]
    if not entries:
        newer = unknown_particle_devices()
        if newer:      # a platform newer than this table: said, and left alone
            raise ParticlePyError("No devices found that this particle-py can work with",
                                  "; ".join(newer) + ". Nothing was changed on it.")
        raise ParticlePyError("No devices found",
                              DFU_HELP if need_dfu else
                              "Connect the device by USB (a data cable, not a charge-only one).")
    if len(entries) > 1 and CHOOSER is not None:
        try:
            chosen = CHOOSER(entries)
        except BaseException:
            _release_all(entries)
            raise
        _release_all(entries, keep=[chosen])
        return chosen
    if len(entries) > 1:
        ids = ", ".join(f"{e.device_id or '?'} ({e.platform.display_name})" for e in entries)
        _release_all(entries)
        raise ParticlePyError(
            "Multiple devices found. Connect only one device when running in non-interactive mode.",
            f"Or name the device by its id. Attached: {ids}")
    return entries[0]


# --- many devices: the selection rule every device command shares ------------------------------

MODE_LISTENING = "LISTENING"
MODE_FILTERS = {"normal": MODE_NORMAL, "dfu": MODE_DFU, "listening": MODE_LISTENING}


@dataclass(frozen=True)
class Selection:
    """What the user named: device ids or names (several), ``every`` (--all), and filters
    (``platform``: a platform name; ``mode``: normal, dfu or listening)."""
    ids: tuple = ()
    every: bool = False
    platform: Optional[str] = None
    mode: Optional[str] = None

    @property
    def many(self) -> bool:
        """The user asked for a batch (--all or more than one id), even if one device matches."""
        return self.every or len(self.ids) > 1


def usb_port(entry: UsbEntry) -> str:
    """The USB port path, as Linux names it (1-2, 1-1.2.3): what tells two clones apart."""
    dev = entry.usb_device
    ports = getattr(dev, "port_numbers", None)
    bus = getattr(dev, "bus", None)
    if not ports or bus is None:
        return f"bus {bus} address {getattr(dev, 'address', '?')}"
    return f"{bus}-" + ".".join(str(p) for p in ports)


def entry_line(entry: UsbEntry) -> str:
    """One attached device as the selection errors list it: id, platform, mode, USB port."""
    return (f"{entry.device_id or '?'} {entry.platform.display_name} "
            f"{'DFU mode' if entry.in_dfu else 'normal mode'} on {usb_port(entry)}")


def _listening(entry: UsbEntry) -> bool:
    """Whether a normal-mode device reports listening mode (asked only for --mode listening)."""
    from particle_py.control import device as control_device
    from particle_py.control.session import ControlSession

    if entry.in_dfu:
        return False
    try:
        with ControlSession(entry.usb_device) as session:
            return control_device.device_mode(session) == "LISTENING"
    except ParticlePyError:
        return False


def _platform_id(name: str) -> int:
    from particle_py.platforms import by_name

    platform = by_name(name.lower())
    if platform is None:
        raise ParticlePyError(f"Unknown platform: {name}",
                              "Give a platform name such as photon, argon, boron or p2.", 2)
    return platform.platform_id


def select_devices(selection: Selection, *, choose: Optional[Callable[[list], UsbEntry]] = None,
                   need_dfu: bool = False) -> list[UsbEntry]:
    """The devices a command works on, by the one rule every device command shares:

    - ids given: every device each one names (two clones with one id are both taken); an id
      that names none is an error naming it, and nothing is changed on any device;
    - ``every``: every device that passes the filters (none: "No devices found");
    - neither: the one device; with several, ``choose`` (a terminal's prompt) picks one, and
      without it the error lists them (id, platform, mode, USB port).
    Every device not selected is released."""
    platform_id = _platform_id(selection.platform) if selection.platform else None
    mode = MODE_FILTERS.get((selection.mode or "").lower()) if selection.mode else None
    if selection.mode and mode is None:
        raise ParticlePyError(f"Unknown mode: {selection.mode}", "Use --mode normal, dfu or listening.", 2)
    entries = find_devices(platform_id=platform_id, mode=MODE_NORMAL if mode == MODE_LISTENING else mode)
    if mode == MODE_LISTENING:
        listening = [e for e in entries if _listening(e)]
        _release_all(entries, keep=listening)
        entries = listening
    if selection.ids:
        chosen, missing = [], []
        for wanted in selection.ids:
            named = [e for e in entries if matches(e, wanted)]
            if not named:
                missing.append(wanted)
            chosen += [e for e in named if not any(e is c for c in chosen)]
        if missing:
            _release_all(entries)
            attached = "; ".join(entry_line(e) for e in entries) or "none"
            raise ParticlePyError("Device not found: " + ", ".join(missing),
                                  f"Check the ids with `particle usb list`. Attached: {attached}")
        _release_all(entries, keep=chosen)
        return chosen
    if selection.every:
        if not entries:
            return [choose_one(entries, need_dfu=need_dfu)]          # raises "No devices found"
        return entries
    if len(entries) > 1 and choose is None:
        listing = "; ".join(entry_line(e) for e in entries)
        _release_all(entries)
        raise ParticlePyError(f"{len(entries)} devices found, and no device was named: {listing}",
                              "Name the devices by id (several may be given), or pass --all to work on every "
                              "one of them.")
    if len(entries) > 1:
        try:
            picked = choose(entries)
        except BaseException:
            _release_all(entries)
            raise
        _release_all(entries, keep=[picked])
        return [picked]
    return [choose_one(entries, need_dfu=need_dfu)]


def find_device(device_id: Optional[str] = None, *, mode: Optional[str] = None,
                need_dfu: bool = False, platform_id: Optional[int] = None) -> UsbEntry:
    """The one device attached (or the one with this id / id prefix), by ``choose_one``'s rule.
    ``mode`` leaves out devices in the other mode first."""
    entries = find_devices(mode=mode)
    return choose_one(entries, device_id, need_dfu=need_dfu or mode == MODE_DFU, prefer_platform=platform_id)


def is_full_id(text: str) -> bool:
    return len(text) == 24 and all(c in "0123456789abcdefABCDEF" for c in text)


def resolve_target(device_id: Optional[str] = None, *, need_dfu: bool = True,
                   platform_id: Optional[int] = None) -> UsbEntry:
    """The device the user means, found without changing anything on any device.

    An id, id prefix or name that matches no attached device is "Device not found", whatever
    else is attached: no device changes mode for a target that is not certain. One exception,
    as particle-cli makes it: a Core in DFU mode does not show its id over USB, so when the one
    device attached is such a device (already in DFU mode) and a full 24-hex id was given, that
    device is taken to be the one meant."""
    try:
        return find_device(device_id, need_dfu=need_dfu, platform_id=platform_id)
    except ParticlePyError as err:
        if not device_id or not err.message.startswith("Device not found") or not is_full_id(device_id):
            raise
        entries = list_devices()
        anonymous = entries and (not entries[0].platform.dfu_serial_is_device_id
                                 or not is_full_id(entries[0].device_id))
        if len(entries) == 1 and entries[0].in_dfu and anonymous:
            # taken as meant, not yet known to be it: ops.device.open_entry confirms the id
            # (or refuses) before anything is written or sent
            entries[0].device_id = device_id.lower()
            entries[0].id_known = False
            return entries[0]
        _release_all(entries)
        raise
