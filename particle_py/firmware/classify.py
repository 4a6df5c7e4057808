"""What a file the user gave is, before any device is touched, and reading it safely.

``read_input_file`` takes only regular files and never reads more than the largest thing
that could be meant (a FIFO would block for ever, ``/dev/zero`` never ends, a 3 GB file is
not firmware). ``classify`` names a file's kind in words for error messages: a firmware
module for some platform, a device private key, a public key, a DFU file, an empty file.
"""
from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Optional

from particle_py.errors import ParticlePyError

KEY_FILE_MAX = 64 * 1024            # PEM/DER keys and server-key blobs are a few KiB at most
DFU_UTIL_FILE_MAX = 64 * 1024 * 1024  # dfu-util serves any DFU device: far above any Particle flash

_KIND_WORDS = {stat.S_IFDIR: "a folder", stat.S_IFIFO: "a FIFO (named pipe)", stat.S_IFCHR: "a character device",
               stat.S_IFBLK: "a block device", stat.S_IFSOCK: "a socket"}


class InputFileError(ParticlePyError):
    """A file that cannot be read as given; ``reason`` is the short cause (for dfu-util's wording)."""

    def __init__(self, message: str, hint: Optional[str], reason: str):
        super().__init__(message, hint, 1)
        self.reason = reason


_largest_region: Optional[int] = None


def largest_firmware() -> int:
    """The biggest DFU memory area of any platform in the table: no firmware file can be larger."""
    global _largest_region
    if _largest_region is None:
        from particle_py.dfu import layout
        from particle_py.platforms import by_name, names

        biggest = 0
        for name in names():
            for text in by_name(name).dfu_layouts:
                parsed = layout.parse(text)
                biggest = max(biggest, sum(s.end - s.start + 1 for s in parsed.segments))
        _largest_region = biggest
    return _largest_region


def read_input_file(path, limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes, or InputFileError saying why not."""
    name = os.fspath(path)
    try:
        info = os.stat(name)
    except OSError as exc:
        raise InputFileError(f"Could not read {name}: {exc.strerror or exc}",
                             f"Check the path of the {what}.", exc.strerror or str(exc)) from None
    if not stat.S_ISREG(info.st_mode):
        kind = _KIND_WORDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise InputFileError(f"{name} is {kind}, not a {what}", f"Give the path of a {what}.",
                             "Not a regular file")
    if info.st_size > limit:
        raise InputFileError(f"{name} is {info.st_size} bytes, more than any {what} can be ({limit} bytes)",
                             f"Check that {name} is the {what} you meant.", "File too large")
    try:
        with open(name, "rb") as fh:
            data = fh.read(limit + 1)
    except OSError as exc:
        raise InputFileError(f"Could not read {name}: {exc.strerror or exc}",
                             f"Check the path of the {what} and that you may read it.",
                             exc.strerror or str(exc)) from None
    if len(data) > limit:                  # grew while we looked (a log file, a special file system)
        raise InputFileError(f"{name} is more than {limit} bytes, more than any {what} can be",
                             f"Check that {name} is the {what} you meant.", "File too large")
    return data


@dataclass(frozen=True)
class FileKind:
    kind: str               # 'empty', 'module', 'private-key', 'public-key', 'dfu-file', 'other'
    description: str        # "a device private key (EC, SEC1 EC private key)"

    def __str__(self) -> str:
        return self.description


def classify(data: bytes) -> FileKind:
    """The file's kind from its bytes alone (no key is loaded, nothing is imported heavily)."""
    if not data:
        return FileKind("empty", "an empty file")
    key = _key_kind(data)
    if key is not None:
        return key
    from particle_py.firmware.module import FUNCTION_PHRASES, parse

    module = parse(data)
    if module.prefix is not None:
        from particle_py.platforms import by_id

        function = module.prefix.function
        phrase = FUNCTION_PHRASES[function] if 0 <= function < len(FUNCTION_PHRASES) else "a module"
        built = by_id(module.prefix.platform_id)
        where = built.display_name if built else f"platform {module.prefix.platform_id}"
        return FileKind("module", f"a Particle firmware module ({phrase} for {where})")
    if data[:5] == b"DfuSe" or data[-8:-5] == b"UFD":
        return FileKind("dfu-file", "a DFU file")
    return FileKind("other", f"{len(data)} bytes that are neither a key nor a Particle firmware module")


def _key_kind(data: bytes) -> Optional[FileKind]:
    from particle_py.keys import formats

    found = formats.recognise(data)
    if found is None:
        return None
    kind, alg, encoding = found
    alg_words = "RSA" if alg == "rsa" else "EC"
    if formats.is_private(kind):
        return FileKind("private-key", f"a private key ({alg_words}, {kind}, {encoding})")
    return FileKind("public-key", f"a public key ({alg_words}, {kind}, {encoding})")


def _nameable(data: bytes) -> Optional[str]:
    """The file's kind in words when it is something a key file is mistaken for."""
    kind = classify(data)
    return str(kind) if kind.kind in ("empty", "module", "dfu-file") else None


def parse_key_file(data: bytes, name: str):
    """``keys.formats.parse_key`` of a file the user gave: a refusal says what the file is instead
    (an empty file, a firmware module, a DFU file)."""
    from particle_py.keys import formats

    return formats.parse_key(data, name, identify=_nameable)
