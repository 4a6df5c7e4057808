"""The protection replies are outside input (hypothesis holds the parsers to ProtoError), and
the exchange is signed as Device OS's config.cpp signs it, checked here from the formula alone."""
from __future__ import annotations

import base64
import hashlib
import struct

from hypothesis import given, strategies as st

from particle_py.control import protection as proto
from particle_py.control.protobuf import ProtoError, bytes_field, number_field


@given(st.binary(max_size=64))
def test_state_parser_takes_any_bytes(data):
    try:
        state = proto.parse_state(data)
    except ProtoError:
        return
    assert state.name in ("open", "protected", "service")


@given(st.binary(max_size=200))
def test_prepare_parser_takes_any_bytes(data):
    try:
        prepared = proto.parse_prepare(data)
    except ProtoError:
        return
    assert prepared is None or (len(prepared.device_nonce) == 32 and len(prepared.device_key_fingerprint) == 32)


@given(st.binary(max_size=40).map(lambda b: b.decode("latin-1")))
def test_dfu_state_string_parser_takes_any_text(text):
    assert proto.from_dfu_string(text) in (None, proto.ProtectionState(False, False),
                                          proto.ProtectionState(True, False), proto.ProtectionState(True, True))


def test_known_replies():
    assert proto.parse_state(b"") == proto.ProtectionState(False, False)
    assert proto.parse_state(number_field(1, 1)).name == "protected"
    assert proto.parse_state(number_field(2, 1)).name == "service"
    assert proto.from_dfu_string("sm=p;x=1").name == "protected"
    assert proto.from_dfu_string("sm=s").name == "service"
    assert proto.parse_prepare(b"") is None
    body = bytes_field(1, b"n" * 32) + bytes_field(2, b"s" * 70) + bytes_field(3, b"f" * 32)
    assert proto.parse_prepare(bytes_field(1, body)) == proto.Prepared(b"n" * 32, b"s" * 70, b"f" * 32)


def _delimited(data: bytes) -> bytes:
    return struct.pack("<I", len(data)) + data


def test_the_device_and_the_cloud_sign_what_device_os_signs(world):
    """Drive the exchange by hand: the device's signature verifies with the key the cloud holds
    over SHA-256("device" || id || len||device nonce || len||server nonce), and the cloud's with
    the server key in the device's DCT over "server" || id || server nonce || device nonce ||
    fingerprint (u32 little-endian lengths)."""
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    from particle_py import control_codes as codes
    from particle_py import usb as transport
    from particle_py.control import exchange
    from particle_py.sim import cloud_protection

    device_id = world.create("boron", "--protected")
    server_nonce = bytes(range(32))
    (dev,) = transport.find_devices()
    try:
        result, data = exchange.request(dev, codes.SET_PROTECTED_STATE, proto.prepare_request(server_nonce))
        assert result == 0
        prepared = proto.parse_prepare(data)
        registered = base64.b64decode(world.cloud.db.device(device_id)["public_key"])
        assert prepared.device_key_fingerprint == hashlib.sha256(registered).digest()
        digest = hashlib.sha256(b"device" + bytes.fromhex(device_id) + _delimited(prepared.device_nonce)
                                + _delimited(server_nonce)).digest()
        serialization.load_der_public_key(registered).verify(prepared.device_signature, digest,
                                                             ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        # the cloud's half, through its handler
        status, answer = cloud_protection.unprotect(world.cloud.db, device_id, "owner@example.com",
                                                    {"action": "prepare"})
        cloud_nonce = base64.b64decode(answer["server_nonce"])
        result, data = exchange.request(dev, codes.SET_PROTECTED_STATE, proto.prepare_request(cloud_nonce))
        prepared = proto.parse_prepare(data)
        b64 = lambda b: base64.b64encode(b).decode()  # noqa: E731
        status, answer = cloud_protection.unprotect(world.cloud.db, device_id, "owner@example.com", {
            "action": "confirm", "server_nonce": b64(cloud_nonce), "device_nonce": b64(prepared.device_nonce),
            "device_signature": b64(prepared.device_signature),
            "device_public_key_fingerprint": b64(prepared.device_key_fingerprint)})
        assert status == 200
        server_spki = (world.state / "cloud" / "server_ec.pub.der").read_bytes()
        assert base64.b64decode(answer["server_public_key_fingerprint"]) == hashlib.sha256(server_spki).digest()
        digest = hashlib.sha256(b"server" + bytes.fromhex(device_id) + _delimited(cloud_nonce)
                                + _delimited(prepared.device_nonce)
                                + _delimited(prepared.device_key_fingerprint)).digest()
        serialization.load_der_public_key(server_spki).verify(base64.b64decode(answer["server_signature"]), digest,
                                                              ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        # a replayed confirm finds no nonce
        status, _ = cloud_protection.unprotect(world.cloud.db, device_id, "owner@example.com", {
            "action": "confirm", "server_nonce": b64(cloud_nonce), "device_nonce": b64(prepared.device_nonce),
            "device_signature": b64(prepared.device_signature),
            "device_public_key_fingerprint": b64(prepared.device_key_fingerprint)})
        assert status == 400
    finally:
        transport.release_device(dev)
