"""ParticleDfuDevice.read/write (Contract 4) on simulated devices: smart flashing rules."""
import pytest

from particle_py.errors import ParticlePyError


def dev():
    from particle_py.ops.device import open_particle_device
    return open_particle_device()


def test_gen2_dct_write_keeps_the_rest_of_the_sector(sim, profile):
    s = sim(profile("photon"))
    s.poke(1, 0, bytes(range(256)) * 64)
    d = dev()
    try:
        stats = d.write(1, 34, b"\x11" * 100)
        assert stats.verified
        assert d.read(1, 0, 16384) == (bytes(range(256)) * 64)[:34] + b"\x11" * 100 + (bytes(range(256)) * 64)[134:]
    finally:
        d.close()
    assert s.peek(1, 30, 8) == bytes([30, 31, 32, 33, 0x11, 0x11, 0x11, 0x11])



def test_read_only_memory_is_never_written(sim, profile):
    s = sim(profile("photon"))
    before = s.peek(0, 0x08000000, 0x4000)
    d = dev()
    try:
        with pytest.raises(ParticlePyError, match="not writable"):
            d.write(0, 0x08000000, b"\x00" * 16)
        with pytest.raises(ParticlePyError, match="not writable"):
            d.write(0, 0x0800BFF0, b"\x00" * 64)      # last bytes of the read-only area
    finally:
        d.close()
    assert s.peek(0, 0x08000000, 0x4000) == before


def test_no_verify_reads_nothing_back(sim, profile):
    s = sim(profile("argon"))
    s.poke(0, 0xB4000, b"\xff" * 8192)
    d = dev()
    mark = len(s.log())
    try:
        stats = d.write(0, 0xB4000, b"\x5a" * 8192, verify=False)
    finally:
        d.close()
    uploads = [e for e in s.log()[mark:] if e.get("event") == "control" and e.get("bRequest") == 2
               and e.get("bmRequestType") == 0xA1]
    before_write = len(uploads)
    assert stats.verified is False and stats.bytes_written == 8192
    assert s.peek(0, 0xB4000, 8192) == b"\x5a" * 8192
    s.poke(0, 0xB4000, b"\xff" * 8192)
    d = dev()
    mark = len(s.log())
    try:
        stats = d.write(0, 0xB4000, b"\x5a" * 8192, verify=True)
    finally:
        d.close()
    uploads_verified = [e for e in s.log()[mark:] if e.get("event") == "control" and e.get("bRequest") == 2
                        and e.get("bmRequestType") == 0xA1]
    assert stats.verified and len(uploads_verified) > before_write


def test_gen3_dct_is_written_without_erase(sim, profile):
    s = sim(profile("boron"))
    s.poke(1, 0, b"\xab" * 3106 + b"\xff" * (16384 - 3106))
    d = dev()
    mark = len(s.log())
    try:
        d.write(1, 3106, b"\x42" * 121)
    finally:
        d.close()
    new = s.log()[mark:]
    assert not [e for e in new if e.get("event") == "control" and e.get("bRequest") == 1
                and e.get("wValue") == 0 and e.get("data", "").startswith("41")]
    assert s.peek(1, 3100, 130) == b"\xab" * 6 + b"\x42" * 121 + b"\xff" * 3


# --- page heads read by upload block number (one SET_ADDRESS for many reads) ------------------

from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from helpers.simulator import set_addresses  # noqa: E402

REGIONS = {"photon": (0x08020000, 0x60000), "argon": (0x000B4000, 0x40000), "p2": (0x08500000, 0x40000),
           "core": (0x08005000, 0x8000)}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(platform=st.sampled_from(sorted(REGIONS)), seed=st.integers(0, 2**32 - 1),
       spans=st.lists(st.tuples(st.integers(0, 0x7FFF), st.sampled_from([1, 14, 64, 256, 4096, 5000])),
                      min_size=1, max_size=12))
def test_read_spans_returns_what_reading_each_span_alone_returns(sim, profile, platform, seed, spans):
    """Whatever the spans (on the 4 KiB grid or off it, short or longer than a block, in any
    order), the batched read gives the flash's bytes; the Core's 1 KiB transfers read span by span."""
    import random

    base, size = REGIONS[platform]
    s = sim(profile(platform))
    content = random.Random(seed).randbytes(size)
    s.poke(0, base, content)
    wanted = [(base + min(offset * 4, size - length), length) for offset, length in spans]
    d = dev()
    try:
        got = d.read_spans(0, wanted)
    finally:
        d.close()
    assert got == [content[address - base:address - base + length] for address, length in wanted]


@pytest.mark.parametrize("platform", ["photon", "argon", "p2"])
def test_heads_of_pages_4_kib_apart_cost_one_set_address(sim, profile, platform):
    base, _ = REGIONS[platform]
    s = sim(profile(platform))
    d = dev()
    try:
        mark = len(s.log())
        heads = d.read_spans(0, [(base + page * 4096, 64) for page in range(16)])
    finally:
        d.close()
    assert len(heads) == 16 and set_addresses(s.log()[mark:]) == 1
