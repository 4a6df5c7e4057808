"""Parsers of what a device sends back over the vendor control protocol."""
import struct

import pytest
from hypothesis import given, strategies as st

from particle_py.control.device import parse_device_mode
from particle_py.control.exchange import ServiceReply, parse_reply
from particle_py.control.protobuf import Message, ProtoError
from particle_py.errors import ParticlePyError


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
    assert Message(b"").uint(1) == 0
    assert Message(b"\x08\x01").uint(1) == 1
    assert Message(b"\x08\x96\x01").uint(1) == 150
    with pytest.raises(ProtoError):
        Message(b"\x12\x01")
    assert parse_device_mode(b"") == "NORMAL"
    assert parse_device_mode(b"\x08\x01") == "LISTENING"
    assert parse_device_mode(b"\x08\x96\x01") == "UNKNOWN"
    assert parse_device_mode(b"\x12\x01") == "UNKNOWN"
    assert parse_device_mode(b"\x10\x01") == "UNKNOWN"        # field 1 is the one it has


@given(st.binary(max_size=12))
def test_device_mode_varint_never_crashes(data):
    try:
        assert Message(data).uint(1) >= 0
    except ProtoError:
        pass
    assert parse_device_mode(data) in ("NORMAL", "LISTENING", "SAFE", "DFU", "UNKNOWN")
