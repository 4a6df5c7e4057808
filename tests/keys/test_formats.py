"""Key formats: what the device can parse, what users hand us, and what we refuse."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from particle_py.errors import ParticlePyError
from particle_py.keys import formats
from particle_py.platforms import by_name
from particle_py.sim import der as sim_der

PHOTON_KEY_SLOT = by_name("photon").device_key["tcp"]
ARGON_KEY_SLOT = by_name("argon").device_key["udp"]
CORE_KEY_SLOT = by_name("core").device_key["tcp"]


# --- an ASN.1 reader written independently of the code under test, as the device reads ----

def _tlv(data: bytes, pos: int):
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first & 0x80:
        n = first & 0x7F
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    else:
        length = first
    return tag, data[pos:pos + length], pos + length


def device_parses_rsa(slot_image: bytes) -> tuple[int, int]:
    """Parse a slot image as Device OS's RSA code does: PKCS#1 RSAPrivateKey at offset 0.

    Returns (modulus bits, public exponent); asserts the key is self-consistent."""
    tag, body, end = _tlv(slot_image, 0)
    assert tag == 0x30 and end <= 612
    ints, pos = [], 0
    while pos < len(body):
        t, value, pos = _tlv(body, pos)
        assert t == 0x02
        ints.append(int.from_bytes(value, "big", signed=True))
    assert len(ints) == 9 and ints[0] == 0          # version 0, two-prime
    _, n, e, d, p, q, dp, dq, qinv = ints
    assert p * q == n and (d * e) % ((p - 1) * (q - 1) // _gcd(p - 1, q - 1)) == 1
    assert dp == d % (p - 1) and dq == d % (q - 1) and (qinv * q) % p == 1
    return n.bit_length(), e


def _gcd(a, b):
    while b:
        a, b = b, a % b
    return a


@pytest.mark.parametrize("batch", range(4))
def test_1000_generated_rsa_keys_are_pkcs1_and_fit_the_612_byte_slot(batch):
    for _ in range(250):
        der = formats.device_der(formats.generate("rsa"))
        assert 607 <= len(der) <= 611
        # The device reads the whole 612-byte slot: key + whatever follows (erased flash).
        image = der + b"\xff" * (612 - len(der))
        assert device_parses_rsa(image) == (1024, 65537)
        n, e = sim_der.parse_pkcs1_private(image)              # the simulated device's own parser
        assert n.bit_length() == 1024 and e == 65537
        info = formats.parse_key(image)
        assert info.kind == formats.PKCS1_PRIVATE
        assert formats.check_device_key(info, PHOTON_KEY_SLOT, "k") == der


def test_ec_device_key_is_sec1_121_bytes_with_the_p256_oid():
    der = formats.device_der(formats.generate("ec"))
    assert len(der) == 121
    scalar, point = sim_der.parse_sec1_private(der + b"\xff" * 71)
    assert point == sim_der.p256_public_point(scalar)
    assert der[:2] == b"\x30\x77" and formats.P256_OID in der
    assert formats.parse_key(der + b"\xff" * 71).kind == formats.SEC1_PRIVATE


def _all_encodings(key):
    from cryptography.hazmat.primitives import serialization as s
    enc, fmt, none = s.Encoding, s.PrivateFormat, s.NoEncryption()
    pub = key.public_key()
    out = {
        ("der", formats.PKCS8_PRIVATE): key.private_bytes(enc.DER, fmt.PKCS8, none),
        ("pem", formats.PKCS8_PRIVATE): key.private_bytes(enc.PEM, fmt.PKCS8, none),
        ("der", formats.SPKI_PUBLIC): pub.public_bytes(enc.DER, s.PublicFormat.SubjectPublicKeyInfo),
        ("pem", formats.SPKI_PUBLIC): pub.public_bytes(enc.PEM, s.PublicFormat.SubjectPublicKeyInfo),
    }
    trad = formats.PKCS1_PRIVATE if formats.key_alg(key) == "rsa" else formats.SEC1_PRIVATE
    out[("der", trad)] = key.private_bytes(enc.DER, fmt.TraditionalOpenSSL, none)
    out[("pem", trad)] = key.private_bytes(enc.PEM, fmt.TraditionalOpenSSL, none)
    if formats.key_alg(key) == "rsa":
        out[("der", formats.PKCS1_PUBLIC)] = pub.public_bytes(enc.DER, s.PublicFormat.PKCS1)
        out[("pem", formats.PKCS1_PUBLIC)] = pub.public_bytes(enc.PEM, s.PublicFormat.PKCS1)
    return out


@pytest.mark.parametrize("alg", ["rsa", "ec"])
def test_every_input_format_is_recognised_and_converts_to_the_device_format(alg):
    key = formats.generate(alg)
    expected_public = formats.public_pem(key)
    for (encoding, kind), data in _all_encodings(key).items():
        info = formats.parse_key(data, "f")
        assert (info.encoding, info.kind, info.alg) == (encoding, kind, alg)
        assert formats.public_pem(info.key) == expected_public
        if info.private:
            slot = PHOTON_KEY_SLOT if alg == "rsa" else ARGON_KEY_SLOT
            assert formats.check_device_key(info, slot, "f") == formats.device_der(key)


def test_openssl3_style_pkcs8_rsa_key_is_converted_to_pkcs1_before_the_slot():
    from cryptography.hazmat.primitives import serialization as s
    key = formats.generate("rsa")
    pkcs8 = key.private_bytes(s.Encoding.DER, s.PrivateFormat.PKCS8, s.NoEncryption())
    assert len(pkcs8) > 612                       # what openssl 3 writes does not fit
    der = formats.check_device_key(formats.parse_key(pkcs8), PHOTON_KEY_SLOT, "k")
    assert len(der) <= 611 and device_parses_rsa(der)[0] == 1024


def test_ec_params_block_before_the_key_is_skipped():
    key = formats.generate("ec")
    params = b"-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    info = formats.parse_key(params + formats.private_pem(key))
    assert info.kind == formats.SEC1_PRIVATE


@pytest.mark.parametrize("make,slot,message", [
    (lambda: formats.generate("ec"), PHOTON_KEY_SLOT, "is an EC key but this device's protocol needs an RSA key"),
    (lambda: formats.generate("rsa"), ARGON_KEY_SLOT, "is an RSA key but this device's protocol needs an EC"),
])
def test_wrong_algorithm_is_refused(make, slot, message):
    info = formats.parse_key(formats.device_der(make()))
    with pytest.raises(ParticlePyError, match=message):
        formats.check_device_key(info, slot, "k.der")


def test_rsa_2048_key_cannot_fit_and_is_refused_even_on_the_core():
    from cryptography.hazmat.primitives.asymmetric import rsa
    big = rsa.generate_private_key(65537, 2048)
    info = formats.parse_key(formats.device_der(big))
    for slot in (PHOTON_KEY_SLOT, CORE_KEY_SLOT):
        with pytest.raises(ParticlePyError, match="2048-bit RSA key; the device uses 1024-bit"):
            formats.check_device_key(info, slot, "big.der")


def test_public_key_is_refused_for_the_device_slot():
    info = formats.parse_key(formats.public_pem(formats.generate("ec")))
    with pytest.raises(ParticlePyError, match="is a public key; the device needs its private key"):
        formats.check_device_key(info, ARGON_KEY_SLOT, "k.pub.pem")


def test_other_curves_and_encrypted_pem_are_refused_with_a_reason():
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import ec
    k384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ParticlePyError, match="curve secp384r1; Particle devices use prime256v1"):
        formats.parse_key(k384.private_bytes(s.Encoding.DER, s.PrivateFormat.TraditionalOpenSSL,
                                             s.NoEncryption()))
    enc = formats.generate("ec").private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8,
                                               s.BestAvailableEncryption(b"pw"))
    with pytest.raises(ParticlePyError, match="encrypted with a passphrase"):
        formats.parse_key(enc, "k.pem")


@pytest.mark.parametrize("data", [b"", b"\xff" * 612, b"\x00" * 612, b"hello world", b"-----BEGIN FOO-----\n"])
def test_not_a_key_is_refused(data):
    with pytest.raises(ParticlePyError, match="is not a key|holds no key"):
        formats.parse_key(data, "x.der")
    assert formats.parse_device_slot(data, "rsa") is None


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=700))
def test_parse_key_on_any_bytes_raises_only_our_error(data):
    try:
        formats.parse_key(data, "f")
    except ParticlePyError:
        pass
    formats.parse_device_slot(data, "rsa")
    formats.parse_device_slot(data, "ec")


@settings(max_examples=300)
@given(st.binary(max_size=40), st.text(alphabet="ABCDEFGHIJ=+/\n -", max_size=80))
def test_pem_parser_on_garbage_raises_only_our_error(prefix, body):
    data = prefix + b"-----BEGIN RSA PRIVATE KEY-----\n" + body.encode() + b"\n-----END RSA PRIVATE KEY-----\n"
    try:
        formats.parse_key(data, "f")
    except ParticlePyError:
        pass


@given(st.binary(max_size=300), st.binary(max_size=50))
def test_der_length_never_exceeds_the_data_and_ignores_padding(content, tail):
    head = b"\x30" + (bytes([len(content)]) if len(content) < 128 else
                      b"\x82" + len(content).to_bytes(2, "big"))
    assert formats.der_length(head + content + tail) == len(head) + len(content)
    cut = formats.der_length((head + content)[:-1]) if content else None
    assert cut is None
