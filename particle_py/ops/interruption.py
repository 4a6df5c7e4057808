"""What a device holds after a write stopped part-way: one report for every writing command.

The write session (``ParticleDfuDevice.write``) keeps a ``WriteRecord`` as it goes: each page it
erased and each run of bytes the device acknowledged, noted in the same deferred step as the
request itself, so a signal lands before or after both, never between. When the write stops (a
signal or a USB fault) the record rides on the exception (``err.write_record``), and ``flash``
and ``update`` build their report from it instead of guessing from the last address touched:
erased is not written (a page erased for new bytes reads all 0xFF until they arrive).

The three states of a byte range of the module being written:

- ``written``: the new bytes, acknowledged by the device;
- ``erased``: blank (0xFF), erased by this write, its new bytes not sent yet;
- ``untouched``: as it was before the command (old bytes, or the new ones already there and
  skipped by the smart write).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

WRITTEN, ERASED, UNTOUCHED = "written", "erased", "untouched"
_WORDS = {WRITTEN: "written", ERASED: "erased (blank)", UNTOUCHED: "as it was"}


def _add(spans: list, lo: int, hi: int) -> None:
    """Add [lo, hi) to a sorted list of disjoint spans, merging what touches."""
    if hi <= lo:
        return
    merged: list = []
    for a, b in sorted(spans + [[lo, hi]]):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    spans[:] = merged


def _covered(spans: list, lo: int, hi: int) -> bool:
    return any(a <= lo and hi <= b for a, b in spans)


@dataclass
class WriteRecord:
    """What one write did to [start, end) of one alt setting, as it happened."""
    alt: int
    start: int
    end: int
    erased: list = field(default_factory=list)       # [lo, hi) erased pages (whole pages)
    written: list = field(default_factory=list)      # [lo, hi) bytes sent and acknowledged

    def note_erased(self, lo: int, hi: int) -> None:
        _add(self.erased, lo, hi)

    def note_written(self, lo: int, hi: int) -> None:
        _add(self.written, lo, hi)

    def regions(self) -> list[tuple[int, int, str]]:
        """(lo, hi, state) covering [start, end) in order, neighbours of one state merged."""
        cuts = {self.start, self.end}
        for a, b in self.erased + self.written:
            cuts.update(x for x in (a, b) if self.start < x < self.end)
        points = sorted(cuts)
        out: list[list] = []
        for lo, hi in zip(points, points[1:]):
            state = (WRITTEN if _covered(self.written, lo, hi) else
                     ERASED if _covered(self.erased, lo, hi) else UNTOUCHED)
            if out and out[-1][2] == state:
                out[-1][1] = hi
            else:
                out.append([lo, hi, state])
        return [tuple(r) for r in out]

    @property
    def changed(self) -> bool:
        """Whether anything of [start, end) differs from before the command."""
        return any(state != UNTOUCHED for _lo, _hi, state in self.regions())

    @property
    def reached(self) -> Optional[int]:
        """The end of the last byte written (None: nothing written)."""
        return self.written[-1][1] if self.written else None


def span(lo: int, hi: int) -> str:
    return f"0x{lo:08x}-0x{hi:08x}"


def state_line(name: str, record: Optional[WriteRecord], lo: int, hi: int) -> str:
    """One sentence: what the device holds of ``name`` (its range [lo, hi)) after a stop."""
    whole = span(lo, hi)
    regions = record.regions() if record is not None else [(lo, hi, UNTOUCHED)]
    states = [s for _a, _b, s in regions]
    if WRITTEN not in states and ERASED not in states:
        return f"Nothing of {name} was written ({whole} is as it was)."
    tail = "the device may not start until it is written whole."
    if WRITTEN not in states:
        if UNTOUCHED not in states:
            return f"Nothing of {name} was written yet: all of {whole} is erased (blank); {tail}"
        erased = ", ".join(span(a, b) for a, b, s in regions if s == ERASED)
        return (f"Nothing of {name} was written yet: {erased} is erased (blank), the rest of {whole} is as it "
                f"was; {tail}")
    first = regions[0]
    if first[2] == WRITTEN and all(s != WRITTEN for _a, _b, s in regions[1:]):
        line = f"{name} was written only up to 0x{first[1]:08x} (of {whole}); {tail}"
        erased = [span(a, b) for a, b, s in regions[1:] if s == ERASED]
        if erased:
            line += f" {', '.join(erased)} is erased (blank): none of {name}'s bytes are there yet."
        return line
    parts = ", ".join(f"{span(a, b)} {_WORDS[s]}" for a, b, s in regions)
    return f"{name} is on the device in part: {parts}; {tail}"


def short_state(record: Optional[WriteRecord], lo: int, hi: int) -> str:
    """A few words for a plan's line: 'untouched', 'erased, nothing written', 'written up to 0x...'."""
    regions = record.regions() if record is not None else [(lo, hi, UNTOUCHED)]
    states = {s for _a, _b, s in regions}
    if states == {UNTOUCHED}:
        return "untouched"
    if WRITTEN not in states:
        erased = ", ".join(span(a, b) for a, b, s in regions if s == ERASED)
        return f"erased {erased}, nothing of it written yet"
    reached = max(b for _a, b, s in regions if s == WRITTEN)
    erased = [span(a, b) for a, b, s in regions if s == ERASED]
    return f"written up to 0x{reached:08x}" + (f", erased {', '.join(erased)}" if erased else "")


def record_of(err) -> Optional[WriteRecord]:
    return getattr(err, "write_record", None)


def as_interrupted(exc: BaseException):
    """An ``errors.Interrupted`` for a stop: itself, or SIGINT for a KeyboardInterrupt (a library
    caller without the front end's handlers), keeping the write record it carries."""
    from particle_py.errors import Interrupted

    if isinstance(exc, Interrupted):
        return exc
    sig = Interrupted(2)
    for name in ("write_record", "nothing_written", "unverified", "reached_address"):
        if hasattr(exc, name):
            setattr(sig, name, getattr(exc, name))
    return sig
