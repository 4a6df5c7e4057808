"""The device's layout reading and the DFU engine's (dfu-util's rules) must agree on every
layout a device can advertise: they are separate code on purpose, so a bug shows up here."""
from hypothesis import HealthCheck, assume, given, settings, strategies as st

from particle_py.dfu import layout as client
from particle_py.platforms import PLATFORMS
from particle_py.sim import layout as device
from particle_py.sim.profiles import SCENARIO_PROFILES

segments = st.lists(st.tuples(st.integers(1, 512), st.integers(1, 256), st.sampled_from(["B", "K", "K", " "]),
                              st.sampled_from("abcdefg")), min_size=1, max_size=6)


def both(text):
    dev = device.parse(text)
    cli = client.parse(text)
    assert cli.valid
    assert [(s.start, s.count, s.page_size, s.access) for s in dev.sectors] == [
        (s.start, s.count, s.page_size, s.memtype) for s in cli.segments]
    assert [s.end - 1 for s in dev.sectors] == [s.end for s in cli.segments]
    assert dev.name == cli.name


def test_every_advertised_layout_agrees():
    texts = [t for p in PLATFORMS for t in p.dfu_layouts]
    texts += [t for prof in SCENARIO_PROFILES.values() for t in prof.alt_names if t.startswith("@")]
    for text in texts:
        both(text)


@settings(deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=16),
       st.integers(0, 0xF0000000), segments)
def test_generated_layouts_agree(name, base, segs):
    mult = {"B": 1, "K": 1024, "M": 1 << 20, " ": 1}
    assume(base + sum(n * s * mult[m] for n, s, m, _ in segs) < 1 << 31)   # what a 32-bit device can map
    both(f"@{name}/0x{base:08x}/" + ",".join(f"{n:02d}*{s:03d}{m}{t}" for n, s, m, t in segs))
