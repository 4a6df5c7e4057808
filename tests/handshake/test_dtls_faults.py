"""The DTLS probe against servers that are not there, say nothing, or answer garbage: each ends in
the outcome a device would reach, within the time it was given."""
from __future__ import annotations

import socket
import struct
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from particle_py.errors import ParticlePyError
from particle_py.handshake import Outcome, dtls

DEVICE_ID = "e00fce681f2b3c4d5e6f7a8b"


@pytest.fixture(scope="module")
def device_key():
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def server_public():
    return ec.generate_private_key(ec.SECP256R1()).public_key()


def timed_probe(port, device_key, server_public, timeout_s, host="127.0.0.1", **kw):
    started = time.monotonic()
    verdict = dtls.probe(host, port, DEVICE_ID, device_key, server_public, timeout_s, **kw)
    return verdict, time.monotonic() - started


def record(content_type, payload, version=b"\xfe\xfd", epoch=0, seq=0):
    return (bytes([content_type]) + version + struct.pack(">H", epoch) + seq.to_bytes(6, "big")
            + struct.pack(">H", len(payload)) + payload)


def handshake(msg_type, seq, body):
    return record(dtls.HANDSHAKE, dtls.handshake_bytes(msg_type, seq, body), seq=seq)


def hello_verify_request(cookie=b"c" * 16):
    return handshake(dtls.HELLO_VERIFY_REQUEST, 0, b"\xfe\xff" + bytes([len(cookie)]) + cookie)


def server_hello(cipher=dtls.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, version=b"\xfe\xfd"):
    return handshake(dtls.SERVER_HELLO, 1, version + b"r" * 32 + b"\x00" + struct.pack(">H", cipher) + b"\x00")


def test_a_port_with_nothing_listening_is_unreachable_at_once(device_key, server_public):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    verdict, took = timed_probe(port, device_key, server_public, 3.0)
    assert verdict.outcome is Outcome.UNREACHABLE
    assert verdict.detail == f"127.0.0.1:{port} (UDP): port unreachable (ICMP)"
    assert (verdict.protocol, verdict.port) == ("udp", port)
    assert took < 3.0


def test_a_server_that_never_answers_is_unreachable_when_the_time_is_up(scripted_peer, device_key,
                                                                         server_public):
    peer = scripted_peer(lambda n, d: [])
    verdict, took = timed_probe(peer.port, device_key, server_public, 2.5)
    assert verdict.outcome is Outcome.UNREACHABLE
    assert verdict.detail == f"127.0.0.1:{peer.port} (UDP): no answer to the ClientHello in 2.5 s"
    assert 2.5 <= took < 4.0
    # sent at 0 s and again at 1 s (the timer doubles: the next would be at 3 s)
    assert len(peer.received) == 2
    assert all(d[0] == dtls.HANDSHAKE and d[13] == dtls.CLIENT_HELLO for d in peer.received)


def test_a_host_that_does_not_resolve_is_unreachable(device_key, server_public):
    verdict, took = timed_probe(5684, device_key, server_public, 5.0, host="no-such-host.invalid")
    assert verdict.outcome is Outcome.UNREACHABLE
    assert verdict.detail.startswith("no-such-host.invalid:5684 (UDP): cannot resolve the host (")
    assert (verdict.host, verdict.protocol) == ("no-such-host.invalid", "udp")


def test_sock_factory_failure_is_unreachable(device_key, server_public):
    def refuse(host, port):
        raise ConnectionRefusedError(111, "Connection refused")
    verdict, _ = timed_probe(5684, device_key, server_public, 1.0, sock_factory=refuse)
    assert (verdict.outcome, verdict.detail) == (Outcome.UNREACHABLE, "127.0.0.1:5684 (UDP): Connection refused")


GARBAGE = [
    ("text", lambda n: b"hello, this is not DTLS", "unknown record type 104"),
    ("short header", lambda n: b"\x16\xfe\xfd\x00", "record header truncated (4 bytes)"),
    ("truncated record", lambda n: record(dtls.HANDSHAKE, b"x" * 50)[:23], "record says 50 bytes, 10 came"),
    ("too long", lambda n: b"\x16" * 20000, "a datagram of more than 18432 bytes is longer than any record"),
    ("TLS version", lambda n: record(dtls.HANDSHAKE, b"", version=b"\x03\x03"),
     "record version 0303 is not DTLS 1.2"),
    ("truncated handshake", lambda n: record(dtls.HANDSHAKE, dtls.handshake_bytes(3, 0, b"\xfe\xff\x10c")[:14]),
     "handshake: truncated"),
    ("bad cookie", lambda n: handshake(dtls.HELLO_VERIFY_REQUEST, 0, b"\xfe\xff\x10c"), "HelloVerifyRequest: truncated"),
    ("other cipher", lambda n: hello_verify_request() if n == 0 else server_hello(cipher=0xC02B),
     "the server chose cipher suite 0xc02b"),
    ("DTLS 1.0 chosen", lambda n: hello_verify_request() if n == 0 else server_hello(version=b"\xfe\xff"), "server chose version feff, not DTLS 1.2"),
    ("out of order", lambda n: handshake(dtls.SERVER_HELLO_DONE, 0, b""),
     "expected a ServerHello, got handshake message 14"),
    ("CCS too early", lambda n: record(dtls.CHANGE_CIPHER_SPEC, b"\x01"),
     "ChangeCipherSpec before the keys were agreed"),
    ("plain application data", lambda n: record(dtls.APPLICATION_DATA, b"hi"),
     "application data before the handshake finished"),
    ("long alert", lambda n: record(dtls.ALERT, b"\x02\x28\x00"), "alert of 3 bytes"),
]


@pytest.mark.parametrize("answer,reason", [g[1:] for g in GARBAGE], ids=[g[0] for g in GARBAGE])
def test_garbage_from_the_server_is_a_protocol_error_at_once(scripted_peer, device_key, server_public,
                                                             answer, reason):
    peer = scripted_peer(lambda n, d: [answer(n)])
    verdict, took = timed_probe(peer.port, device_key, server_public, 5.0)
    assert (verdict.outcome, verdict.detail) == (Outcome.PROTOCOL_ERROR, f"127.0.0.1:{peer.port} (UDP): {reason}")
    assert took < 2.5
    time.sleep(0.1)
    # the client says why it gave up, as mbedTLS does: a fatal decode_error in plaintext
    last = dtls.parse_records(peer.received[-1])
    assert [(r.content_type, r.epoch, r.fragment) for r in last] == [(dtls.ALERT, 0, b"\x02\x32")]


def test_an_alert_instead_of_a_server_hello_is_a_protocol_error(scripted_peer, device_key, server_public):
    peer = scripted_peer(lambda n, d: [record(dtls.ALERT, b"\x02\x28")])
    verdict, _ = timed_probe(peer.port, device_key, server_public, 5.0)
    assert verdict.outcome is Outcome.PROTOCOL_ERROR
    assert verdict.detail == (f"127.0.0.1:{peer.port} (UDP): the server sent a fatal alert handshake_failure "
                              "in answer to the ClientHello")


def test_a_server_that_only_repeats_its_cookie_request_is_bounded_and_not_flooded(scripted_peer, device_key,
                                                                                   server_public):
    peer = scripted_peer(lambda n, d: [hello_verify_request()])
    verdict, took = timed_probe(peer.port, device_key, server_public, 2.5)
    assert verdict.outcome is Outcome.PROTOCOL_ERROR
    assert verdict.detail == (f"127.0.0.1:{peer.port} (UDP): the handshake stalled waiting for the "
                              "ServerHello (in 2.5 s)")
    assert 2.5 <= took < 4.0
    # first ClientHello; the second (with the cookie); once more for each repeat the server
    # sent within a timer period (at most one per period), and on the timer at 1 s and 3 s
    assert 3 <= len(peer.received) <= 6


def test_keep_alive_bytes_are_ignored(scripted_peer, device_key, server_public):
    peer = scripted_peer(lambda n, d: [b"", b"\x00", hello_verify_request()] if n == 0 else [b"\x00"])
    verdict, _ = timed_probe(peer.port, device_key, server_public, 1.5)
    assert verdict.detail.endswith("the handshake stalled waiting for the ServerHello (in 1.5 s)")


def test_a_handshake_message_far_ahead_is_refused(scripted_peer, device_key, server_public):
    peer = scripted_peer(lambda n, d: [handshake(dtls.SERVER_HELLO, 40, b"")])
    verdict, _ = timed_probe(peer.port, device_key, server_public, 2.0)
    assert verdict.detail.endswith("handshake message_seq 40 is far ahead")


@pytest.mark.parametrize("device_id", ["e00fce68", "e00fce681f2b3c4d5e6f7a8z", "e00fce681f2b3c4d5e6f7a8b00"])
def test_a_malformed_device_id_is_a_usage_error(device_id, device_key, server_public):
    with pytest.raises(ParticlePyError) as e:
        dtls.probe("127.0.0.1", 5684, device_id, device_key, server_public, 1.0)
    assert e.value.message == f"{device_id!r} is not a device id"
    assert e.value.exit_code == 64


def test_a_resolver_that_hangs_does_not_hang_the_probe(monkeypatch, device_key, server_public):
    real = socket.getaddrinfo

    def slow_resolver(*args, **kwargs):        # the operating system's resolver, stuck
        time.sleep(3)
        return real(*args, **kwargs)
    monkeypatch.setattr(socket, "getaddrinfo", slow_resolver)
    verdict, took = timed_probe(5684, device_key, server_public, 1.0, host="slow.example")
    assert (verdict.outcome, verdict.detail) == (
        Outcome.UNREACHABLE, "slow.example:5684 (UDP): cannot resolve the host (no answer from the resolver in 1 s)")
    assert took < 2.5


def test_keys_of_the_wrong_kind_are_a_usage_error(device_key, server_public):
    from cryptography.hazmat.primitives.asymmetric import rsa
    rsa_key = rsa.generate_private_key(65537, 2048)
    p384 = ec.generate_private_key(ec.SECP384R1())
    for device, server, message in [
            (rsa_key, server_public, "The DTLS handshake needs the device's P-256 private key."),
            (p384, server_public, "The DTLS handshake needs the device's P-256 private key."),
            (device_key, rsa_key.public_key(),
             "The DTLS handshake needs the cloud's P-256 public key (the UDP server key)."),
            (device_key, device_key, "The DTLS handshake needs the cloud's P-256 public key (the UDP server key).")]:
        with pytest.raises(ParticlePyError) as e:
            dtls.probe("127.0.0.1", 5684, DEVICE_ID, device, server, 1.0)
        assert (e.value.message, e.value.exit_code) == (message, 64)


def test_a_server_that_never_finishes_its_message_is_bounded(scripted_peer, device_key, server_public):
    # the first 10 bytes of a 100-byte ServerHello, again and again, forty to each datagram we send
    part = record(dtls.HANDSHAKE, bytes([dtls.SERVER_HELLO]) + (100).to_bytes(3, "big") + b"\x00\x01"
                  + (0).to_bytes(3, "big") + (10).to_bytes(3, "big") + b"x" * 10, seq=1)
    peer = scripted_peer(lambda n, d: [hello_verify_request()] if n == 0 else [part] * 40)
    verdict, took = timed_probe(peer.port, device_key, server_public, 2.0)
    assert verdict.outcome is Outcome.PROTOCOL_ERROR
    assert verdict.detail.endswith("the handshake stalled waiting for the ServerHello (in 2 s)")
    assert 2.0 <= took < 3.5
