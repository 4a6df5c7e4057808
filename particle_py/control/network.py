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

from particle_py.control.protobuf import Message, ProtoError, number_field
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
    """(ICCID, IMEI) from a GetIccidReply. Each is what its standard allows (an IMEI 14 to 16
    digits, an ICCID 17 to 22 digits with an optional trailing F, as the serial protocol's are
    held), else the reply is unreadable: a device's bytes are never printed as an id unchecked."""
    import re

    reply = Message(data)
    iccid, imei = reply.bytes(1).decode("ascii", "replace"), reply.bytes(2).decode("ascii", "replace")
    if imei and not re.fullmatch(r"[0-9]{14,16}", imei):
        raise ProtoError(f"the IMEI in the reply is not 14 to 16 digits ({imei[:40]!r})")
    if iccid and not re.fullmatch(r"[0-9]{17,22}[fF]?", iccid):
        raise ProtoError(f"the ICCID in the reply is not 17 to 22 digits ({iccid[:40]!r})")
    return iccid, imei


def index_request(index: int) -> bytes:
    """GetInterfaceRequest {index}."""
    return number_field(1, index)
