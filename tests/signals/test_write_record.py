"""The interruption report's bookkeeping (ops/interruption.py): for any order of erases and
writes, the regions it reports are the byte-for-byte truth of a model flash."""
from __future__ import annotations

from hypothesis import given, settings, strategies as st

from particle_py.ops.interruption import ERASED, UNTOUCHED, WRITTEN, WriteRecord, short_state, state_line

START, END = 0x100, 0x100 + 64


@st.composite
def events(draw):
    out = []
    for _ in range(draw(st.integers(0, 12))):
        lo = draw(st.integers(0x80, END + 0x20))
        hi = draw(st.integers(lo, END + 0x40))
        out.append((draw(st.sampled_from(["erase", "write"])), lo, hi))
    return out


@settings(max_examples=300, deadline=None)
@given(events())
def test_regions_are_the_model_flash(evs):
    record = WriteRecord(0, START, END)
    model = {a: UNTOUCHED for a in range(START, END)}
    for kind, lo, hi in evs:
        (record.note_erased if kind == "erase" else record.note_written)(lo, hi)
        for a in range(max(lo, START), min(hi, END)):
            if kind == "write":
                model[a] = WRITTEN
            elif model[a] != WRITTEN:       # the write session never erases what it just wrote
                model[a] = ERASED
    regions = record.regions()
    assert regions[0][0] == START and regions[-1][1] == END
    assert all(a[1] == b[0] and a[2] != b[2] for a, b in zip(regions, regions[1:]))
    for lo, hi, state in regions:
        assert all(model[a] == state for a in range(lo, hi))
    # the sentences never call an erased byte written, nor a written one untouched
    line, short = state_line("m.bin", record, START, END), short_state(record, START, END)
    if set(model.values()) == {UNTOUCHED}:
        assert line.startswith("Nothing of m.bin was written (") and short == "untouched"
    if WRITTEN not in model.values() and ERASED in model.values():
        assert line.startswith("Nothing of m.bin was written yet") and "nothing of it written yet" in short
