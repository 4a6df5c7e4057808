"""Fixtures for the keys tests (home and the particle runner are in tests/conftest.py)."""
from __future__ import annotations

import pytest

def _standin_blob(public_der: bytes, size: int, address_offset: int, tlv: bytes) -> bytes:
    blob = bytearray(public_der + b"\xff" * (size - len(public_der)))
    blob[address_offset:address_offset + len(tlv)] = tlv
    return bytes(blob)


@pytest.fixture(scope="session")
def standin_server_keys():
    """Stand-ins shaped like particle-cli's assets/keys/rsa.pub.der and ec.pub.der
    (particle-cli.md §4.1): our own RSA-2048 / P-256 SPKI DER, 0xFF padding, the same
    host TLVs, port bytes left 0xFFFF. {'tcp': bytes, 'udp': bytes}"""
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    spki = s.PublicFormat.SubjectPublicKeyInfo
    rsa_der = rsa.generate_private_key(65537, 2048).public_key().public_bytes(s.Encoding.DER, spki)
    ec_der = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(s.Encoding.DER, spki)
    assert len(rsa_der) == 294 and len(ec_der) == 91
    return {"tcp": _standin_blob(rsa_der, 512, 384, b"\x01\x0fdevice.spark.io\x00"),
            "udp": _standin_blob(ec_der, 320, 192, b"\x01\x13$id.udp.particle.io")}
