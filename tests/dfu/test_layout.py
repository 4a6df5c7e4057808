from hypothesis import given, settings, strategies as st

from particle_py.dfu import layout
from particle_py.dfu.layout import ERASABLE, READABLE, WRITEABLE

PHOTON = "@Internal Flash   /0x08000000/03*016Ka,01*016Kg,01*064Kg,07*128Kg"


def test_photon_internal_flash_segments_and_verbose_lines():
    parsed = layout.parse(PHOTON)
    assert parsed.valid and parsed.name == "Internal Flash   "
    assert [s.verbose_line() for s in parsed.segments] == [
        "Memory segment at 0x08000000   3 x 16384 = 49152 (r)",
        "Memory segment at 0x0800c000   1 x 16384 = 16384 (rew)",
        "Memory segment at 0x08010000   1 x 65536 = 65536 (rew)",
        "Memory segment at 0x08020000   7 x 131072 = 917504 (rew)",
    ]
    assert parsed.find(0x08000000).memtype == READABLE
    assert parsed.find(0x0801FFFF).page_size == 65536
    assert parsed.find(0x08020000 + 917504) is None


def test_stm32_space_multiplier_warns_and_counts_bytes():
    parsed = layout.parse("@OTP Memory /0x1FFF7800/01*512 e,01*016 e")
    assert parsed.notes[0] == ("name", "OTP Memory ")
    assert parsed.warnings == ["Non-valid multiplier ' ', assuming bytes"] * 2
    assert [(s.start, s.end, s.memtype) for s in parsed.segments] == [
        (0x1FFF7800, 0x1FFF79FF, READABLE | WRITEABLE), (0x1FFF7A00, 0x1FFF7A0F, READABLE | WRITEABLE)]


def test_gen3_dct_is_not_erasable():
    seg = layout.parse("@DCT Flash   /0x00000000/1*016Ke").segments[0]
    assert seg.readable and seg.writeable and not seg.erasable


def test_type_letter_in_multiplier_position():
    parsed = layout.parse("@X/0x0/2*512g")
    assert parsed.warnings == ["Non-valid multiplier 'g', interpreted as type identifier instead"]
    assert parsed.segments[0].page_size == 512 and parsed.segments[0].memtype == READABLE | ERASABLE | WRITEABLE


def test_not_a_layout():
    for text, ret in (("Flash", 0), ("", -1), ("@/0x0/1*1Kg", 0)):
        parsed = layout.parse(text)
        assert not parsed.valid
        assert parsed.notes == [("warning", "Could not read name, sscanf returned %d" % ret)]


def test_missing_type_and_long_type():
    parsed = layout.parse("@X/0x0/1*1Kgg,1*1K")
    assert parsed.warnings[0] == "Parsing type identifier 'gg' failed for segment 1"
    assert not parsed.segments


@settings(max_examples=400)
@given(st.text(alphabet="@/0x123456789abcdefKMBaeg*, \t", max_size=60))
def test_any_string_parses_without_error(text):
    parsed = layout.parse(text)
    for seg in parsed.segments:
        assert seg.memtype == seg.memtype & 7
    assert parsed.valid == (parsed.name is not None and bool(parsed.segments))


@given(st.lists(st.tuples(st.integers(1, 64), st.sampled_from([1, 4, 16, 128]), st.sampled_from("abcdefg")),
                min_size=1, max_size=6), st.integers(0, 0x0FFFFFFF))
def test_generated_layouts_round_trip(segments, start):
    text = "@Gen/0x%08x/" % start + ",".join("%02d*%03dK%s" % s for s in segments)
    parsed = layout.parse(text)
    assert parsed.valid and not parsed.warnings
    address = start
    for (count, kib, kind), seg in zip(segments, parsed.segments):
        assert (seg.start, seg.page_size, seg.memtype) == (address, kib * 1024, ord(kind) & 7)
        address += count * kib * 1024
