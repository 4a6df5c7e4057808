"""USB descriptors as the simulated devices report them, byte for byte.

A device is described by a DeviceDescription (plain data); ``device_descriptor()``,
``configuration_descriptor()`` and ``string_descriptor()`` render the bytes a real device
sends for GET_DESCRIPTOR, and ``sysfs_descriptors()`` the concatenation Linux exposes in
sysfs (what libusb reads under umockdev). The DFU functional descriptor follows the LAST
alt setting of the DFU interface, as STM32 and Particle bootloaders place it.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Optional

DT_DEVICE = 1
DT_CONFIG = 2
DT_STRING = 3
DT_INTERFACE = 4
DT_ENDPOINT = 5
DT_DFU_FUNCTIONAL = 0x21
LANGID_EN_US = 0x0409

DFU_CLASS = 0xFE
DFU_SUBCLASS = 0x01
DFU_PROTOCOL_RUNTIME = 0x01
DFU_PROTOCOL_DFU_MODE = 0x02

# bmAttributes of the DFU functional descriptor
CAN_DNLOAD = 0x01
CAN_UPLOAD = 0x02
MANIFESTATION_TOLERANT = 0x04
WILL_DETACH = 0x08


@dataclass(frozen=True)
class Functional:
    attributes: int
    detach_timeout: int
    transfer_size: int
    bcd_dfu: Optional[int]          # None: a DFU 1.0 device's 7-byte descriptor (no bcdDFUVersion)

    def to_bytes(self) -> bytes:
        if self.bcd_dfu is None:
            return struct.pack("<BBBHH", 7, DT_DFU_FUNCTIONAL, self.attributes, self.detach_timeout,
                               self.transfer_size)
        return struct.pack("<BBBHHH", 9, DT_DFU_FUNCTIONAL, self.attributes, self.detach_timeout,
                           self.transfer_size, self.bcd_dfu)


@dataclass(frozen=True)
class Endpoint:
    address: int
    attributes: int          # 2 = bulk, 3 = interrupt
    max_packet: int = 64
    interval: int = 0

    def to_bytes(self) -> bytes:
        return struct.pack("<BBBBHB", 7, DT_ENDPOINT, self.address, self.attributes,
                           self.max_packet, self.interval)


@dataclass(frozen=True)
class AltSetting:
    number: int
    alt: int
    cls: int
    subclass: int
    protocol: int
    name: Optional[str]                         # iInterface text (None = index 0)
    endpoints: tuple[Endpoint, ...] = ()
    extra: bytes = b""                          # class descriptors after this alt (DFU functional)


@dataclass(frozen=True)
class DeviceDescription:
    vid: int
    pid: int
    bcd_device: int
    manufacturer: Optional[str]
    product: Optional[str]
    serial: Optional[str]
    interfaces: tuple[AltSetting, ...]          # every alt setting of every interface, in order
    bcd_usb: int = 0x0200
    device_class: int = 0
    device_subclass: int = 0
    device_protocol: int = 0
    max_packet0: int = 64
    config_value: int = 1
    config_attributes: int = 0x80               # bus powered
    max_power: int = 50                         # 100 mA, in 2 mA units
    extra_strings: dict = field(default_factory=dict)   # index -> text beyond the numbered ones

    # --- string table: 1 manufacturer, 2 product, 3 serial, then one per named alt ----------
    def string_table(self) -> dict:
        table = {}
        for index, text in ((1, self.manufacturer), (2, self.product), (3, self.serial)):
            if text is not None:
                table[index] = text
        next_index = 4
        for alt in self.interfaces:
            if alt.name is not None and alt.name not in table.values():
                table[next_index] = alt.name
                next_index += 1
        table.update(self.extra_strings)
        return table

    def string_index(self, text: Optional[str]) -> int:
        if text is None:
            return 0
        for index, value in self.string_table().items():
            if value == text:
                return index
        return 0

    @property
    def num_interfaces(self) -> int:
        return len({a.number for a in self.interfaces})

    def functional(self) -> Optional[Functional]:
        for alt in self.interfaces:
            if len(alt.extra) >= 7 and alt.extra[1] == DT_DFU_FUNCTIONAL:
                a, d, t = struct.unpack_from("<BHH", alt.extra, 2)
                b = struct.unpack_from("<H", alt.extra, 7)[0] if alt.extra[0] >= 9 else None
                return Functional(a, d, t, b)
        return None


def device_descriptor(desc: DeviceDescription) -> bytes:
    return struct.pack(
        "<BBHBBBBHHHBBBB", 18, DT_DEVICE, desc.bcd_usb, desc.device_class, desc.device_subclass,
        desc.device_protocol, desc.max_packet0, desc.vid, desc.pid, desc.bcd_device,
        desc.string_index(desc.manufacturer), desc.string_index(desc.product),
        desc.string_index(desc.serial), 1)


def interface_descriptor(desc: DeviceDescription, alt: AltSetting) -> bytes:
    return struct.pack("<BBBBBBBBB", 9, DT_INTERFACE, alt.number, alt.alt, len(alt.endpoints),
                       alt.cls, alt.subclass, alt.protocol, desc.string_index(alt.name))


def configuration_descriptor(desc: DeviceDescription) -> bytes:
    body = b""
    for alt in desc.interfaces:
        body += interface_descriptor(desc, alt) + alt.extra
        body += b"".join(ep.to_bytes() for ep in alt.endpoints)
    header = struct.pack("<BBHBBBBB", 9, DT_CONFIG, 9 + len(body), desc.num_interfaces,
                         desc.config_value, 0, desc.config_attributes, desc.max_power)
    return header + body


def string_descriptor(desc: DeviceDescription, index: int) -> Optional[bytes]:
    """String descriptor bytes; index 0 is the LANGID list. None = no such string (stall)."""
    if index == 0:
        return struct.pack("<BBH", 4, DT_STRING, LANGID_EN_US)
    text = desc.string_table().get(index)
    if text is None:
        return None
    raw = text.encode("utf-16-le")[:252]
    return bytes([2 + len(raw), DT_STRING]) + raw


def sysfs_descriptors(desc: DeviceDescription) -> bytes:
    """What Linux shows in /sys/bus/usb/devices/<dev>/descriptors (device + configurations)."""
    return device_descriptor(desc) + configuration_descriptor(desc)


def dfu_alt_settings(number: int, names, functional: Functional, protocol: int = DFU_PROTOCOL_DFU_MODE):
    """One interface's DFU alt settings; the functional descriptor follows the last one."""
    names = list(names)
    alts = []
    for i, name in enumerate(names):
        extra = functional.to_bytes() if i == len(names) - 1 else b""
        alts.append(AltSetting(number, i, DFU_CLASS, DFU_SUBCLASS, protocol, name, extra=extra))
    return tuple(alts)
