"""The diagnosis reads bytes from the device's DCT: whatever they are, it gives one verdict and
never fails; known shapes get the verdict Device OS would reach."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from particle_py.doctor.diagnose import ExpectedServer, check_device_key, check_server_key
from particle_py.doctor.findings import PROBLEMS
from particle_py.platforms import by_name

PHOTON, ARGON = by_name("photon"), by_name("argon")
SLOTS = [PHOTON.device_key["tcp"], ARGON.device_key["udp"]]
SERVER_SLOTS = [(PHOTON.server_key["tcp"], "tcp"), (ARGON.server_key["udp"], "udp")]
OK_CODES = {"device_key_ok", "server_key_ok", "server_key_unchecked"}


def _der_like():
    """Bytes that start like DER (a SEQUENCE header) more often than random bytes would."""
    header = st.sampled_from([b"\x30\x82\x02\x5d", b"\x30\x82\x02\x7c", b"\x30\x77", b"\x30\x81\x9f", b"\x30",
                              b""])
    return st.builds(lambda h, body: h + body, header, st.binary(max_size=700))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(st.binary(max_size=700), _der_like()), index=st.integers(0, 1))
def test_any_device_key_slot_gets_one_verdict(raw, index):
    slot = SLOTS[index]
    raw = (raw + b"\xff" * (slot.size + 64))[:slot.size + 64]
    finding, key = check_device_key(raw, slot)
    assert finding.code in PROBLEMS or finding.code in OK_CODES
    assert (key is None) == finding.problem


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.one_of(st.binary(max_size=512), _der_like()), index=st.integers(0, 1))
def test_any_server_key_slot_gets_one_verdict(raw, index):
    slot, protocol = SERVER_SLOTS[index]
    raw = (raw + b"\xff" * slot.size)[:slot.size]
    expected = ExpectedServer(b"\x30\x03\x02\x01\x01", ("device.spark.io",), 5683, False, "a key")
    finding = check_server_key(raw, slot, protocol, "0" * 24, expected)
    assert finding.code in PROBLEMS or finding.code in OK_CODES


def _private(alg, fmt):
    key = rsa.generate_private_key(65537, 1024) if alg == "rsa" else ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())


@pytest.mark.parametrize("slot_index, alg, fmt, code", [
    (0, "rsa", serialization.PrivateFormat.TraditionalOpenSSL, "device_key_ok"),
    (0, "rsa", serialization.PrivateFormat.PKCS8, "device_key_unusable"),
    (0, "ec", serialization.PrivateFormat.TraditionalOpenSSL, "device_key_unusable"),      # wrong type
    (1, "ec", serialization.PrivateFormat.TraditionalOpenSSL, "device_key_ok"),
    (1, "ec", serialization.PrivateFormat.PKCS8, "device_key_unusable"),
])
def test_known_key_shapes(slot_index, alg, fmt, code):
    slot = SLOTS[slot_index]
    der = _private(alg, fmt)
    finding, _key = check_device_key((der + b"\xff" * (slot.size + 64))[:slot.size + 64], slot)
    assert finding.code == code, finding.text


def test_a_2048_bit_rsa_key_does_not_fit_the_photons_slot():
    der = rsa.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    slot = SLOTS[0]
    finding, _key = check_device_key(der[:slot.size + 64], slot)
    assert finding.code == "device_key_unusable"
    assert finding.text == (f"the device key in the DCT at 34 starts a {len(der)}-byte DER object, far longer than "
                            "its 612-byte slot; Device OS reads 612 bytes and cannot parse it (it needs PKCS#1 "
                            "RSAPrivateKey DER)")


class _Flash:
    """The last bytes of the P2's user region (erased flash elsewhere), read as DFU reads it."""

    def __init__(self, tail: bytes, end: int):
        self.tail, self.base = tail, end - len(tail)

    def read(self, alt: int, address: int, length: int) -> bytes:
        out = bytearray(b"\xff" * length)
        for i in range(length):
            if 0 <= address + i - self.base < len(self.tail):
                out[i] = self.tail[address + i - self.base]
        return bytes(out)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(tail=st.binary(max_size=96), start=st.one_of(st.integers(0x08470000, 0x08600000), st.integers(0, 0xFFFFFFFF)),
       size=st.integers(0, 90),
       ext_type=st.sampled_from([2, 2, 1, 0, 0x11, 0xFFFF]), length=st.sampled_from([16, 16, 8, 0, 0xFFFF]))
def test_any_p2_suffix_gives_the_start_device_os_would_take(tail, start, size, ext_type, length):
    """Whatever ends the P2's user part, module_layout.user_part_start (the doctor's and the boot
    model's reader) finds the app where Device OS does, or nowhere: a start only from a
    dynamic-location extension opening the suffix, inside the user part."""
    import struct

    from particle_py.module_layout import user_part_start

    region = by_name("p2").user_part
    # a suffix of ``size`` bytes (the u16 size included) that opens with the extension, then the CRC
    opening = struct.pack("<HHI", ext_type, length, start)
    shaped = opening + tail[:max(size - 10, 0)].ljust(max(size - 10, 0), b"\0") + struct.pack("<H", size) + b"\0" * 4
    found = []
    for raw in (tail, shaped):
        flash = _Flash(raw, region.address)
        ours, code, _why = user_part_start(flash.read, region)
        assert (ours is None) == (code != "ok")
        found.append(ours)
        if ours is not None:
            low, high = region.window
            assert low <= ours & ~0xFFF < high
    if size >= 10 and ext_type == 2 and length >= 16 and region.window[0] <= start & ~0xFFF < region.window[1]:
        assert found[1] == start
