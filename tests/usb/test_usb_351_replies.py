"""The parsers of the 3.51 request families' replies (outside input): any bytes give a value or a
ProtoError, nothing else; what the simulated Device OS encodes reads back as it was meant."""
from __future__ import annotations

import ipaddress

from hypothesis import given, settings, strategies as st

from particle_py.control import cloud, config, env, interfaces
from particle_py.control.protobuf import ProtoError

ANY_BYTES = st.binary(max_size=300)


def _total(parse, data):
    try:
        return parse(data)
    except ProtoError:
        return None


@settings(max_examples=300, deadline=None)
@given(ANY_BYTES)
def test_cloud_status_parser_is_total(data):
    value = _total(cloud.parse_connection_status, data)
    assert value in (None, "DISCONNECTED", "CONNECTING", "CONNECTED", "DISCONNECTING", "UNKNOWN")


@settings(max_examples=300, deadline=None)
@given(ANY_BYTES)
def test_setup_done_parser_is_total(data):
    assert _total(config.parse_setup_done, data) in (None, True, False)


@settings(max_examples=300, deadline=None)
@given(ANY_BYTES)
def test_env_parser_is_total(data):
    reply = _total(env.parse_env, data)
    if reply is not None:
        assert all(0 < len(v.name) <= env.MAX_NAME for v in reply.variables)


@settings(max_examples=300, deadline=None)
@given(ANY_BYTES)
def test_interface_parser_is_total(data):
    detail = _total(interfaces.parse_interface_detail, data)
    if detail is not None:
        for address in detail.ipv4:
            ipaddress.IPv4Interface(address)
        for address in detail.ipv6:
            ipaddress.IPv6Interface(address)
        assert len(detail.hw_address) <= 8 * 3


names = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=40)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(names, st.text(st.characters(blacklist_categories=("Cs",)), max_size=60), st.booleans()),
                max_size=6))
def test_env_reply_reads_back(variables):
    from particle_py.sim.env import env_reply
    reply = env.parse_env(env_reply(variables))
    assert [(v.name, v.value, v.is_app) for v in reply.variables] == variables


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 3))
def test_cloud_status_reads_back(status):
    from particle_py.sim import protobuf
    assert cloud.parse_connection_status(protobuf.uint(1, status)) == \
        ("DISCONNECTED", "CONNECTING", "CONNECTED", "DISCONNECTING")[status]


def test_setup_done_request_encoding():
    assert config.setup_done_request(True) == b"\x08\x01"
    assert config.setup_done_request(False) == b""          # proto3: false is left out


def test_ipv6_and_refusals():
    from particle_py.sim.protobuf import message, uint
    v6 = bytes.fromhex("fe800000000000000000000000000001")
    body = uint(1, 5) + message(2, b"en2") + uint(3, 4) + message(7, message(1, message(1, message(
        2, message(1, v6))) + uint(2, 64)))
    detail = interfaces.parse_interface_detail(message(1, body))
    assert (detail.name, detail.type, detail.ipv6) == ("en2", "ETHERNET", ("fe80::1/64",))
    short = uint(1, 5) + message(7, message(1, message(1, message(2, message(1, v6[:4]))) + uint(2, 64)))
    assert _total(interfaces.parse_interface_detail, message(1, short)) is None
    assert interfaces.parse_interface_detail(b"") is None
