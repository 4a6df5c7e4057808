"""A device's DfuSe memory map as pages, for the checks and smart flashing.

The layout strings are parsed by ``particle_py.dfu.layout``; this only flattens the result
into pages and answers the questions flashing asks (is this range writable, which pages does
it touch).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional


@dataclass(frozen=True)
class Page:
    start: int
    size: int
    readable: bool
    erasable: bool
    writable: bool

    @property
    def end(self) -> int:
        return self.start + self.size


class MemoryMap:
    def __init__(self, name: str, pages: list[Page]):
        self.name = name
        self.pages = sorted(pages, key=lambda p: p.start)

    @classmethod
    def from_layout_string(cls, layout: str, source: str = "The device") -> "MemoryMap":
        from particle_py.dfu import layout as dfu_layout

        # bounded before one Page per page is made (a string can claim 99999999 pages)
        parsed = dfu_layout.check_usable(dfu_layout.parse(layout), layout, source)
        pages = []
        for seg in _segments(parsed):
            start, count, size = seg["start"], seg["count"], seg["page_size"]
            for i in range(count):
                pages.append(Page(start + i * size, size, seg["readable"], seg["erasable"], seg["writable"]))
        return cls(parsed.name or layout, pages)

    @property
    def base(self) -> int:
        return self.pages[0].start if self.pages else 0

    @property
    def end(self) -> int:
        return self.pages[-1].end if self.pages else 0

    def page_at(self, address: int) -> Optional[Page]:
        for p in self.pages:
            if p.start <= address < p.end:
                return p
        return None

    def contains(self, address: int) -> bool:
        return self.page_at(address) is not None

    def pages_overlapping(self, start: int, end: int) -> list[Page]:
        return [p for p in self.pages if p.start < end and start < p.end]

    def first_gap(self, start: int, end: int, need: str = "writable") -> Optional[int]:
        """The first address in [start, end) not covered by a page with ``need``; None if all are."""
        addr = start
        for p in self.pages_overlapping(start, end):
            if p.start > addr or not getattr(p, need):
                return addr
            addr = p.end
        return None if addr >= end else addr

    def all(self, start: int, end: int, need: str) -> bool:
        return self.first_gap(start, end, need) is None


def _segments(parsed) -> list[dict]:
    """dfu.layout segments (inclusive ``end``, ``writeable``) as plain page runs."""
    out = []
    for seg in parsed.segments:
        count = seg.count or (seg.end - seg.start + 1) // seg.page_size
        out.append({"start": seg.start, "count": count, "page_size": seg.page_size,
                    "readable": seg.readable, "erasable": seg.erasable, "writable": seg.writeable})
    return out
