"""DfuSe memory layout strings (the alt setting's iInterface string), parsed as dfu-util does.

``@Internal Flash   /0x08000000/03*016Ka,01*016Kg,01*064Kg,07*128Kg``: a name, then address
blocks each followed by ``N*SIZE<multiplier><type>`` segments. The parser follows dfu-util's
dfuse_mem.c sscanf loop, including its warnings (returned as data in ``notes``, in the order
dfu-util prints them) and its tolerance of odd strings such as STM32's ``01*016 e``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from ..errors import EX_IOERR, ParticlePyError

READABLE, ERASABLE, WRITEABLE = 1, 2, 4
_MULTIPLIERS = {"B": 1, "K": 1024, "M": 1024 * 1024}
_C_SPACE = " \t\n\v\f\r"


def _i32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


@dataclass(frozen=True)
class Segment:
    start: int
    end: int                   # inclusive
    page_size: int
    memtype: int               # READABLE | ERASABLE | WRITEABLE bits
    count: int = 0             # number of pages, as written in the string

    @property
    def readable(self) -> bool:
        return bool(self.memtype & READABLE)

    @property
    def erasable(self) -> bool:
        return bool(self.memtype & ERASABLE)

    @property
    def writeable(self) -> bool:
        return bool(self.memtype & WRITEABLE)

    def page_start(self, address: int) -> int:
        return address & ~(self.page_size - 1) & 0xFFFFFFFF

    def verbose_line(self) -> str:
        """dfu-util's -v line for this segment."""
        flags = ("r" if self.readable else "") + ("e" if self.erasable else "") + ("w" if self.writeable else "")
        return "Memory segment at 0x%08x %3d x %4d = %5d (%s)" % (
            self.start, self.count, self.page_size, _i32(self.count * self.page_size), flags)


class LayoutError(ParticlePyError):
    """The alt setting's name is not a DfuSe memory layout."""

    def __init__(self, layout: "MemoryLayout"):
        super().__init__("Failed to parse memory layout", None, EX_IOERR)
        self.layout = layout


@dataclass
class MemoryLayout:
    name: Optional[str] = None                       # text between '@' and the first '/'
    segments: list[Segment] = field(default_factory=list)
    notes: list[tuple] = field(default_factory=list)  # ('name', str) / ('warning', str) / ('segment', Segment)

    @property
    def valid(self) -> bool:
        # dfu-util treats an empty segment list like a failed parse
        return self.name is not None and bool(self.segments)

    def find(self, address: int) -> Optional[Segment]:
        """The segment holding ``address`` (the first one listed wins, like dfu-util's find_segment)."""
        for seg in self.segments:
            if seg.start <= address <= seg.end:
                return seg
        return None

    @property
    def warnings(self) -> list[str]:
        return [text for kind, text in self.notes if kind == "warning"]


class _Scanner:
    """Just enough of sscanf to follow dfu-util's three format strings exactly."""

    def __init__(self, text: str):
        self.text = text

    def _skip_space(self, i: int) -> int:
        while i < len(self.text) and self.text[i] in _C_SPACE:
            i += 1
        return i

    def _number(self, i: int, hexadecimal: bool) -> tuple[Optional[int], int]:
        """%d / %x: (value or None on matching failure, end); value 'EOF' handled by callers."""
        t = self.text
        i = self._skip_space(i)
        neg = False
        if i < len(t) and t[i] in "+-":
            neg = t[i] == "-"
            i += 1
        base = 10
        if hexadecimal:
            base = 16
            if t[i:i + 2].lower() == "0x" and i + 2 < len(t) and t[i + 2] in "0123456789abcdefABCDEF":
                i += 2
        digits = "0123456789abcdef"[:base]
        start = i
        while i < len(t) and t[i].lower() in digits:
            i += 1
        if i == start:
            return None, i
        value = int(t[start:i], base)
        return (-value if neg else value), i

    def name(self) -> tuple[int, Optional[str], Optional[int]]:
        """"@%[^/]%n" -> (ret, name, scanned)."""
        t = self.text
        if not t:
            return -1, None, None
        if t[0] != "@":
            return 0, None, None
        if len(t) == 1:
            return -1, None, None
        end = t.find("/", 1)
        end = len(t) if end < 0 else end
        if end == 1:
            return 0, None, None
        return 1, t[1:end], end

    def address(self, pos: int) -> tuple[int, Optional[int], Optional[int]]:
        """"/0x%x/%n" at pos -> (ret, address, scanned or None when %n was not reached)."""
        t = self.text
        if pos >= len(t):
            return -1, None, None
        if t[pos:pos + 3] != "/0x":
            return 0, None, None
        if self._skip_space(pos + 3) >= len(t):
            return -1, None, None
        value, i = self._number(pos + 3, True)
        if value is None:
            return 0, None, None
        if i < len(t) and t[i] == "/":
            return 1, value & 0xFFFFFFFF, i + 1 - pos
        return 1, value & 0xFFFFFFFF, None

    def segment(self, pos: int):
        """"%d*%d%c%[^,/]%n" -> (ret, sectors, size, multiplier, type, scanned)."""
        t = self.text
        if self._skip_space(pos) >= len(t):
            return -1, None, None, None, None, None
        sectors, i = self._number(pos, False)
        if sectors is None:
            return 0, None, None, None, None, None
        if i >= len(t) or t[i] != "*":
            return 1, sectors, None, None, None, None
        i += 1
        if self._skip_space(i) >= len(t):
            return 1, sectors, None, None, None, None
        size, i = self._number(i, False)
        if size is None:
            return 1, sectors, None, None, None, None
        if i >= len(t):
            return 2, sectors, size, None, None, None
        multiplier = t[i]
        i += 1
        start = i
        while i < len(t) and t[i] not in ",/":
            i += 1
        if i == start:
            return 3, sectors, size, multiplier, None, None
        return 4, sectors, size, multiplier, t[start:i], i - pos


def parse(text: str) -> MemoryLayout:
    """Parse a DfuSe layout string. Never raises; check ``valid`` (or use parse_or_raise)."""
    layout = MemoryLayout()
    scan = _Scanner(text)
    ret, name, scanned = scan.name()
    if ret < 1:
        layout.notes.append(("warning", "Could not read name, sscanf returned %d" % ret))
        return layout
    layout.name = name
    layout.notes.append(("name", name))
    pos = scanned
    count = 0
    typestring = ""
    guard = 0
    while True:
        ret, address, got = scan.address(pos)
        if ret <= 0:
            break
        # like sscanf's %n, 'scanned' keeps its old value when the format did not get that far
        scanned = got if got is not None else scanned
        pos = min(pos + scanned, len(text))
        while True:
            guard += 1
            if guard > 100000:          # a C string cannot loop forever; neither may we
                return layout
            ret, sectors, size, multiplier, typ, got = scan.segment(pos)
            if ret <= 2:
                break
            scanned = got if got is not None else scanned
            pos = min(pos + scanned, len(text))
            count += 1
            memtype = ""
            if ret == 4:
                typestring = typ
                if len(typestring) == 1 and typestring != "/":
                    memtype = typestring
                else:
                    layout.notes.append(("warning", "Parsing type identifier '%s' failed for segment %i"
                                         % (typestring, count)))
                    continue
            if name == "Device Feature":     # STM32F4 quirk kept by dfu-util
                memtype = "e"
            sectors, size = _i32(sectors), _i32(size)
            if multiplier in _MULTIPLIERS:
                size = _i32(size * _MULTIPLIERS[multiplier])
            elif multiplier in "abcdefg" and not memtype:
                layout.notes.append(("warning", "Non-valid multiplier '%s', interpreted as type identifier instead"
                                     % multiplier))
                memtype = multiplier
            else:
                layout.notes.append(("warning", "Non-valid multiplier '%s', assuming bytes" % multiplier))
            if not memtype:
                # dfu-util's message ends in "\n", so an empty line follows
                layout.notes.append(("warning", "No valid type for segment %d\n" % count))
                continue
            total = _i32(sectors * size)
            seg = Segment(address, (address + total - 1) & 0xFFFFFFFF, size, ord(memtype) & 7, sectors)
            layout.segments.append(seg)
            layout.notes.append(("segment", seg))
            address = (address + total) & 0xFFFFFFFF
            if pos < len(text) and text[pos] == ",":
                pos += 1
            else:
                break
    return layout


# What a real device's layout can hold: Particle's largest area is 8 MiB in 2048 pages; these
# bounds leave room for any real part while keeping a hostile string from costing memory.
MAX_SEGMENTS = 64
MAX_PAGES = 1 << 16
MAX_AREA = 1 << 32


class LayoutLimitError(ParticlePyError):
    """A layout string that parses but describes no memory a device can have."""


def check_usable(layout: MemoryLayout, text: str, source: str = "The device") -> MemoryLayout:
    """``layout`` when its segments describe real memory (page sizes > 0, bounded page counts,
    inside 32-bit addresses); else LayoutLimitError naming ``source`` and the string."""
    def refuse(why: str) -> LayoutLimitError:
        shown = "".join(c if 32 <= ord(c) < 127 else "\\x%02x" % (ord(c) & 0xFF) for c in text[:200])
        return LayoutLimitError(f'{source} reports a memory layout particle-py cannot use: "{shown}" ({why})',
                                "The device's USB descriptors look wrong: unplug it and plug it in again; if it "
                                "persists, check that it is a Particle device in DFU mode (blinking yellow).",
                                EX_IOERR)

    if len(layout.segments) > MAX_SEGMENTS:
        raise refuse(f"{len(layout.segments)} segments, more than {MAX_SEGMENTS}")
    pages = 0
    for number, seg in enumerate(layout.segments, 1):
        if seg.page_size <= 0:
            raise refuse(f"segment {number} has page size {seg.page_size}")
        if seg.count <= 0:
            raise refuse(f"segment {number} has {seg.count} pages")
        pages += seg.count
        if pages > MAX_PAGES:
            raise refuse(f"more than {MAX_PAGES} pages")
        if seg.start + seg.count * seg.page_size > MAX_AREA:
            raise refuse(f"segment {number} runs past the 4 GiB address space")
    return layout


def parse_or_raise(text: str) -> MemoryLayout:
    """Parse, raising LayoutError when dfu-util would refuse the string."""
    layout = parse(text)
    if not layout.valid:
        raise LayoutError(layout)
    return layout
