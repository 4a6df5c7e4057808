"""DFU file suffix (last 16 bytes) and the prefixes dfu-util recognises (TI Stellaris, NXP LPC).

``load(data)`` checks a firmware image the way dfu-util's dfu_load_file does and returns a
``DfuFile``: payload boundaries, suffix fields, and the reason a suffix is missing (dfu-util
only warns about that). Malformed suffix lengths raise SuffixError.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Optional

from ..errors import EX_DATAERR, ParticlePyError

SUFFIX_LENGTH = 16
SIGNATURE = b"UFD"
ANY_ID = 0xFFFF

TOO_SHORT = "File too short for DFU suffix"
BAD_SIGNATURE = "Invalid DFU suffix signature"
BAD_CRC = "DFU suffix CRC does not match"

LMDFU_PREFIX = "lmdfu"           # TI Stellaris: 8 bytes
LPC_PREFIX = "lpc"               # NXP LPC unencrypted: 16 bytes


class SuffixError(ParticlePyError):
    """A DFU suffix that claims to be one but cannot be used."""

    def __init__(self, key: str, value: int):
        text = {"unsupported_length": "Unsupported DFU suffix length %d",
                "invalid_length": "Invalid DFU suffix length %d"}[key] % value
        super().__init__(text, None, EX_DATAERR)
        self.key = key
        self.value = value


def crc32(data: bytes) -> int:
    """The suffix CRC: reflected CRC-32 without the final XOR."""
    return zlib.crc32(data) ^ 0xFFFFFFFF


@dataclass(frozen=True)
class DfuFile:
    data: bytes
    suffix_length: int = 0
    prefix_length: int = 0
    prefix_type: Optional[str] = None
    bcd_device: int = ANY_ID
    product: int = ANY_ID
    vendor: int = ANY_ID
    bcd_dfu: int = 0
    crc: Optional[int] = None
    missing_reason: Optional[str] = None      # why there is no suffix (None = a valid suffix)
    lmdfu_address: int = 0

    @property
    def has_suffix(self) -> bool:
        return self.missing_reason is None

    @property
    def payload(self) -> bytes:
        """The bytes after the prefix and before the suffix (what DfuSe raw download writes)."""
        return self.data[self.prefix_length:len(self.data) - self.suffix_length]

    @property
    def without_suffix(self) -> bytes:
        """The bytes before the suffix, prefix kept (what plain DFU download sends)."""
        return self.data[:len(self.data) - self.suffix_length]

    @property
    def is_dfuse(self) -> bool:
        return self.bcd_dfu == 0x011A


def load(data: bytes) -> DfuFile:
    """Check ``data`` for a DFU suffix and a prefix, as dfu-util does when loading a file."""
    data = bytes(data)
    fields: dict = {}
    missing = None
    if len(data) < SUFFIX_LENGTH:
        missing = TOO_SHORT
    else:
        tail = data[-SUFFIX_LENGTH:]
        if tail[8:11] != SIGNATURE:
            missing = BAD_SIGNATURE
        else:
            stored = struct.unpack("<I", tail[12:16])[0]
            if stored != crc32(data[:-4]):
                missing = BAD_CRC
            else:
                bcd_device, product, vendor, bcd_dfu = struct.unpack("<HHHH", tail[:8])
                length = tail[11]
                if length < SUFFIX_LENGTH:
                    raise SuffixError("unsupported_length", length)
                if length > len(data):
                    raise SuffixError("invalid_length", length)
                fields = dict(suffix_length=length, bcd_device=bcd_device, product=product, vendor=vendor,
                              bcd_dfu=bcd_dfu, crc=stored)
    result = DfuFile(data, missing_reason=missing, **fields)
    return _probe_prefix(result)


def _probe_prefix(f: DfuFile) -> DfuFile:
    data, end = f.data, len(f.data) - f.suffix_length
    if end >= 8 and data[0] == 0x01 and data[1] == 0x00:
        payload_len = struct.unpack("<I", data[4:8])[0]
        if payload_len == end - 8:
            address = struct.unpack("<H", data[2:4])[0] * 1024
            return DfuFile(**{**f.__dict__, "prefix_length": 8, "prefix_type": LMDFU_PREFIX,
                              "lmdfu_address": address})
    if end >= 16 and data[0] == 0x1A and data[1] == 0x3F and data[12:16] == b"\xff\xff\xff\xff":
        return DfuFile(**{**f.__dict__, "prefix_length": 16, "prefix_type": LPC_PREFIX})
    return f


def make_suffix(payload: bytes, vendor: int = ANY_ID, product: int = ANY_ID, bcd_device: int = ANY_ID,
                bcd_dfu: int = 0x0100) -> bytes:
    """``payload`` with a valid DFU suffix appended."""
    head = bytes(payload) + struct.pack("<HHHH", bcd_device, product, vendor, bcd_dfu) + SIGNATURE + bytes([16])
    return head + struct.pack("<I", crc32(head))
