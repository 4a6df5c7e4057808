"""The simulated device's own key parser agrees with `cryptography` on real keys and
refuses what Device OS would refuse (PKCS#8, truncated, oversized)."""
from hypothesis import given, settings, strategies as st
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from particle_py.sim import boot, der

RAW = serialization.Encoding.DER


def _rsa():
    return rsa.generate_private_key(65537, 1024)


def test_pkcs1_rsa_key_parses_and_matches_its_spki():
    key = _rsa()
    pkcs1 = key.private_bytes(RAW, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    n, e = der.parse_pkcs1_private(pkcs1 + b"\xff" * (612 - len(pkcs1)))
    assert (n, e) == (key.public_key().public_numbers().n, 65537)
    spki = key.public_key().public_bytes(RAW, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert boot._spki_for(("rsa", (n, e))) == spki
    assert der.parse_spki(spki) == ("rsa", (n, e))


def test_pkcs8_rsa_key_is_refused_like_device_os_does():
    pkcs8 = _rsa().private_bytes(RAW, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    assert len(pkcs8) > 612
    with pytest.raises(der.DerError):
        der.parse_pkcs1_private(pkcs8)


def test_sec1_key_with_and_without_public_point():
    key = ec.generate_private_key(ec.SECP256R1())
    sec1 = key.private_bytes(RAW, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption())
    scalar, point = der.parse_sec1_private(sec1)
    expected = key.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    assert point == expected
    assert der.p256_public_point(scalar) == expected
    spki = key.public_key().public_bytes(RAW, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert boot._spki_for(("ec", point)) == spki


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=700))
def test_random_bytes_never_crash_the_device_key_parsers(blob):
    for parse in (der.parse_pkcs1_private, der.parse_sec1_private, der.parse_spki):
        try:
            parse(blob)
        except der.DerError:
            pass


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"\x30", b"\x02\x01\x00", b"\x03\x01\x00", b"\x06\x01\x2a", b"\xa0\x00",
                                 b"\xa1\x02\x03\x00", b"\x04\x01\x01", b"\x81", b"\x00"]), max_size=12))
def test_der_shaped_garbage_never_crashes(parts):
    blob = b"".join(parts)
    blob = b"\x30" + bytes([len(blob) & 0x7F]) + blob
    for parse in (der.parse_pkcs1_private, der.parse_sec1_private, der.parse_spki):
        try:
            parse(blob)
        except der.DerError:
            pass
