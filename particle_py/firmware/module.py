"""Particle firmware module parsing: the 24-byte prefix, the suffix and the CRC.

Layout (binary-version-reader's HalModuleParser, Device OS module_info_t):
prefix (little-endian) at a platform-dependent file offset, suffix read backwards from the
end of the file, CRC-32 (zlib) of everything but the last 4 bytes, stored big-endian.

``parse`` accepts any bytes and never raises: what it cannot find is ``None``. Checks that
decide whether a module may be flashed live in ``firmware.checks``.
"""
from __future__ import annotations

import hashlib
import struct
import zlib
from dataclasses import dataclass, field
from typing import Optional

from particle_py.module_layout import NO_SUFFIX, PREFIX_FORMAT, PREFIX_SIZE, ModuleFunction

SUFFIX_MIN_SIZE = 40          # product id .. suffix size, the CRC not included
NOT_A_PRODUCT = 0xFFFF

# Offsets where known platforms place the prefix, tried before the scan:
# start of file, Gen2 (after the vector table), Gen3, Core, Bluz.
KNOWN_PREFIX_OFFSETS = (0, 0x184, 0x200, 0x10C, 0xC0)
SCAN_LIMIT = 8192
SCORE_PASSED = 6           # every plausibility point below


FUNCTION_NAMES = {
    0: "none", 1: "resource", 2: "bootloader", 3: "monolithic firmware", 4: "system part",
    5: "user part", 6: "settings", 7: "NCP firmware", 8: "radio stack", 9: "asset",
}

# particle-cli's wording, indexed by module function.
FUNCTION_PHRASES = (
    "an unknown module", "a reserved module", "a bootloader", "a monolithic firmware",
    "a system module", "an application module", "a settings module",
    "a network coprocessor (NCP) module", "a radio stack module", "an asset module",
)


class ModuleFlags:
    DROP_MODULE_INFO = 0x01
    COMPRESSED = 0x02
    COMBINED = 0x04
    ENCRYPTED = 0x08
    PREFIX_EXTENSIONS = 0x10
    KNOWN = 0x1F


EXTENSION_NAMES = {
    0x0000: "END", 0x0001: "PRODUCT_DATA", 0x0002: "DYNAMIC_LOCATION", 0x0003: "DEPENDENCY",
    0x0010: "HASH", 0x0011: "NAME", 0x0012: "ASSET_DEPENDENCY", 0x0013: "SECURITY_MODE",
    0x0014: "ASSET_TYPE", 0xFFFF: "INVALID",
}


@dataclass(frozen=True)
class Dependency:
    function: int
    index: int
    version: int


@dataclass(frozen=True)
class ModulePrefix:
    offset: int                 # where in the file the prefix was found
    start: int                  # module start address = DFU destination
    end: int                    # address of the CRC; module size is end - start + 4
    mcu: int
    flags: int
    version: int
    platform_id: int
    function: int
    index: int
    dependencies: tuple[Dependency, ...]   # only the ones whose function is not NONE
    score: int

    @property
    def size(self) -> int:
        return self.end - self.start + 4

    @property
    def drop_module_info(self) -> bool:
        return bool(self.flags & ModuleFlags.DROP_MODULE_INFO)


@dataclass(frozen=True)
class Extension:
    type: int
    data: bytes

    @property
    def name(self) -> str:
        return EXTENSION_NAMES.get(self.type, "0x%04x" % self.type)


@dataclass(frozen=True)
class ModuleSuffix:
    size: int                   # suffixSize field; NO_SUFFIX when the file carries no info
    product_id: int             # -1 when absent, NOT_A_PRODUCT when not a product firmware
    product_version: int
    reserved: int
    sha256: bytes
    extensions: tuple[Extension, ...] = ()


@dataclass(frozen=True)
class FirmwareModule:
    data: bytes
    prefix: Optional[ModulePrefix]
    suffix: Optional[ModuleSuffix]
    stored_crc: Optional[int]
    actual_crc: Optional[int]
    # A prefix that would be valid but claims more bytes than the file has.
    truncated_prefix: Optional[ModulePrefix] = None
    notes: tuple[str, ...] = field(default=())

    @property
    def crc_ok(self) -> bool:
        return self.stored_crc is not None and self.stored_crc == self.actual_crc

    @property
    def sha256_ok(self) -> Optional[bool]:
        """True/False when the suffix carries a hash, None when there is none to check."""
        if self.suffix is None or self.suffix.size == NO_SUFFIX or len(self.data) < 38:
            return None
        return hashlib.sha256(self.data[:-38]).digest() == self.suffix.sha256

    @property
    def has_info(self) -> bool:
        return self.prefix is not None and self.suffix is not None and self.suffix.size != NO_SUFFIX

    def payload(self) -> bytes:
        """The bytes that go to flash at ``prefix.start`` (the prefix dropped when flagged)."""
        if self.prefix is not None and self.prefix.drop_module_info:
            return self.data[self.prefix.offset + PREFIX_SIZE:]
        return self.data


def crc32(data: bytes) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def _read_prefix(data: bytes, offset: int) -> Optional[tuple]:
    if offset < 0 or offset + PREFIX_SIZE > len(data):
        return None
    return struct.unpack_from(PREFIX_FORMAT, data, offset)


def _score(fields: tuple, file_len: int, check_length: bool = True) -> Optional[int]:
    """Plausibility of a prefix candidate; None when it cannot be a prefix at all."""
    from particle_py.platforms import by_id

    (start, end, _mcu, flags, _version, platform_id, function, _index,
     d1f, d1i, d1v, d2f, d2i, d2v) = fields
    if end <= start or function == ModuleFunction.NONE:
        return None
    if check_length and file_len < end - start + 4:
        return None
    for dep_function, dep_index, dep_version in ((d1f, d1i, d1v), (d2f, d2i, d2v)):
        if dep_function == ModuleFunction.NONE and (dep_index or dep_version):
            return None
    known = FUNCTION_NAMES.keys()
    score = 0
    score += by_id(platform_id) is not None
    score += function in known
    score += d1f in known
    score += d2f in known
    score += file_len == end - start + 4
    score += (flags & ~ModuleFlags.KNOWN) == 0
    return score


def _make_prefix(fields: tuple, offset: int, score: int) -> ModulePrefix:
    (start, end, mcu, flags, version, platform_id, function, index,
     d1f, d1i, d1v, d2f, d2i, d2v) = fields
    deps = tuple(Dependency(f, i, v) for f, i, v in ((d1f, d1i, d1v), (d2f, d2i, d2v))
                 if f != ModuleFunction.NONE)
    return ModulePrefix(offset, start, end, mcu, flags, version, platform_id, function, index, deps, score)


def find_prefix(data: bytes) -> Optional[ModulePrefix]:
    """The module prefix: a known offset that passes every plausibility point, else the
    best-scoring candidate of a 4-byte-aligned scan over the first 8 KiB."""
    best: Optional[ModulePrefix] = None
    for offset in KNOWN_PREFIX_OFFSETS:
        fields = _read_prefix(data, offset)
        if fields is None:
            continue
        score = _score(fields, len(data))
        if score is None:
            continue
        if score >= SCORE_PASSED:
            return _make_prefix(fields, offset, score)
        if best is None or score > best.score:
            best = _make_prefix(fields, offset, score)
    for offset in range(0, min(SCAN_LIMIT, len(data) - PREFIX_SIZE + 1), 4):
        fields = _read_prefix(data, offset)
        score = _score(fields, len(data))
        if score is not None and (best is None or score > best.score):
            best = _make_prefix(fields, offset, score)
            if score >= SCORE_PASSED:
                break
    # A lone weak candidate is more likely noise than a module header.
    if best is not None and best.score < 4:
        return None
    return best


def _find_truncated_prefix(data: bytes) -> Optional[ModulePrefix]:
    """A prefix at a known offset that is plausible except that the file is too short."""
    for offset in KNOWN_PREFIX_OFFSETS:
        fields = _read_prefix(data, offset)
        if fields is None:
            continue
        score = _score(fields, len(data), check_length=False)
        # Full marks minus the size point: platform, function, deps and flags all known.
        if score is not None and score >= SCORE_PASSED - 1:
            return _make_prefix(fields, offset, score)
    return None


def _parse_extensions(blob: bytes) -> tuple[Extension, ...]:
    out = []
    pos = 0
    while pos + 4 <= len(blob):
        ext_type, length = struct.unpack_from("<HH", blob, pos)
        if length < 4 or pos + length > len(blob):
            break
        out.append(Extension(ext_type, bytes(blob[pos + 4:pos + length])))
        pos += length
        if ext_type == 0:
            break
    return tuple(out)


def parse_suffix(data: bytes) -> Optional[ModuleSuffix]:
    n = len(data)
    if n < 4 + SUFFIX_MIN_SIZE:
        return None
    size = struct.unpack_from("<H", data, n - 6)[0]
    if size == NO_SUFFIX:
        return ModuleSuffix(size, -1, -1, 0, b"")
    sha = bytes(data[n - 38:n - 6])
    reserved = struct.unpack_from("<H", data, n - 40)[0]
    if size >= SUFFIX_MIN_SIZE:
        product_id, product_version = struct.unpack_from("<HH", data, n - 44)
    else:
        product_id = product_version = -1
    extensions: tuple[Extension, ...] = ()
    if SUFFIX_MIN_SIZE < size <= n - 4:
        extensions = _parse_extensions(data[n - 4 - size:n - 4 - SUFFIX_MIN_SIZE])
    return ModuleSuffix(size, product_id, product_version, reserved, sha, extensions)


def parse(data: bytes) -> FirmwareModule:
    data = bytes(data)
    prefix = find_prefix(data)
    suffix = parse_suffix(data)
    if len(data) >= 4:
        stored = struct.unpack_from(">I", data, len(data) - 4)[0]
        actual = crc32(data[:-4])
    else:
        stored = actual = None
    truncated = _find_truncated_prefix(data) if prefix is None else None
    return FirmwareModule(data, prefix, suffix, stored, actual, truncated)


def parse_file(path) -> FirmwareModule:
    with open(path, "rb") as fh:
        return parse(fh.read())
