"""Parsers of what a device sends back over the vendor control protocol."""
import struct

import pytest
from hypothesis import given, strategies as st

from particle_py.errors import ParticlePyError
from particle_py.ops.control import ServiceReply, parse_reply
from particle_py.ops.usb_commands import _varint_field1


def test_reply_fields_follow_the_flags():
    assert parse_reply(struct.pack("<IH", 1, 2)) == ServiceReply(2)
    assert parse_reply(struct.pack("<IHH", 3, 0, 7)) == ServiceReply(0, id=7)
    assert parse_reply(struct.pack("<IHIi", 0x0D, 0, 12, -120)) == ServiceReply(0, size=12, result=-120)


def test_reply_without_status_is_refused():
    with pytest.raises(ParticlePyError, match="does not understand"):
        parse_reply(struct.pack("<IH", 2, 0))


@given(st.binary(max_size=64))
def test_any_reply_bytes_parse_or_raise_our_error(data):
    try:
        rep = parse_reply(data)
    except ParticlePyError:
        return
    assert 0 <= rep.status <= 0xFFFF


def test_device_mode_varint():
    assert _varint_field1(b"") == 0
    assert _varint_field1(b"\x08\x01") == 1
    assert _varint_field1(b"\x08\x96\x01") == 150
    assert _varint_field1(b"\x12\x01") is None


@given(st.binary(max_size=12))
def test_device_mode_varint_never_crashes(data):
    value = _varint_field1(data)
    assert value is None or value >= 0
