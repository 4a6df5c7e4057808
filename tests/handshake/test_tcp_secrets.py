"""The device's private key stays in the process: a TCP handshake probe, whatever its outcome,
writes nothing to stdout or stderr, logs nothing, and puts none of the key's material into its
Verdict or its errors (what goes over the wire is in test_tcp_probe.py)."""
from __future__ import annotations

import base64
import logging
import socket

import pytest

from particle_py.errors import ParticlePyError
from particle_py.handshake import Outcome
from particle_py.handshake.tcp import probe
from particle_py.sim.handshake_tcp import TcpHandshakeServer

DEVICE_ID = "0123456789abcdef01234567"


@pytest.fixture(scope="module")
def keys():
    from cryptography.hazmat.primitives.asymmetric import rsa

    return {"server": rsa.generate_private_key(65537, 2048), "other_server": rsa.generate_private_key(65537, 2048),
            "device": rsa.generate_private_key(65537, 1024), "other_device": rsa.generate_private_key(65537, 1024)}


def secret_fragments(private_key) -> list[str]:
    """Pieces of the private key as they could show up in text: PEM and DER (base64, hex), and
    the private numbers in decimal and hex."""
    from cryptography.hazmat.primitives import serialization as s

    der = private_key.private_bytes(s.Encoding.DER, s.PrivateFormat.PKCS8, s.NoEncryption())
    numbers = private_key.private_numbers()
    texts = [base64.b64encode(der).decode(), der.hex()]
    for value in (numbers.d, numbers.p, numbers.q, numbers.dmp1, numbers.dmq1, numbers.iqmp):
        texts += [str(value), f"{value:x}"]
    # slices from the middle: a leak of any part is found, and none matches by chance
    return [t[len(t) // 2 - 12:len(t) // 2 + 12] for t in texts]


def spki(key) -> bytes:
    from cryptography.hazmat.primitives import serialization as s

    return key.public_key().public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)


def test_no_key_material_leaves_by_any_outcome(keys, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    texts = []
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
    with TcpHandshakeServer("127.0.0.1", 0, keys["server"], {DEVICE_ID: spki(keys["device"])}.get,
                            earlier_server_keys=[keys["other_server"]]) as server:
        host, port = server.address
        runs = [(port, keys["device"], keys["server"]),             # accepted
                (port, keys["other_device"], keys["server"]),       # rejected: another key
                (port, keys["device"], keys["other_server"]),       # magenta: the cloud's earlier key
                (closed_port, keys["device"], keys["server"])]      # unreachable
        outcomes = []
        for run_port, device_key, server_key in runs:
            verdict = probe(host, run_port, DEVICE_ID, device_key, server_key.public_key(), timeout_s=5)
            outcomes.append(verdict.outcome)
            texts += [repr(verdict), str(verdict.detail)]
    assert outcomes == [Outcome.ACCEPTED, Outcome.DEVICE_KEY_REJECTED, Outcome.SERVER_KEY_MISMATCH,
                        Outcome.UNREACHABLE]
    for bad_id in ("not-an-id", "0" * 25):
        with pytest.raises(ParticlePyError) as caught:
            probe(host, port, bad_id, keys["device"], keys["server"].public_key())
        texts += [str(caught.value), repr(caught.value)]
    with pytest.raises(ParticlePyError) as caught:
        probe(host, port, DEVICE_ID, keys["server"], keys["server"].public_key())
    texts += [str(caught.value), repr(caught.value)]

    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert [r for r in caplog.records if r.name.startswith("particle_py")] == []
    everything = "\n".join(texts + [r.getMessage() for r in caplog.records])
    for key in (keys["device"], keys["other_device"], keys["server"], keys["other_server"]):
        for fragment in secret_fragments(key):
            assert fragment not in everything
