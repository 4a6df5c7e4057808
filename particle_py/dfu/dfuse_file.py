"""DfuSe ``.dfu`` files (ST UM0391): a prefix, targets (one per alt setting) and their elements.

``iter_file(payload)`` walks a file the way dfu-util does, yielding one item per step so a
caller can act (and report) between steps; a malformed file raises DfuseFileError at the
point where dfu-util would stop. ``parse(payload)`` collects everything; ``build(...)`` writes
a file.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Iterator, Optional, Union

from ..errors import EX_DATAERR, EX_NOINPUT, ParticlePyError
from . import suffix as suffix_mod

PREFIX_SIZE = 11
TARGET_PREFIX_SIZE = 274
ELEMENT_HEADER_SIZE = 8

_TEXTS = {
    "too_small": ("File too small for a DfuSe file", EX_DATAERR),
    "bad_signature": ("No valid DfuSe signature", EX_DATAERR),
    "bad_revision": ("DFU format revision %i not supported", EX_DATAERR),
    "bad_target": ("No valid target signature", EX_DATAERR),
    "element_too_big": ("File too small for element size", EX_DATAERR),
    "corrupt": ("Corrupt DfuSe file: Cannot read %d bytes from %d bytes", EX_NOINPUT),
}


class DfuseFileError(ParticlePyError):
    def __init__(self, key: str, *args: int):
        text, code = _TEXTS[key]
        super().__init__(text % args if args else text, None, code)
        self.key = key
        self.args_ = args


@dataclass(frozen=True)
class ImageCount:
    count: int


@dataclass(frozen=True)
class Target:
    index: int                 # 1-based, as dfu-util counts
    alt: int
    named: bool
    name: str
    element_count: int
    size: int


@dataclass(frozen=True)
class Element:
    index: int                 # 1-based within its target
    address: int
    size: int
    data: Optional[bytes]      # None: the file ends before the element does (an error follows)


@dataclass(frozen=True)
class Leftover:
    count: int


Item = Union[ImageCount, Target, Element, Leftover]


def iter_file(payload: bytes) -> Iterator[Item]:
    data = bytes(payload)
    pos = 0

    def take(n: int) -> bytes:
        nonlocal pos
        rem = len(data) - pos
        if n > rem:
            raise DfuseFileError("corrupt", n, rem)
        chunk = data[pos:pos + n]
        pos += n
        return chunk

    if len(data) < PREFIX_SIZE + TARGET_PREFIX_SIZE + ELEMENT_HEADER_SIZE:
        raise DfuseFileError("too_small")
    prefix = take(PREFIX_SIZE)
    if prefix[:5] != b"DfuSe":
        raise DfuseFileError("bad_signature")
    if prefix[5] != 0x01:
        raise DfuseFileError("bad_revision", prefix[5])
    targets = prefix[10]
    yield ImageCount(targets)
    for image in range(1, targets + 1):
        tp = take(TARGET_PREFIX_SIZE)
        if tp[:6] != b"Target":
            raise DfuseFileError("bad_target")
        raw_name = tp[11:266].split(b"\0", 1)[0]
        count = struct.unpack("<I", tp[270:274])[0]
        yield Target(image, tp[6], bool(tp[7]), raw_name.decode("latin-1"), _i32(count),
                     _i32(struct.unpack("<I", tp[266:270])[0]))
        for element in range(1, _i32(count) + 1):
            address = struct.unpack("<I", take(4))[0]
            size = struct.unpack("<I", take(4))[0]
            if _i32(size) > len(data) - pos:
                # dfu-util names the element before it notices the file is too short
                yield Element(element, address, _i32(size), None)
                raise DfuseFileError("element_too_big")
            yield Element(element, address, _i32(size), data[pos:pos + max(_i32(size), 0)])
            pos += max(_i32(size), 0)
    if pos != len(data):
        yield Leftover(len(data) - pos)


def _i32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


@dataclass
class DfuseImage:
    targets: list = field(default_factory=list)     # [(Target, [Element, ...])]
    leftover: int = 0


def parse(payload: bytes) -> DfuseImage:
    image = DfuseImage()
    for item in iter_file(payload):
        if isinstance(item, Target):
            image.targets.append((item, []))
        elif isinstance(item, Element):
            image.targets[-1][1].append(item)
        elif isinstance(item, Leftover):
            image.leftover = item.count
    return image


def build(targets: list[tuple[int, list[tuple[int, bytes]]]], vendor: int = 0xFFFF, product: int = 0xFFFF,
          bcd_device: int = 0, target_name: str = "ST...") -> bytes:
    """A complete .dfu file (with its DFU suffix), like dfuse-pack.py writes.

    ``targets``: [(alt, [(address, data), ...]), ...].
    """
    body = b""
    for alt, elements in targets:
        elems = b"".join(struct.pack("<II", addr, len(blob)) + blob for addr, blob in elements)
        name = target_name.encode("latin-1")[:254].ljust(255, b"\0")
        body += b"Target" + bytes([alt]) + struct.pack("<I", 1) + name + struct.pack("<II", len(elems),
                                                                                      len(elements)) + elems
    prefix = b"DfuSe" + bytes([1]) + struct.pack("<I", PREFIX_SIZE + len(body)) + bytes([len(targets)])
    return suffix_mod.make_suffix(prefix + body, vendor, product, bcd_device, 0x011A)
