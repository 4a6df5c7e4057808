"""A network interface in full (GetInterfaceReply of NETWORK_GET_INTERFACE 401, control/network.proto
``Interface``): flags, MTU, IPv4/IPv6 addresses, hardware address, as `particle usb
network-interfaces` prints them. The list itself (400) is network.py's.
"""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Optional

from particle_py.control.network import INTERFACE_TYPES
from particle_py.control.protobuf import Message, ProtoError

# InterfaceFlag in declaration order with particle-usb's names; 0x40 is both IFF_RUNNING and
# IFF_LOWER_UP, and particle-usb's table keeps the later name (LOWER_UP).
FLAG_NAMES = ((0x01, "UP"), (0x02, "BROADCAST"), (0x04, "DEBUG"), (0x08, "LOOPBACK"), (0x10, "POINTOPOINT"),
              (0x40, "LOWER_UP"), (0x80, "NOARP"), (0x100, "PROMISC"), (0x200, "ALLMULTI"),
              (0x8000, "MULTICAST"), (0x10000, "NOND6"))


@dataclass(frozen=True)
class InterfaceDetail:
    index: int
    name: str
    type: str
    flags: int
    mtu: int
    ipv4: tuple            # "a.b.c.d/prefix"
    ipv6: tuple            # "addr/prefix"
    hw_address: str        # "aa:bb:..." or ""

    @property
    def flag_names(self) -> list[str]:
        return [name for bit, name in FLAG_NAMES if self.flags & bit]


def _address(entry: Message) -> str:
    """InterfaceAddress {IpAddress address = 1; uint32 prefix_length = 2} as text."""
    ip = Message(entry.bytes(1))
    prefix = entry.uint(2)
    v4, v6 = [v for n, v in ip.pairs if n == 1], [v for n, v in ip.pairs if n == 2]
    if v4:
        raw = Message(ip.bytes(1)).uint(1)            # fixed32, the address as one number
        if raw >= 1 << 32 or prefix > 32:
            raise ProtoError("an IPv4 address or prefix out of range")
        return f"{ipaddress.IPv4Address(raw)}/{prefix}"
    if v6:
        raw = Message(ip.bytes(2)).bytes(1)
        if len(raw) != 16 or prefix > 128:
            raise ProtoError("an IPv6 address that is not 16 bytes, or its prefix out of range")
        return f"{ipaddress.IPv6Address(raw)}/{prefix}"
    raise ProtoError("an interface address with neither IPv4 nor IPv6")


def parse_interface_detail(data: bytes) -> Optional[InterfaceDetail]:
    """The interface of a GetInterfaceReply, None when the reply holds none (no such index)."""
    body = Message(data).bytes(1)
    if not body:
        return None
    e = Message(body)
    ipv4 = tuple(_address(a) for a in Message(e.bytes(6)).messages(1))
    ipv6 = tuple(_address(a) for a in Message(e.bytes(7)).messages(1))
    hw = e.bytes(8)
    if len(hw) > 8:
        raise ProtoError("a hardware address over 8 bytes")
    return InterfaceDetail(e.uint(1), e.text(2), INTERFACE_TYPES.get(e.uint(3), "INVALID_INTERFACE_TYPE"),
                           e.uint(4), e.uint(9), ipv4, ipv6, ":".join(f"{b:02x}" for b in hw))
