"""The DTLS probe against an independent server: GnuTLS's gnutls-serv with raw public keys, run
with only what Device OS offers. What the client put on the wire is read back through a proxy."""
from __future__ import annotations

import time

import pytest


from particle_py.handshake import Outcome, dtls

pytestmark = pytest.mark.peers

DEVICE_ID = "e00fce681f2b3c4d5e6f7a8b"


def records(proxy, direction):
    return [r for d, b in proxy.seen if d == direction for r in dtls.parse_records(b)]


def handshake_types(recs):
    """The handshake message types of the plaintext (epoch 0) records, in order."""
    return [f.msg_type for r in recs if r.content_type == dtls.HANDSHAKE and r.epoch == 0
            for f in dtls.parse_handshake_fragments(r.fragment)]


def test_the_handshake_completes_with_gnutls_and_ends_with_close_notify(gnutls_serv, udp_proxy, keys):
    server = gnutls_serv("--require-client-cert")
    proxy = udp_proxy(server.port)
    started = time.monotonic()
    verdict = dtls.probe("127.0.0.1", server.port, DEVICE_ID, keys["device"], keys["server"].public_key(),
                         5.0, sock_factory=proxy.sock_factory)
    assert verdict.outcome is Outcome.ACCEPTED, verdict.detail
    assert (verdict.protocol, verdict.host, verdict.port) == ("udp", "127.0.0.1", server.port)
    assert verdict.detail == (f"127.0.0.1:{server.port} (UDP): the server proved its key and took the "
                              "device key (handshake finished)")
    assert time.monotonic() - started < 4
    time.sleep(0.2)
    up = records(proxy, "up")
    # ClientHello, ClientHello with the cookie, then flight 5: Certificate, ClientKeyExchange,
    # CertificateVerify (plaintext), ChangeCipherSpec, then Finished and close_notify encrypted
    assert handshake_types(up) == [dtls.CLIENT_HELLO, dtls.CLIENT_HELLO, dtls.CERTIFICATE,
                                   dtls.CLIENT_KEY_EXCHANGE, dtls.CERTIFICATE_VERIFY]
    assert [(r.content_type, r.epoch) for r in up[-3:]] == [
        (dtls.CHANGE_CIPHER_SPEC, 0), (dtls.HANDSHAKE, 1), (dtls.ALERT, 1)]
    assert not [r for r in up if r.content_type == dtls.APPLICATION_DATA]      # no Hello: never online


def test_the_client_hello_offers_what_device_os_offers(gnutls_serv, udp_proxy, keys):
    server = gnutls_serv("--require-client-cert")
    proxy = udp_proxy(server.port)
    dtls.probe("127.0.0.1", server.port, DEVICE_ID, keys["device"], keys["server"].public_key(), 5.0,
               sock_factory=proxy.sock_factory)
    hello = dtls.parse_handshake_fragments(records(proxy, "up")[1].fragment)[0]
    assert (hello.msg_type, hello.message_seq, hello.offset, len(hello.body)) == (1, 1, 0, hello.length)
    r = dtls.Reader(hello.body, "ClientHello")
    assert r.take(2) == b"\xfe\xfd"
    r.take(32)
    assert r.vec(1) == b""                               # no session to resume
    assert len(r.vec(1)) > 0                             # the cookie came back
    assert r.vec(2) == bytes.fromhex("c0ae00ff")         # AES-128-CCM-8 only (and the SCSV)
    assert r.vec(1) == b"\x00"                           # no compression
    assert dtls.parse_extensions(r) == {
        13: bytes.fromhex("00020403"),                   # ecdsa_secp256r1_sha256
        10: bytes.fromhex("00020017"),                   # secp256r1
        11: bytes.fromhex("0100"),                       # uncompressed points
        254: b"\x00",                                    # connection id, empty own CID
        19: bytes.fromhex("0102"),                       # client certificate: raw public key
        20: bytes.fromhex("0102"),                       # server certificate: raw public key
    }
    certificate = [f for rec in records(proxy, "up") if rec.content_type == dtls.HANDSHAKE and rec.epoch == 0
                   for f in dtls.parse_handshake_fragments(rec.fragment) if f.msg_type == dtls.CERTIFICATE][0]
    from cryptography.hazmat.primitives import serialization as s
    spki = keys["device"].public_key().public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)
    assert certificate.body == len(spki).to_bytes(3, "big") + spki     # RFC 7250: the bare SPKI


def test_a_different_server_key_is_a_server_key_mismatch(gnutls_serv, keys):
    server = gnutls_serv("--require-client-cert")
    verdict = dtls.probe("127.0.0.1", server.port, DEVICE_ID, keys["device"],
                         keys["other_server"].public_key(), 5.0)
    assert verdict.outcome is Outcome.SERVER_KEY_MISMATCH
    assert verdict.detail == (f"127.0.0.1:{server.port} (UDP): the ServerKeyExchange signature does not "
                              "verify with the server public key the device holds: this server key is not "
                              "the cloud's")
    # the probe told the server it gave up, so the next handshake is served at once
    assert dtls.probe("127.0.0.1", server.port, DEVICE_ID, keys["device"], keys["server"].public_key(),
                      3.0).outcome is Outcome.ACCEPTED


def test_a_server_that_refuses_the_device_key_is_device_key_rejected(gnutls_serv, keys):
    # --verify-client-cert: GnuTLS cannot chain a raw public key to anything, so it refuses it,
    # as the cloud refuses a key it does not hold
    server = gnutls_serv("--require-client-cert", "--verify-client-cert")
    verdict = dtls.probe("127.0.0.1", server.port, DEVICE_ID, keys["device"], keys["server"].public_key(), 5.0)
    assert verdict.outcome is Outcome.DEVICE_KEY_REJECTED
    assert verdict.detail == (f"127.0.0.1:{server.port} (UDP): the server sent a fatal alert access_denied "
                              "after the device key was shown: the cloud does not take this device key")


def test_send_hello_says_hello_and_goodbye_in_application_data(gnutls_serv, udp_proxy, keys):
    server = gnutls_serv("--require-client-cert")
    proxy = udp_proxy(server.port)
    verdict = dtls.probe("127.0.0.1", server.port, DEVICE_ID, keys["device"], keys["server"].public_key(),
                         5.0, send_hello=True, sock_factory=proxy.sock_factory)
    # the echo server returns the Hello as a confirmable message; the client acknowledges it as
    # the device would, and the echoed ACK is the acknowledgement of the Hello
    assert verdict.outcome is Outcome.ACCEPTED, verdict.detail
    assert verdict.detail == (f"127.0.0.1:{server.port} (UDP): the cloud took the device key and "
                              f"acknowledged the Hello for {DEVICE_ID}")
    time.sleep(0.2)
    up = records(proxy, "up")
    sent = [len(r.fragment) - dtls.EXPLICIT_NONCE - dtls.CCM_TAG for r in up
            if r.content_type == dtls.APPLICATION_DATA]
    # Hello (39 bytes), ACK of the echoed Hello (4), Goodbye (9), ACK of the echoed Goodbye (4)
    assert sent[:3] == [39, 4, 9]
    assert (up[-1].content_type, up[-1].epoch) == (dtls.ALERT, 1)
    assert server.log().count(b"*** Processing") >= 3


def test_a_lost_first_client_hello_is_sent_again(gnutls_serv, udp_proxy, keys):
    server = gnutls_serv("--require-client-cert")
    proxy = udp_proxy(server.port, to_server=lambda i, d: [] if i == 0 else [d])
    started = time.monotonic()
    verdict = dtls.probe("127.0.0.1", server.port, DEVICE_ID, keys["device"], keys["server"].public_key(),
                         5.0, sock_factory=proxy.sock_factory)
    assert verdict.outcome is Outcome.ACCEPTED, verdict.detail
    assert 1.0 <= time.monotonic() - started < 3.5       # one retransmission timer (1 s) later
    first, again = [r for d, b in proxy.offered if d == "up" for r in dtls.parse_records(b)][:2]
    assert first.seq != again.seq                        # a retransmission is a new record
    assert first.fragment == again.fragment              # of the same message


def test_reordered_repeated_and_fragmented_server_flights_still_complete(gnutls_serv, udp_proxy, keys):
    held = []

    def shuffle(i, datagram):
        # after the cookie: hold each datagram back and send it after the next one, twice over
        if i == 0:
            return [datagram]
        if not held:
            held.append(datagram)
            return []
        return [datagram, held.pop(), datagram]

    server = gnutls_serv("--require-client-cert", "--mtu", "80")      # GnuTLS fragments its messages
    proxy = udp_proxy(server.port, to_client=shuffle)
    verdict = dtls.probe("127.0.0.1", server.port, DEVICE_ID, keys["device"], keys["server"].public_key(),
                         8.0, sock_factory=proxy.sock_factory)
    assert verdict.outcome is Outcome.ACCEPTED, verdict.detail
    down = records(proxy, "down")
    fragments = [f for r in down if r.content_type == dtls.HANDSHAKE and r.epoch == 0
                 for f in dtls.parse_handshake_fragments(r.fragment)]
    assert any(len(f.body) < f.length for f in fragments)             # fragmentation really happened
    seqs = [f.message_seq for f in fragments]
    assert seqs != sorted(seqs)                                        # and reordering


def test_a_lost_client_flight_is_resent_when_the_timer_runs_out(gnutls_serv, udp_proxy, keys):
    lost = []

    def lose_first_flight_five(i, datagram):
        if b"\x14\xfe\xfd" in datagram and not lost:      # the datagram with our ChangeCipherSpec
            lost.append(datagram)
            return []
        return [datagram]

    server = gnutls_serv("--require-client-cert")
    proxy = udp_proxy(server.port, to_server=lose_first_flight_five)
    verdict = dtls.probe("127.0.0.1", server.port, DEVICE_ID, keys["device"], keys["server"].public_key(),
                         6.0, sock_factory=proxy.sock_factory)
    assert verdict.outcome is Outcome.ACCEPTED, verdict.detail
    assert lost


def test_a_server_that_asks_for_no_cookie_is_answered_from_the_first_client_hello(gnutls_serv, udp_proxy, keys):
    server = gnutls_serv("--require-client-cert", "--nocookie")
    proxy = udp_proxy(server.port)
    verdict = dtls.probe("127.0.0.1", server.port, DEVICE_ID, keys["device"], keys["server"].public_key(),
                         5.0, sock_factory=proxy.sock_factory)
    assert verdict.outcome is Outcome.ACCEPTED, verdict.detail
    assert handshake_types(records(proxy, "up")) == [dtls.CLIENT_HELLO, dtls.CERTIFICATE,
                                                     dtls.CLIENT_KEY_EXCHANGE, dtls.CERTIFICATE_VERIFY]
