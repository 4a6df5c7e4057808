"""The device private key never leaves the probe: not in a Verdict, not on stdout/stderr, not in
a log record, not on the wire."""
from __future__ import annotations

import logging
import socket

import pytest
from cryptography.hazmat.primitives import serialization as s
from cryptography.hazmat.primitives.asymmetric import ec

from particle_py.handshake import Outcome, dtls

DEVICE_ID = "e00fce681f2b3c4d5e6f7a8b"


def secret_forms(key) -> list[bytes]:
    """The private key as PEM and DER (PKCS#8 and SEC1), and its scalar in raw bytes and hex."""
    scalar = key.private_numbers().private_value.to_bytes(32, "big")
    forms = [scalar, scalar.hex().encode(), scalar.hex().upper().encode()]
    for fmt in (s.PrivateFormat.PKCS8, s.PrivateFormat.TraditionalOpenSSL):
        der = key.private_bytes(s.Encoding.DER, fmt, s.NoEncryption())
        pem = key.private_bytes(s.Encoding.PEM, fmt, s.NoEncryption())
        body = b"".join(pem.splitlines()[1:-1])
        forms += [der, der.hex().encode(), pem, body, body[10:50]]
    return forms


def assert_no_secret(key, *texts):
    for text in texts:
        blob = text if isinstance(text, bytes) else str(text).encode()
        for form in secret_forms(key):
            assert form not in blob


def run_all(probes, key, capfd, caplog):
    caplog.set_level(logging.DEBUG)
    verdicts = [probe() for probe in probes]
    out, err = capfd.readouterr()
    assert_no_secret(key, out, err, caplog.text, *[repr(v) for v in verdicts], *[v.detail for v in verdicts])
    return verdicts


def test_no_key_material_in_any_outcome_without_a_server(scripted_peer, capfd, caplog):
    key = ec.generate_private_key(ec.SECP256R1())
    server = ec.generate_private_key(ec.SECP256R1()).public_key()
    garbage = scripted_peer(lambda n, d: [b"\x16\xfe\xfd" + b"\x00" * 20])
    silent = scripted_peer(lambda n, d: [])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as closed:
        closed.bind(("127.0.0.1", 0))
        closed_port = closed.getsockname()[1]
    verdicts = run_all([
        lambda: dtls.probe("127.0.0.1", garbage.port, DEVICE_ID, key, server, 2.0),
        lambda: dtls.probe("127.0.0.1", silent.port, DEVICE_ID, key, server, 1.2),
        lambda: dtls.probe("127.0.0.1", closed_port, DEVICE_ID, key, server, 2.0),
        lambda: dtls.probe("no-such-host.invalid", 5684, DEVICE_ID, key, server, 2.0),
    ], key, capfd, caplog)
    assert [v.outcome for v in verdicts] == [Outcome.PROTOCOL_ERROR] + [Outcome.UNREACHABLE] * 3
    assert_no_secret(key, *garbage.received, *silent.received)


@pytest.mark.peers
def test_no_key_material_in_verdicts_output_logs_or_datagrams_with_gnutls(gnutls_serv, udp_proxy, keys,
                                                                          capfd, caplog):
    key = keys["device"]
    accepting = gnutls_serv("--require-client-cert")
    refusing = gnutls_serv("--require-client-cert", "--verify-client-cert")
    proxies = [udp_proxy(accepting.port), udp_proxy(accepting.port), udp_proxy(refusing.port)]
    server = keys["server"].public_key()
    verdicts = run_all([
        lambda: dtls.probe("127.0.0.1", accepting.port, DEVICE_ID, key, server, 5.0,
                           send_hello=True, sock_factory=proxies[0].sock_factory),
        lambda: dtls.probe("127.0.0.1", accepting.port, DEVICE_ID, key, keys["other_server"].public_key(), 5.0,
                           sock_factory=proxies[1].sock_factory),
        lambda: dtls.probe("127.0.0.1", refusing.port, DEVICE_ID, key, server, 5.0,
                           sock_factory=proxies[2].sock_factory),
    ], key, capfd, caplog)
    assert [v.outcome for v in verdicts] == [Outcome.ACCEPTED, Outcome.SERVER_KEY_MISMATCH,
                                             Outcome.DEVICE_KEY_REJECTED]
    assert_no_secret(key, *[d for p in proxies for _, d in p.offered], accepting.log(), refusing.log())
