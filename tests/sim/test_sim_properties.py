"""Whatever a host sends, the device model answers like a USB device: a reply no longer than
wLength, nothing, or a libusb error code; never a Python exception."""
from hypothesis import HealthCheck, given, settings, strategies as st

import pytest

from particle_py.sim import SimUsbError
from particle_py.sim.bus import SimBus
from particle_py.sim.profiles import build

setup = st.tuples(st.sampled_from([0x00, 0x01, 0x21, 0x40, 0x80, 0x81, 0xA1, 0xC0]),
                  st.integers(0, 255), st.integers(0, 0xFFFF), st.integers(0, 3),
                  st.binary(max_size=70), st.integers(0, 300))
dfu_setup = st.tuples(st.sampled_from([0x21, 0xA1]), st.integers(0, 6), st.integers(0, 5), st.just(0),
                      st.one_of(st.binary(max_size=9), st.sampled_from([b"\x21\x00\x00\x02\x08", b"\x41",
                                                                         b"\x41\x00\x00\x00\x08", b"\x92", b""])),
                      st.integers(0, 64))
PROFILES = ["photon", "stm32", "dfu11", "dfu11nt", "runtime", "argon", "electron:real=1", "p2", "boron-normal"]


def _drive(profile, requests):
    bus = SimBus()
    dev = bus.attach(profile)
    for rt, req, value, index, data, length in requests:
        if dev.gone:
            dev = bus.devices()[0] if bus.devices() else None
            if dev is None:
                return
        payload = b"" if rt & 0x80 else data
        try:
            reply = dev.control(rt, req, value, index, payload, length if rt & 0x80 else len(payload))
        except SimUsbError as e:
            assert e.code in (-1, -4, -7, -9)
            continue
        if rt & 0x80:
            assert isinstance(reply, bytes) and len(reply) <= length
        else:
            assert reply is None


@pytest.mark.parametrize("profile", PROFILES)
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(requests=st.lists(st.one_of(setup, dfu_setup), max_size=25))
def test_any_request_sequence_gets_a_usb_answer(profile, requests):
    _drive(profile, requests)


@settings(deadline=None)
@given(st.text(max_size=40))
def test_profile_strings_build_or_raise_value_error(text):
    try:
        prof = build(text)
    except ValueError:
        return
    assert prof.vid and prof.pid
