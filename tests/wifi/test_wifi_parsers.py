"""The Wi-Fi replies are outside input: any bytes give a value or ProtoError, never another
exception; the requests are particle-usb's bytes (vectors from its protobufjs encoder)."""
from hypothesis import given, settings, strategies as st

from particle_py.control import wifi
from particle_py.control.protobuf import ProtoError
from particle_py.ops.wifi import parse_scan


def test_requests_are_particle_usbs_bytes():
    # device-os-protobuf 2.9.0's encode() of particle-usb's setWifiCredentials/joinNewWifiNetwork objects
    assert wifi.credentials_request(wifi.Credentials("Home", "WPA2_PSK", "pw")).hex() == \
        "0a04486f6d65180322060801120270773000"
    assert wifi.credentials_request(wifi.Credentials("Home", "NONE", None)).hex() == "0a04486f6d651800"
    assert wifi.credentials_request(wifi.Credentials("Home", None, "", hidden=True)).hex() == \
        "0a04486f6d652204080112003001"
    assert wifi.ssid_request("Home").hex() == "0a04486f6d65"


def test_replies_read_as_particle_usb_reads_them():
    assert wifi.parse_known_networks(bytes.fromhex("0a0a0a04486f6d651003180112020a00")) == [
        wifi.KnownNetwork("Home", 3, 1)]     # field 2 is not a network: skipped, as protobufjs does
    assert wifi.KnownNetwork("x", 9, 1).security_name == "undefined"
    rssi = (-48) & 0xFFFFFFFFFFFFFFFF
    current = wifi.parse_current_network(bytes.fromhex("0a04486f6d651206025051000001") + b"\x18\x06\x20"
                                         + _varint(rssi))
    assert current == wifi.CurrentNetwork("Home", "02:50:51:00:00:01", 6, -48)


def _varint(value):
    out = bytearray()
    while value > 0x7F:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    out.append(value)
    return bytes(out)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_parse_or_raise_proto_error(data):
    for parse in (wifi.parse_known_networks, wifi.parse_current_network, parse_scan):
        try:
            parse(data)
        except ProtoError:
            pass


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=32).filter(lambda s: len(s.encode()) <= 32),
                          st.integers(0, 6), st.integers(0, 1)), max_size=10))
def test_known_networks_round_trip_from_the_simulators_encoding(networks):
    from particle_py.sim import protobuf

    body = b"".join(protobuf.message(1, protobuf.message(1, s.encode()) + protobuf.uint(2, sec) + protobuf.uint(3, t))
                    for s, sec, t in networks)
    assert wifi.parse_known_networks(body) == [wifi.KnownNetwork(s, sec, t) for s, sec, t in networks]


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=32).filter(lambda s: len(s.encode()) <= 32),
       st.sampled_from(sorted(wifi.SECURITY_NUMBERS)), st.one_of(st.none(), st.text(max_size=64)), st.booleans())
def test_the_simulator_reads_back_what_the_client_sends(ssid, security, password, hidden):
    from particle_py.sim import protobuf
    from particle_py.sim.wifi import _config

    config = _config(protobuf.decode(wifi.credentials_request(wifi.Credentials(ssid, security, password, hidden))))
    assert config["ssid"] == ssid
    assert config["password"] == (password or "")
    assert config["credentials_type"] == (0 if password is None else 1)
    assert config["security"] == (0 if password is None else wifi.SECURITY_NUMBERS[security])
    assert config["hidden"] == (hidden and password is not None)
