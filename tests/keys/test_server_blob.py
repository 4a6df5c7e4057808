"""Server-key blob: exact bytes of what `keys server` writes, and `keys address` decoding."""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from particle_py.errors import ParticlePyError
from particle_py.keys import server_blob
from particle_py.platforms import by_name

TCP = by_name("photon").server_key["tcp"]
UDP = by_name("argon").server_key["udp"]
CORE = by_name("core").server_key["tcp"]


def test_ip_host_and_port_land_at_the_photon_offsets(standin_server_keys):
    key = standin_server_keys["tcp"][:294]
    blob = server_blob.build(key, TCP, host="192.168.1.10", port=5683)
    expected = bytearray(key + b"\xff" * (512 - 294))
    expected[384:390] = bytes([0, 4, 192, 168, 1, 10])
    expected[450:452] = b"\x16\x33"
    assert blob == bytes(expected)
    assert server_blob.parse_address(blob, TCP, "tcp").url() == "tcp://192.168.1.10:5683"


def test_domain_host_on_the_udp_slot_has_no_nul_and_default_port(standin_server_keys):
    key = standin_server_keys["udp"][:91]
    blob = server_blob.build(key, UDP, host="cloud.example.com")
    expected = bytearray(key + b"\xff" * (320 - 91))
    expected[192:192 + 19] = b"\x01\x11cloud.example.com"
    assert blob == bytes(expected)
    assert server_blob.parse_address(blob, UDP, "udp").url() == "udp://cloud.example.com:5684"


def test_official_blob_shapes_decode_like_particle_cli(standin_server_keys):
    assert server_blob.parse_address(standin_server_keys["tcp"], TCP, "tcp").url() == "tcp://device.spark.io:5683"
    assert (server_blob.parse_address(standin_server_keys["udp"], UDP, "udp").url()
            == "udp://$id.udp.particle.io:5684")


def test_an_already_formatted_blob_keeps_its_address_unless_overridden(standin_server_keys):
    blob = standin_server_keys["udp"]
    assert server_blob.build(blob, UDP) == blob
    changed = server_blob.build(blob, UDP, port=9999)
    assert changed[:258] == blob[:258] and changed[258:260] == b"\x27\x0f" and changed[260:] == blob[260:]


def test_core_gets_the_512_byte_blob_padded_to_its_2048_byte_slot(standin_server_keys):
    assert server_blob.build(standin_server_keys["tcp"], CORE) == standin_server_keys["tcp"] + b"\xff" * 1536
    # and a 2048-byte padded file fits a 512-byte slot (its tail is only padding)
    padded = standin_server_keys["tcp"] + b"\xff" * 1536
    assert server_blob.build(padded, TCP) == standin_server_keys["tcp"]


def test_erased_address_decodes_to_the_defaults(standin_server_keys):
    erased = standin_server_keys["udp"][:91] + b"\xff" * (320 - 91)
    assert server_blob.parse_address(erased, UDP, "udp").url() == "udp://udp.particle.io:5684"


@pytest.mark.parametrize("kwargs,message", [
    ({"host": "300.1.1.1"}, "not a valid IPv4 address"),
    ({"host": "1.2.3"}, "not a valid IPv4 address"),
    ({"host": "x" * 65}, "does not fit the server address field"),
    ({"host": "bad host"}, "does not fit the server address field"),
    ({"port": 0}, "out of range"),
    ({"port": 65535}, "out of range"),
])
def test_bad_host_or_port_is_refused(standin_server_keys, kwargs, message):
    with pytest.raises(ParticlePyError, match=message):
        server_blob.build(standin_server_keys["tcp"][:294], TCP, **kwargs)


def test_a_key_overlapping_the_address_is_refused():
    with pytest.raises(ParticlePyError, match="must end before the server address"):
        server_blob.build(b"\x30\x82\x01\x90" + b"\x00" * 400, TCP)
    with pytest.raises(ParticlePyError, match="holds 512"):
        server_blob.build(b"\x30\x03\x02\x01\x00" + b"\x00" * 600, TCP)


_hosts = st.one_of(
    st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t))),
    st.from_regex(r"[a-z$][a-z0-9.\-]{0,62}", fullmatch=True).filter(lambda h: not all(c in "0123456789." for c in h)),
)


@given(_hosts, st.one_of(st.none(), st.integers(1, 65534)), st.sampled_from(["tcp", "udp"]))
def test_build_then_parse_round_trips(host, port, protocol):
    slot = TCP if protocol == "tcp" else UDP
    blob = server_blob.build(b"\x30\x03\x02\x01\x00", slot, host=host, port=port)
    assert len(blob) == slot.size
    decoded = server_blob.parse_address(blob, slot, protocol)
    assert decoded.host == host
    assert decoded.port == (port if port is not None else server_blob.DEFAULT_PORTS[protocol])


@given(st.binary(max_size=2048), st.sampled_from(["tcp", "udp"]))
def test_parse_address_accepts_any_slot_contents(data, protocol):
    server_blob.parse_address(data, TCP if protocol == "tcp" else UDP, protocol)
