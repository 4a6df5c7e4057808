"""The protobuf wire format as far as the simulated Device OS needs it (nanopb's side of the
control requests): encoding replies and reading the few request fields it looks at.

proto3 leaves a scalar field out when it holds its default, so ``uint`` writes nothing for 0,
as nanopb does. Stdlib only (the simulator never imports client code).
"""
from __future__ import annotations

import struct

WIRE_VARINT, WIRE_FIXED64, WIRE_LEN, WIRE_FIXED32 = 0, 1, 2, 5
_FIXED_WIDTH = {WIRE_FIXED64: 8, WIRE_FIXED32: 4}


def varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


def _tag(number: int, wire: int) -> bytes:
    return varint(number << 3 | wire)


def uint(number: int, value: int) -> bytes:
    """A uint32/enum/bool field; absent when 0."""
    return _tag(number, WIRE_VARINT) + varint(value) if value else b""


def fixed32(number: int, value: int) -> bytes:
    return _tag(number, WIRE_FIXED32) + struct.pack("<I", value)


def message(number: int, body: bytes) -> bytes:
    """A length-delimited field: bytes, a string's UTF-8 or an embedded message."""
    return _tag(number, WIRE_LEN) + varint(len(body)) + body


def decode(data: bytes) -> dict:
    """{field number: [values in order]}: ints for varint and fixed fields, bytes for
    length-delimited ones. ValueError for anything nanopb would refuse to decode."""
    out: dict = {}
    view = bytes(data)
    pos = 0

    def next_varint() -> int:
        nonlocal pos
        value = 0
        for shift in range(0, 70, 7):
            if pos >= len(view):
                raise ValueError("the message ends inside a varint")
            byte = view[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value
        raise ValueError("a varint longer than 10 bytes")

    while pos < len(view):
        key = next_varint()
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        if wire == WIRE_VARINT:
            value = next_varint()
        elif wire == WIRE_LEN or wire in _FIXED_WIDTH:
            width = next_varint() if wire == WIRE_LEN else _FIXED_WIDTH[wire]
            if pos + width > len(view):
                raise ValueError("the message ends inside a field")
            raw = view[pos:pos + width]
            value = raw if wire == WIRE_LEN else int.from_bytes(raw, "little")
            pos += width
        else:
            raise ValueError(f"wire type {wire}")
        out.setdefault(number, []).append(value)
    return out


def first(fields: dict, number: int, default=0):
    """A singular field's value (proto3: the last one sent wins), or its default."""
    values = fields.get(number)
    return values[-1] if values else default
