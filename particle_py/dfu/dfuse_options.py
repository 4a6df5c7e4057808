"""The ``-s``/``--dfuse-address`` string: ``[ADDRESS][:MODIFIER...]`` (dfu-util dfuse.c).

Numbers follow C's strtoul with base 0 (``0x`` hex, leading ``0`` octal). Unlike dfu-util,
which compares only as many characters as the user typed and then skips the full keyword
(reading past the string: undefined behaviour), modifiers must be whole words here
(docs/dfu-util-differences.md).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from ..errors import EX_USAGE, ParticlePyError
from .. import cnum

ALL_MODIFIERS = ("force", "leave", "unprotect", "mass-erase", "will-reset")


class DfuseOptionError(ParticlePyError):
    def __init__(self, key: str, rest: str):
        text = {"address": "Invalid dfuse address: %s", "modifier": "Invalid dfuse modifier: %s"}[key] % rest
        super().__init__(text, None, EX_USAGE)
        self.key = key
        self.rest = rest


@dataclass
class DfuseOptions:
    address: Optional[int] = None       # None = no address given
    length: int = 0                     # upload length, 0 = not given
    force: int = 0
    leave: bool = False
    unprotect: bool = False
    mass_erase: bool = False
    will_reset: bool = False


def c_strtoul(text: str) -> tuple[int, int]:
    """strtoul(text, &end, 0) on LP64, truncated to unsigned int: (value, end index)."""
    value, end = cnum.c_strtoul(text, 0)
    return value & 0xFFFFFFFF, end


def parse(text: str, *, modifiers: tuple[str, ...] = ALL_MODIFIERS, zero_is_absent: bool = False) -> DfuseOptions:
    """Parse a ``-s`` string. ``modifiers``: the keywords this dfu-util version knows;
    ``zero_is_absent``: 0.8/0.9 treat address 0 as "no address"."""
    opts = DfuseOptions()
    rest = text
    if not rest.startswith(":"):
        colon = rest.find(":")
        endword = len(rest) if colon < 0 else colon
        number, end = c_strtoul(rest[:endword] + "\0")
        if end != endword:
            raise DfuseOptionError("address", rest)
        if not (zero_is_absent and number == 0):
            opts.address = number
        rest = rest[endword:]
    while rest:
        if rest[0] == ":":
            rest = rest[1:]
            continue
        colon = rest.find(":")
        word = rest if colon < 0 else rest[:colon]
        if word in modifiers:
            attr = word.replace("-", "_")
            if word == "force":
                opts.force += 1
            else:
                setattr(opts, attr, True)
        else:
            number, end = c_strtoul(word + "\0")
            if end != len(word):
                raise DfuseOptionError("modifier", rest)
            opts.length = number
        rest = rest[len(word):]
    return opts
