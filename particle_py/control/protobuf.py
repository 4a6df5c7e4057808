"""Protobuf messages to and from Device OS's control requests, read as outside input.

Only the wire format is needed (no schema compiler): a reply is decoded into its fields in the
order sent, and a parser asks for the field numbers of the message it expects. Anything
malformed (a truncated field, an unknown wire type, a field of the wrong kind) is a
``ProtoError``: a ParticlePyError that says the reply could not be read.
"""
from __future__ import annotations

from particle_py.errors import EX_PROTOCOL, ParticlePyError

VARINT, FIXED64, LENGTH_DELIMITED, FIXED32 = 0, 1, 2, 5
FIXED_SIZES = {FIXED64: 8, FIXED32: 4}
MAX_VARINT_BYTES = 10


class ProtoError(ParticlePyError):
    def __init__(self, detail: str):
        super().__init__(f"The device's reply could not be read ({detail})",
                         "Reset the device (`particle usb reset`) and run the command again.", EX_PROTOCOL)
        self.detail = detail


class _Cursor:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def more(self) -> bool:
        return self.pos < len(self.data)

    def take(self, count: int) -> bytes:
        if count > len(self.data) - self.pos:
            raise ProtoError("the reply ends inside a field")
        self.pos += count
        return self.data[self.pos - count:self.pos]

    def varint(self) -> int:
        value = 0
        for position in range(MAX_VARINT_BYTES):
            (byte,) = self.take(1)
            value |= (byte & 0x7F) << (7 * position)
            if not byte & 0x80:
                return value
        raise ProtoError("a number longer than 10 bytes")


class Message:
    """A decoded message: ``pairs`` holds (field number, int or bytes) in the order sent."""

    def __init__(self, data: bytes):
        cursor = _Cursor(bytes(data))
        self.pairs: list[tuple[int, object]] = []
        while cursor.more():
            key = cursor.varint()
            number, wire = key >> 3, key & 7
            if number == 0:
                raise ProtoError("field number 0")
            if wire == VARINT:
                value: object = cursor.varint()
            elif wire == LENGTH_DELIMITED:
                value = cursor.take(cursor.varint())
            elif wire in FIXED_SIZES:
                value = int.from_bytes(cursor.take(FIXED_SIZES[wire]), "little")
            else:
                raise ProtoError(f"wire type {wire}")
            self.pairs.append((number, value))

    def _values(self, number: int, kind: type, what: str) -> list:
        values = [v for n, v in self.pairs if n == number]
        if any(not isinstance(v, kind) for v in values):
            raise ProtoError(f"field {number} is not {what}")
        return values

    def uint(self, number: int) -> int:
        """A number field (varint or fixed); 0 when absent, the last one when repeated (proto3)."""
        values = self._values(number, int, "a number")
        return values[-1] if values else 0

    def bytes(self, number: int) -> bytes:
        values = self._values(number, bytes, "bytes")
        return values[-1] if values else b""

    def text(self, number: int) -> str:
        return self.bytes(number).decode("utf-8", "replace")

    def messages(self, number: int) -> list["Message"]:
        """A repeated embedded message, each decoded."""
        return [Message(raw) for raw in self._values(number, bytes, "a message")]


def _varint_bytes(value: int) -> bytes:
    groups = [value & 0x7F]
    value >>= 7
    while value:
        groups.append(value & 0x7F)
        value >>= 7
    return bytes([g | 0x80 for g in groups[:-1]] + groups[-1:])


def number_field(number: int, value: int) -> bytes:
    """A uint32 field of a request (proto3 leaves out 0)."""
    return _varint_bytes(number << 3) + _varint_bytes(value) if value else b""


def bytes_field(number: int, data: bytes) -> bytes:
    return _varint_bytes(number << 3 | LENGTH_DELIMITED) + _varint_bytes(len(data)) + data
