"""The simulator's own DfuSe layout reading (property-tested; stdlib parser)."""
from hypothesis import given, settings, strategies as st

import pytest

from particle_py.platforms import PLATFORMS
from particle_py.sim.layout import LayoutError, parse

segments = st.lists(st.tuples(st.integers(1, 512), st.integers(1, 256), st.sampled_from("BKM"),
                              st.sampled_from("abcdefg")), min_size=1, max_size=6)


@settings(deadline=None)
@given(st.text(alphabet=st.characters(blacklist_characters="/@"), max_size=20), st.integers(0, 0xFFFF0000),
       segments)
def test_generated_layouts_round_trip(name, base, segs):
    text = f"@{name}/0x{base:08X}/" + ",".join(f"{n:02d}*{s:03d}{m}{t}" for n, s, m, t in segs)
    lay = parse(text)
    assert lay.name == name
    addr = base
    for sector, (n, s, m, t) in zip(lay.sectors, segs):
        size = s * {"B": 1, "K": 1024, "M": 1 << 20}[m]
        assert (sector.start, sector.count, sector.page_size) == (addr, n, size)
        assert sector.access == (ord(t) - ord("a") + 1)
        addr += n * size
    assert lay.end == addr


@settings(deadline=None)
@given(st.text(max_size=60))
def test_arbitrary_text_parses_or_raises_layout_error(text):
    try:
        lay = parse(text)
    except LayoutError:
        return
    assert lay.sectors and all(s.count > 0 and s.page_size > 0 for s in lay.sectors)


def test_every_platform_layout_parses():
    for p in PLATFORMS:
        for text in p.dfu_layouts:
            assert parse(text).sectors


def test_stm32_space_multiplier_means_bytes_and_letters():
    lay = parse("@OTP Memory /0x1FFF7800/01*512 e,01*016 e")
    assert [(s.start, s.page_size, s.readable, s.erasable, s.writable) for s in lay.sectors] == [
        (0x1FFF7800, 512, True, False, True), (0x1FFF7A00, 16, True, False, True)]


def test_photon_read_only_bootloader_and_page_bounds():
    lay = parse("@Internal Flash   /0x08000000/03*016Ka,01*016Kg,01*064Kg,07*128Kg")
    assert lay.name == "Internal Flash   "
    assert not lay.sector_at(0x08000000).writable and lay.sector_at(0x0800C000).writable
    assert lay.page_bounds(0x08021234) == (0x08020000, 131072)
    assert lay.page_bounds(0x08100000) is None


@pytest.mark.parametrize("bad", ["Internal Flash", "@x/0x0800/", "@x/0x08000000/zz*1Kg", "@x/123/1*1Kg", "@x/0x0/0*4Kg"])
def test_malformed(bad):
    with pytest.raises(LayoutError):
        parse(bad)
