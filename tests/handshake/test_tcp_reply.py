"""The probe's reading of the server's 384-byte reply (`check_reply`), the one parser of outside
input in the TCP handshake: any bytes give an Outcome, never an exception, and only a reply that
is the device key's session key signed by the server key is accepted."""
from __future__ import annotations

import hashlib
import hmac
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from particle_py.handshake import Outcome
from particle_py.handshake.tcp import check_reply


@pytest.fixture(scope="module")
def keys():
    from cryptography.hazmat.primitives.asymmetric import rsa

    return {"server": rsa.generate_private_key(65537, 2048), "device": rsa.generate_private_key(65537, 1024)}


def signed(server_key, digest: bytes) -> bytes:
    numbers = server_key.private_numbers()
    n, d = numbers.public_numbers.n, numbers.d
    encoded = b"\x00\x01" + b"\xff" * (256 - len(digest) - 3) + b"\x00" + digest
    return pow(int.from_bytes(encoded, "big"), d, n).to_bytes(256, "big")


def good_reply(keys, session_key: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import padding

    ciphertext = keys["device"].public_key().encrypt(session_key, padding.PKCS1v15())
    return ciphertext + signed(keys["server"], hmac.new(session_key, ciphertext, hashlib.sha1).digest())


SLOW = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                      HealthCheck.too_slow])


@SLOW
@given(st.one_of(st.binary(min_size=384, max_size=384), st.binary(max_size=800)))
def test_any_bytes_give_an_outcome(keys, reply):
    outcome, detail = check_reply(reply, keys["device"], keys["server"].public_key())
    assert isinstance(outcome, Outcome) and outcome is not Outcome.ACCEPTED
    assert detail and isinstance(detail, str)
    if len(reply) != 384:
        assert (outcome, detail) == (Outcome.PROTOCOL_ERROR, f"the session key reply is {len(reply)} bytes, not 384")


@SLOW
@given(st.binary(min_size=40, max_size=40), st.integers(0, 383), st.integers(1, 255))
def test_a_changed_byte_is_never_accepted(keys, session_key, position, flip):
    reply = bytearray(good_reply(keys, session_key))
    assert check_reply(bytes(reply), keys["device"], keys["server"].public_key())[0] is Outcome.ACCEPTED
    reply[position] ^= flip
    outcome, _ = check_reply(bytes(reply), keys["device"], keys["server"].public_key())
    # a change in the session key's ciphertext breaks its padding (orange) or its HMAC (magenta);
    # a change in the signature, the signature (magenta); a lucky padding may change the length
    assert outcome in ((Outcome.DEVICE_KEY_REJECTED, Outcome.SERVER_KEY_MISMATCH, Outcome.PROTOCOL_ERROR)
                       if position < 128 else (Outcome.SERVER_KEY_MISMATCH,))


@SLOW
@given(st.binary(min_size=0, max_size=117))
def test_session_keys_of_every_size_but_40_are_protocol_errors(keys, session_key):
    outcome, detail = check_reply(good_reply(keys, session_key), keys["device"], keys["server"].public_key())
    if len(session_key) == 40:
        assert outcome is Outcome.ACCEPTED
    else:
        assert (outcome, detail) == (Outcome.PROTOCOL_ERROR, f"the session key is {len(session_key)} bytes, not 40")


def test_a_ciphertext_past_the_modulus_is_a_decryption_error(keys):
    reply = b"\xff" * 128 + os.urandom(256)
    outcome, detail = check_reply(reply, keys["device"], keys["server"].public_key())
    assert outcome is Outcome.DEVICE_KEY_REJECTED and detail.startswith("decryption error")
