"""The device's own reading of its DfuSe memory-layout string (stdlib only).

This is deliberately separate from the client-side parser in ``particle_py.dfu``: the
simulated device decides what it accepts from its own reading, so a bug in either parser
shows up as a disagreement in tests instead of cancelling out.

Grammar (as STM32/Particle bootloaders advertise it in iInterface):
``@<name>/0x<addr>/<n>*<size><mult><type>[,<n>*<size><mult><type>...][/0x<addr>/...]``
with mult ``B``/``K``/``M`` (anything else, e.g. the space in STM32's ``01*016 e``, means
bytes) and type a letter ``a``-``g`` whose low three bits are readable/erasable/writable.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

READABLE = 1
ERASABLE = 2
WRITABLE = 4

_MULTIPLIERS = {"B": 1, "K": 1024, "M": 1024 * 1024}
_SEGMENT = re.compile(r"\s*(\d+)\s*\*\s*(\d+)\s*(.)\s*([a-g])?\s*$")


class LayoutError(ValueError):
    """The string is not a DfuSe memory layout the device could have advertised."""


@dataclass(frozen=True)
class Sector:
    """A run of equally sized pages with the same access rights."""
    start: int
    count: int
    page_size: int
    access: int

    @property
    def end(self) -> int:          # exclusive
        return self.start + self.count * self.page_size

    @property
    def readable(self) -> bool:
        return bool(self.access & READABLE)

    @property
    def erasable(self) -> bool:
        return bool(self.access & ERASABLE)

    @property
    def writable(self) -> bool:
        return bool(self.access & WRITABLE)


@dataclass(frozen=True)
class Layout:
    name: str
    sectors: tuple[Sector, ...]

    def sector_at(self, address: int):
        for s in self.sectors:
            if s.start <= address < s.end:
                return s
        return None

    def page_bounds(self, address: int):
        """(start, size) of the page holding ``address``, or None outside the map."""
        s = self.sector_at(address)
        if s is None:
            return None
        index = (address - s.start) // s.page_size
        return s.start + index * s.page_size, s.page_size

    @property
    def base(self) -> int:
        return min(s.start for s in self.sectors)

    @property
    def end(self) -> int:
        return max(s.end for s in self.sectors)


def parse(text: str) -> Layout:
    """Parse an iInterface DfuSe string; raise LayoutError if it is not one."""
    if not text.startswith("@") or "/" not in text:
        raise LayoutError(f"not a DfuSe layout: {text!r}")
    name, rest = text[1:].split("/", 1)
    blocks = ("/" + rest).split("/")[1:]
    if len(blocks) % 2:
        raise LayoutError(f"address without segments in {text!r}")
    sectors: list[Sector] = []
    for addr_text, seg_text in zip(blocks[0::2], blocks[1::2]):
        if not re.fullmatch(r"0x[0-9A-Fa-f]+", addr_text.strip()):
            raise LayoutError(f"bad address {addr_text!r} in {text!r}")
        address = int(addr_text.strip(), 16)
        for part in seg_text.split(","):
            m = _SEGMENT.match(part)
            if not m:
                raise LayoutError(f"bad segment {part!r} in {text!r}")
            count, size, mult, letter = int(m.group(1)), int(m.group(2)), m.group(3), m.group(4)
            if letter is None:
                # "016g": the letter sits where the multiplier goes; the size is in bytes
                if mult in "abcdefg":
                    letter, mult = mult, "B"
                else:
                    raise LayoutError(f"no access type in segment {part!r}")
            page = size * _MULTIPLIERS.get(mult, 1)
            if count <= 0 or page <= 0:
                raise LayoutError(f"empty segment {part!r} in {text!r}")
            access = (ord(letter) - ord("a") + 1) & 7
            sectors.append(Sector(address, count, page, access))
            address += count * page
    if not sectors:
        raise LayoutError(f"no segments in {text!r}")
    return Layout(name, tuple(sectors))
