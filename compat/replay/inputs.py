"""Input files the scenarios name, made on the fly with fixed (seeded) contents.

A data table keyed by file-name pattern. Files not in the table are never created (``up.bin``
must not exist before an upload); a download file with no recipe is a replay error.
The shapes come from what the recorded transcripts print about each file (sizes, suffix IDs,
DfuSe targets); the bytes themselves are arbitrary.
"""
from __future__ import annotations

import random
import re
import struct
import zlib
from pathlib import Path
from typing import Callable, Optional


class InputError(ValueError):
    """A scenario names an input file the replay has no recipe for."""


def seeded_bytes(name: str, size: int) -> bytes:
    # str seeds are hashed with SHA-512 by random: same bytes on every run and platform
    return random.Random(f"particle-py compat input {name}").randbytes(size)


def dfu_crc(data: bytes) -> int:
    """dfu-util's suffix CRC: CRC-32 without the final inversion."""
    return zlib.crc32(data) ^ 0xFFFFFFFF


def with_suffix(payload: bytes, vendor: int, product: int, bcd_device: int = 0xFFFF,
                bcd_dfu: int = 0x0100) -> bytes:
    """Append a DFU suffix the way `dfu-suffix -a` does."""
    body = payload + struct.pack("<HHHH", bcd_device, product, vendor, bcd_dfu) + b"UFD" + bytes([16])
    return body + struct.pack("<I", dfu_crc(body))


def dfuse_file(targets: list, vendor: int, product: int, name: bytes = b"ST...") -> bytes:
    """A DfuSe (UM0391) file as dfuse-pack.py writes it; targets = [(alt, [(address, data), ...])]."""
    images = b""
    for alt, elements in targets:
        body = b"".join(struct.pack("<II", address, len(data)) + data for address, data in elements)
        images += struct.pack("<6sBI255sII", b"Target", alt, 1, name, len(body), len(elements)) + body
    prefix = struct.pack("<5sBIB", b"DfuSe", 1, 11 + len(images), len(targets))
    return with_suffix(prefix + images, vendor, product, bcd_device=0x0000, bcd_dfu=0x011A)


def _sized(size: int) -> Callable[[str], bytes]:
    return lambda name: seeded_bytes(name, size)


PHOTON = (0x2B04, 0xD006)

# (pattern, how to make it, what it is) -- first match wins
RECIPES: list = [
    (r"fw(\d+)\.bin", lambda name, m: seeded_bytes(name, int(m.group(1))),
     "N arbitrary bytes"),
    (r"fw(\d+)k\.bin", lambda name, m: seeded_bytes(name, int(m.group(1)) * 1000),
     "N*1000 arbitrary bytes (fw10k.bin = 10000, as its 'size = 10000' lines show)"),
    (r"fw_suf\.bin", lambda name, m: with_suffix(seeded_bytes(name, 10000), *PHOTON),
     "10000 bytes + DFU suffix 2b04:d006"),
    (r"fw_bad\.bin", lambda name, m: with_suffix(seeded_bytes(name, 10000), 0x1234, 0x5678),
     "10000 bytes + DFU suffix 1234:5678 (IDs that match no device)"),
    (r"dct\.bin", lambda name, m: seeded_bytes(name, 100),
     "100 bytes (the DCT scenarios print size = 100)"),
    (r"one\.dfu", lambda name, m: dfuse_file([(0, [(0x08020000, seeded_bytes(name + "/0", 10000))])], *PHOTON),
     "DfuSe file, one target: alt 0, 10000 bytes at 0x08020000; suffix 2b04:d006"),
    (r"two\.dfu", lambda name, m: dfuse_file([(0, [(0x08020000, seeded_bytes(name + "/0", 10000))]),
                                              (1, [(0x00000000, seeded_bytes(name + "/1", 100))])], *PHOTON),
     "DfuSe file, target 'ST...' alt 0: 10000 bytes at 0x08020000, alt 1: 100 bytes at 0; suffix 2b04:d006"),
]


def recipe_for(name: str) -> Optional[Callable[[], bytes]]:
    base = Path(name).name
    for pattern, make, _ in RECIPES:
        m = re.fullmatch(pattern, base)
        if m:
            return lambda make=make, m=m: make(base, m)
    return None


def make_inputs(argv: list, folder: Path, must_exist: Optional[str] = None) -> list:
    """Create every argument that names a known input file; ``must_exist`` (the -D file) needs
    a recipe. Returns the files made."""
    made = []
    words = [w for w in argv[1:] if w and w != "-"]
    if must_exist and must_exist != "-" and must_exist not in words:
        words.append(must_exist)
    for word in words:
        make = recipe_for(word)
        if make is not None and (Path(word).is_absolute() or ".." in Path(word).parts):
            make = None  # never write outside the scenario's folder
        if make is None:
            if word == must_exist:
                raise InputError(f"no recipe for input file {word!r} (known: "
                                 + ", ".join(p for p, _, _ in RECIPES) + ")")
            continue
        path = folder / word
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(make())
        made.append(path)
    return made
