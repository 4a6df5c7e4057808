"""Finding DFU interfaces, as dfu-util's probe_devices does.

Every matching (device, configuration, interface, alt setting) becomes one ``DfuInterface``.
The result is in dfu-util's order: dfu-util prepends each match to its list, so the last
device enumerated and its highest alt setting come first. Things dfu-util reports while
probing (open failures, odd descriptors) are passed to ``on_event`` as ('probe_warning',
key, args) and ('probe_note', key, args); nothing is printed here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional

from . import protocol as p

ANY = -1


@dataclass
class Match:
    """What to look for; negative numbers and None mean "any" (dfu-util's conventions)."""
    vendor: int = ANY
    product: int = ANY
    vendor_dfu: int = ANY
    product_dfu: int = ANY
    devnum: int = ANY
    path: Optional[str] = None
    cfg: int = ANY
    intf: int = ANY
    alt_index: int = ANY
    alt_name: Optional[str] = None
    serial: Optional[str] = None
    serial_dfu: Optional[str] = None
    alt_matches_index: bool = False     # 0.8/0.9 compare -a with the alt's position, not bAlternateSetting
    utf8_strings: bool = True           # 0.10+: own string reader with warnings
    lpc_dfu_mode: bool = True           # 0.9+: NXP LPC (1fc9:000c) protocol 1 counts as DFU mode
    jabra_dfu_mode: bool = True         # 0.10+: Jabra (0b0e) protocol 0 with one interface counts too


@dataclass
class DfuInterface:
    device: object                      # pyusb Device
    vendor: int
    product: int
    bcd_device: int
    configuration: int
    interface: int
    altsetting: int
    devnum: int
    busnum: int
    path: str
    alt_name: str
    serial_name: str
    dfu_mode: bool
    multiple_alt: bool
    functional: p.FunctionalDescriptor
    max_packet_size0: int = 64
    quirks: frozenset = frozenset()
    layout: object = field(default=None, repr=False)

    @property
    def is_dfuse(self) -> bool:
        return self.functional.dfu_version == p.DFUSE_VERSION

    def same_interface(self, other: "DfuInterface") -> bool:
        return (self.device is other.device and self.configuration == other.configuration
                and self.interface == other.interface)


def device_path(dev) -> str:
    ports = getattr(dev, "port_numbers", None) or ()
    if not ports:
        port = getattr(dev, "port_number", None)
        ports = (port,) if port else ()
    return "%d-%s" % (getattr(dev, "bus", 0) or 0, ".".join(str(x) for x in ports))


def open_handle(dev) -> int:
    """Open the device (libusb_open); 0 or a negative libusb error code."""
    try:
        dev._ctx.managed_open()
        return 0
    except Exception as exc:  # pyusb raises USBError; any backend failure counts as an open failure
        return p.libusb_code(exc)


def close_handle(dev) -> None:
    try:
        import usb.util
        usb.util.dispose_resources(dev)
    except Exception:
        pass


def _get_string_raw(dev, index: int, langid: int) -> bytes:
    return bytes(dev.ctrl_transfer(0x80, 6, 0x0300 | index, langid, 255, timeout=1000))


def read_string(dev, index: int, emit, utf8: bool) -> Optional[str]:
    """An iInterface/iSerialNumber string the way dfu-util reads it; None if unreadable.

    Code units above 0x7f become '?'."""
    def warn(key, *args):
        if utf8:
            emit("probe_warning", key, args)
    try:
        langs = _get_string_raw(dev, 0, 0)
    except Exception:
        warn("langid_failed")
        return None
    if len(langs) < 4 or langs[0] < 4 or langs[1] != 3:
        warn("langid_broken")
        return None
    langid = langs[2] | langs[3] << 8
    try:
        raw = _get_string_raw(dev, index, langid)
    except Exception:
        warn("string_failed", index)
        return None
    if len(raw) < 2 or raw[0] < 2:
        warn("string_short", index)
        return None
    if raw[1] != 3:
        warn("string_malformed", index, raw[1])
        return None
    length = raw[0]
    if length > len(raw):
        warn("string_patched", index, length, len(raw))
        length = len(raw)
    chars = []
    for i in range(2, length - 1, 2):
        unit = raw[i] | raw[i + 1] << 8
        chars.append(chr(unit) if unit < 0x80 else "?")
    return "".join(chars) or None


def _extra(obj) -> bytes:
    return bytes(getattr(obj, "extra_descriptors", None) or b"")


def _functional_for_config(dev, cfg, interfaces, emit) -> Optional[p.FunctionalDescriptor]:
    raw = p.find_functional(_extra(cfg))
    has_dfu = False
    if raw is None:
        for intf in interfaces:
            if intf.bInterfaceClass != 0xFE or intf.bInterfaceSubClass != 1:
                continue
            raw = p.find_functional(_extra(intf))
            if raw is not None:
                break
            has_dfu = True
    if raw is None:
        if not has_dfu:
            return None
        if open_handle(dev) == 0:
            try:
                raw = bytes(dev.ctrl_transfer(0x80, 6, p.DESC_FUNCTIONAL << 8, 0, 9, timeout=1000))
            except Exception:
                raw = None
            close_handle(dev)
        if raw is None:
            emit("probe_warning", "no_functional", ())
            return p.FunctionalDescriptor(length=7, dfu_version=0x0100)
    func = p.FunctionalDescriptor.parse(raw)
    if func.length == 7:
        emit("probe_note", "deducing_version", ())
        func = p.FunctionalDescriptor(7, func.attributes, func.detach_timeout, func.transfer_size, 0x0100)
    elif func.length < 9:
        emit("probe_note", "functional_broken", ())
        func = p.FunctionalDescriptor(func.length, func.attributes, func.detach_timeout, 0, 0x0100)
    return func


def _is_dfu_mode(dev, func, intf, cfg, match: Match) -> bool:
    proto = intf.bInterfaceProtocol
    if proto == 2:
        return True
    if func.dfu_version == p.DFUSE_VERSION and proto == 0:
        return True
    if match.lpc_dfu_mode and dev.idVendor == 0x1FC9 and dev.idProduct == 0x000C and proto == 1:
        return True
    if match.jabra_dfu_mode and dev.idVendor == 0x0B0E and proto == 0 and cfg.bNumInterfaces == 1:
        return True
    return False


def probe(devices, match: Match, emit: Callable = lambda *a: None) -> list[DfuInterface]:
    """The DFU interfaces of ``devices`` (pyusb Devices, in bus order) that ``match`` accepts."""
    found: list[DfuInterface] = []
    for dev in devices:
        if match.path is not None and device_path(dev) != match.path:
            continue
        for cfg_idx in range(dev.bNumConfigurations):
            try:
                cfg = dev[cfg_idx]
                interfaces = list(cfg.interfaces())
            except Exception:       # unreadable descriptors: dfu-util skips the device too
                break
            if match.cfg > -1 and match.cfg != cfg.bConfigurationValue:
                continue
            func = _functional_for_config(dev, cfg, interfaces, emit)
            if func is None:
                continue
            by_index: dict[int, list] = {}
            for intf in interfaces:
                by_index.setdefault(getattr(intf, "index", intf.bInterfaceNumber), []).append(intf)
            for intf_idx in sorted(by_index):
                if match.intf > -1 and match.intf != intf_idx:
                    continue
                alts = by_index[intf_idx]
                for alt_pos, intf in enumerate(alts):
                    if intf.bInterfaceClass != 0xFE or intf.bInterfaceSubClass != 1:
                        continue
                    dfu_mode = _is_dfu_mode(dev, func, intf, cfg, match)
                    alt_number = alt_pos if match.alt_matches_index else intf.bAlternateSetting
                    if dfu_mode and match.alt_index > -1 and match.alt_index != alt_number:
                        continue
                    if dfu_mode:
                        if (match.vendor_dfu >= 0 and match.vendor_dfu != dev.idVendor) or \
                                (match.product_dfu >= 0 and match.product_dfu != dev.idProduct):
                            continue
                    elif (match.vendor >= 0 and match.vendor != dev.idVendor) or \
                            (match.product >= 0 and match.product != dev.idProduct):
                        continue
                    if match.devnum >= 0 and match.devnum != dev.address:
                        continue
                    code = open_handle(dev)
                    if code:
                        emit("probe_warning", "cannot_open", (dev.idVendor, dev.idProduct, dev.address, code))
                        break
                    alt_name = None
                    if intf.iInterface:
                        alt_name = read_string(dev, intf.iInterface, emit, match.utf8_strings)
                    serial_name = None
                    if dev.iSerialNumber:
                        serial_name = read_string(dev, dev.iSerialNumber, emit, match.utf8_strings)
                    close_handle(dev)
                    alt_name = alt_name or "UNKNOWN"
                    serial_name = serial_name or "UNKNOWN"
                    if dfu_mode and match.alt_name is not None and match.alt_name != alt_name:
                        continue
                    wanted_serial = match.serial_dfu if dfu_mode else match.serial
                    if wanted_serial is not None and wanted_serial != serial_name:
                        continue
                    quirks = p.quirks_for(dev.idVendor, dev.idProduct, dev.bcdDevice)
                    entry_func = func
                    if p.QUIRK_FORCE_DFU11 in quirks:
                        entry_func = p.FunctionalDescriptor(func.length, func.attributes, func.detach_timeout,
                                                            func.transfer_size, 0x0110)
                    found.append(DfuInterface(
                        dev, dev.idVendor, dev.idProduct, dev.bcdDevice, cfg.bConfigurationValue,
                        intf.bInterfaceNumber, intf.bAlternateSetting, dev.address, getattr(dev, "bus", 0) or 0,
                        device_path(dev), alt_name, serial_name, dfu_mode, len(alts) > 0, entry_func,
                        getattr(dev, "bMaxPacketSize0", 64), quirks))
    found.reverse()
    return found
