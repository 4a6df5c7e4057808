"""`particle keys verify` with keys and addresses given as files and values: what does not parse is
named, keys of the wrong type for the protocol are refused before anything is sent, an address
that does not resolve is named, and the private key never shows in output or logs."""
from __future__ import annotations

import base64
import logging
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from particle_py.keys import formats
from particle_py.ops import verify as verify_ops

ID = "0123456789abcdef01234567"


@pytest.fixture
def files(home):
    from pathlib import Path

    from cryptography.hazmat.primitives import serialization as s
    home = Path.cwd()                   # the isolated working folder
    rsa_key, ec_key = formats.generate("rsa"), formats.generate("ec")
    (home / "rsa.der").write_bytes(formats.device_der(rsa_key))
    (home / "ec.pem").write_bytes(formats.private_pem(ec_key))
    (home / "rsa.pub.pem").write_bytes(formats.public_pem(rsa_key))
    (home / "garbage.der").write_bytes(b"\x30\x82\x02\x5d" + b"\x01" * 40)
    from cryptography.hazmat.primitives.asymmetric import rsa
    (home / "server.pub.pem").write_bytes(formats.public_pem(rsa.generate_private_key(65537, 2048)))
    del s
    return home, rsa_key, ec_key


def test_a_key_file_that_does_not_parse_is_named(files, particle):
    code, out, err = particle("keys", "verify", ID, "--key", "garbage.der", "--server-key", "rsa.pub.pem")
    assert code != 0 and out == ""
    assert err.startswith("garbage.der is not a key in PEM or DER format")


def test_a_public_key_given_as_the_device_key_is_refused(files, particle):
    code, out, err = particle("keys", "verify", ID, "--key", "rsa.pub.pem", "--server-key", "rsa.pub.pem")
    assert code == 65 and err.startswith("rsa.pub.pem is a public key; the handshake needs the device's private key.")


def test_a_key_of_the_wrong_type_for_the_protocol_is_refused_before_anything_is_sent(files, particle):
    code, out, err = particle("keys", "verify", ID, "--key", "ec.pem", "--server-key", "rsa.pub.pem",
                              "--protocol", "tcp")
    assert code == 65
    assert err.startswith("ec.pem is an EC key but the TCP handshake needs an RSA device key.")
    code, out, err = particle("keys", "verify", ID, "--key", "rsa.der", "--server-key", "ec.pem", "--protocol", "tcp")
    assert code == 65 and err.startswith("ec.pem is an EC key but the TCP handshake needs an RSA server key.")


def test_an_address_that_does_not_resolve_is_named(files, particle, monkeypatch):
    monkeypatch.delenv("PARTICLE_PY_CLOUD_HOSTS", raising=False)
    code, out, err = particle("keys", "verify", ID, "--key", "rsa.der", "--server-key", "server.pub.pem",
                              "--host", "no-such-host.invalid")
    assert code == 69
    assert "After a reset: blinking cyan" in out
    assert err.startswith("The cloud cannot be reached from this computer (the server address "
                          "no-such-host.invalid does not resolve")


def test_a_bad_hosts_setting_says_its_form(files, particle, monkeypatch):
    monkeypatch.setenv("PARTICLE_PY_CLOUD_HOSTS", "device.spark.io")
    code, out, err = particle("keys", "verify", ID, "--key", "rsa.der", "--server-key", "server.pub.pem",
                              "--protocol", "tcp")
    assert code == 2 and "is not NAME[:PORT]=ADDRESS:PORT" in err


def secret_fragments(private_key) -> list[str]:
    from cryptography.hazmat.primitives import serialization as s
    der = private_key.private_bytes(s.Encoding.DER, s.PrivateFormat.PKCS8, s.NoEncryption())
    texts = [base64.b64encode(der).decode(), der.hex(), base64.b64encode(formats.device_der(private_key)).decode()]
    numbers = private_key.private_numbers()
    texts += [str(numbers.private_value if hasattr(numbers, "private_value") else numbers.d)]
    return [t[len(t) // 2 - 12:len(t) // 2 + 12] for t in texts]


@pytest.mark.parametrize("cloud_key", ["registered", "other"])
def test_the_private_key_never_shows_in_output_or_logs(lab, particle, caplog, cloud_key):  # noqa: F811
    caplog.set_level(logging.DEBUG)
    lab.create("photon", cloud_key=cloud_key)
    import os

    from particle_py import platforms
    from particle_py.sim.bus import SimBus
    bus = SimBus.load(os.environ["PARTICLE_PY_SIM"])
    slot = platforms.by_name("photon").device_key["tcp"]
    raw = bytes(bus.devices()[0].memory(slot.alt).peek(slot.address, slot.size))
    bus.save()
    private = formats.parse_device_slot(raw, "rsa").key
    code, out, err = particle("-v", "keys", "verify")
    seen = out + err + caplog.text
    assert re.search(r"After a reset: ", out)
    for fragment in secret_fragments(private):
        assert fragment not in seen


@given(st.binary(max_size=700))
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_any_device_key_slot_is_a_verdict_never_a_crash(raw):
    """The device key slot as read over DFU is outside input: any bytes give a key or a named reason."""
    from particle_py import platforms
    slot = platforms.by_name("photon").device_key["tcp"]
    data = (raw + b"\xff" * slot.size)[:slot.size]
    key, local = verify_ops._device_key_from_slot(data, slot)
    assert (key is None) != (local is None)
    if local is not None:
        assert local[0] in (verify_ops.DEVICE_KEY_EMPTY, verify_ops.DEVICE_KEY_UNUSABLE) and local[1]


@given(st.binary(max_size=600))
@settings(max_examples=200, deadline=None)
def test_any_server_key_slot_gives_a_key_and_address_or_a_reason(raw):
    from particle_py import platforms
    for protocol, name in (("tcp", "photon"), ("udp", "argon")):
        slot = platforms.by_name(name).server_key[protocol]
        data = (raw + b"\xff" * slot.size)[:slot.size]
        spki, host, port, why = verify_ops._server_from_blob(data, slot, protocol, ID)
        assert isinstance(host, str) and 0 <= port <= 0xFFFF
        assert why is not None or spki


@given(st.text(max_size=120))
@settings(max_examples=200, deadline=None)
def test_any_hosts_setting_parses_or_says_its_form(value):
    from particle_py.errors import ParticlePyError
    try:
        verify_ops.cloud_hosts({"PARTICLE_PY_CLOUD_HOSTS": value if not value.startswith("@") else "x" + value})
    except ParticlePyError as err:
        assert "NAME[:PORT]=ADDRESS:PORT" in err.message


def test_a_formatted_server_key_brings_its_address(files, particle, monkeypatch):
    """A server blob as `particle keys server` writes it (key, padding, host, port): its address is
    the one the device would use, and one that does not resolve is named."""
    from particle_py import platforms
    from particle_py.keys import server_blob
    monkeypatch.delenv("PARTICLE_PY_CLOUD_HOSTS", raising=False)
    home, _rsa, _ec = files
    spki = formats.public_der(formats.parse_key((home / "server.pub.pem").read_bytes()).key)
    slot = platforms.by_name("photon").server_key["tcp"]
    (home / "server-blob.der").write_bytes(server_blob.build(spki, slot, host="no-such-host.invalid", port=6001))
    code, out, err = particle("keys", "verify", ID, "--key", "rsa.der", "--server-key", "server-blob.der")
    assert code == 69
    assert out.startswith(f"Device {ID}: tcp://no-such-host.invalid:6001\n")
    assert "the server address no-such-host.invalid does not resolve" in err
