"""The network family: the USB control requests particle-cli 3.21+ uses instead of the serial
protocol for a device's network interfaces and cellular ids, and the decoding of their protobuf
replies (outside input: ProtoError, a ParticlePyError, never anything else). Module info (90) is
module_info.py's, shared with ``particle update``.

NETWORK_GET_INTERFACE_LIST (400), NETWORK_GET_INTERFACE (401) and CELLULAR_GET_ICCID (554).
A Device OS too old for a request answers NOT_SUPPORTED; callers then fall back on the
listening-mode protocol.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from particle_py.control.protobuf import Message, number_field
from particle_py.control_codes import CELLULAR_GET_ICCID, NETWORK_GET_INTERFACE, NETWORK_GET_INTERFACE_LIST

__all__ = ["CELLULAR_GET_ICCID", "NETWORK_GET_INTERFACE", "NETWORK_GET_INTERFACE_LIST", "Interface",
           "parse_interface_list", "parse_interface", "parse_cellular", "index_request"]

INTERFACE_TYPES = {1: "LOOPBACK", 2: "THREAD", 4: "ETHERNET", 8: "WIFI", 0x10: "PPP"}

@dataclass(frozen=True)
class Interface:
    index: int
    name: str
    type: str
    hw_address: str = ""


def _interface(e: Message, hw_address: str = "") -> Interface:
    return Interface(e.uint(1), e.text(2), INTERFACE_TYPES.get(e.uint(3), "INVALID_INTERFACE_TYPE"), hw_address)


def parse_interface_list(data: bytes) -> list[Interface]:
    return [_interface(e) for e in Message(data).messages(1)]


def parse_interface(data: bytes) -> Optional[Interface]:
    body = Message(data).bytes(1)
    if not body:
        return None
    e = Message(body)
    return _interface(e, ":".join(f"{b:02x}" for b in e.bytes(8)))


def parse_cellular(data: bytes) -> tuple[str, str]:
    """(ICCID, IMEI) from a GetIccidReply."""
    reply = Message(data)
    return reply.bytes(1).decode("ascii", "replace"), reply.bytes(2).decode("ascii", "replace")


def index_request(index: int) -> bytes:
    """GetInterfaceRequest {index}."""
    return number_field(1, index)
