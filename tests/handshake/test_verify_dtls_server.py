"""The simulated cloud's DTLS server (sim/handshake_dtls.py), judged by a client no one here wrote:
GnuTLS's gnutls-cli (Debian gnutls-bin) with raw public keys, DTLS 1.2, ECDHE-ECDSA and
AES-128-CCM-8 only. It completes the handshake for a key the cloud holds, and ends it with the
access_denied alert for one it does not; the cookie comes before any state, and garbage is dropped."""
from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess

import pytest

from particle_py.sim.handshake_dtls import DtlsHandshakeServer, handshake_header

PRIORITY = ("NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+ECDHE-ECDSA:-CIPHER-ALL:+AES-128-CCM-8:-MAC-ALL:+AEAD:"
            "+CTYPE-CLI-RAWPK:+CTYPE-SRV-RAWPK")


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    from cryptography.hazmat.primitives import serialization as s
    from cryptography.hazmat.primitives.asymmetric import ec
    folder = tmp_path_factory.mktemp("dtls-keys")
    server, device = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    (folder / "device.pem").write_bytes(device.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8,
                                                             s.NoEncryption()))
    (folder / "device.pub.pem").write_bytes(device.public_key().public_bytes(s.Encoding.PEM,
                                                                             s.PublicFormat.SubjectPublicKeyInfo))
    os.chmod(folder / "device.pem", 0o600)
    return {"folder": folder,
            "server_pem": server.private_bytes(s.Encoding.PEM, s.PrivateFormat.PKCS8, s.NoEncryption()),
            "device_spki": device.public_key().public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)}


def gnutls_cli(port: int, folder) -> str:
    if shutil.which("gnutls-cli") is None:
        pytest.skip("needs gnutls-cli (Debian gnutls-bin), which .ci/run installs")
    done = subprocess.run(["gnutls-cli", "--udp", "-p", str(port), "127.0.0.1", "--insecure",
                           "--rawpkkeyfile", str(folder / "device.pem"), "--rawpkfile", str(folder / "device.pub.pem"),
                           "--priority", PRIORITY], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=30)
    return done.stdout


def test_gnutls_completes_the_handshake_for_a_key_the_cloud_holds(keys):
    held = {keys["device_spki"]: "0123456789abcdef01234567"}
    with DtlsHandshakeServer("127.0.0.1", 0, keys["server_pem"], held.get) as server:
        out = gnutls_cli(server.port, keys["folder"])
    assert "- Handshake was completed" in out, out
    assert "(DTLS1.2-Raw Public Key)-(ECDHE-SECP256R1)-(ECDSA-SHA256)-(AES-128-CCM-8)" in out
    assert [e.what for e in server.events][:3] == ["hello-verify", "flight", "accepted"]
    assert server.events[2].detail == "0123456789abcdef01234567"


def test_a_key_the_cloud_does_not_hold_ends_with_access_denied(keys):
    with DtlsHandshakeServer("127.0.0.1", 0, keys["server_pem"], lambda spki: None) as server:
        out = gnutls_cli(server.port, keys["folder"])
    assert "Received alert [49]: Access was denied" in out, out
    assert "Handshake was completed" not in out
    assert [e.what for e in server.events] == ["hello-verify", "flight", "refused"]


def client_hello(cookie: bytes = b"", suites=(0xC0AE,), random: bytes = b"\x11" * 32) -> bytes:
    ext = (struct.pack(">HHH", 10, 4, 2) + struct.pack(">H", 23)
           + struct.pack(">HHB", 19, 2, 1) + b"\x02" + struct.pack(">HHB", 20, 2, 1) + b"\x02")
    body = (b"\xfe\xfd" + random + b"\x00" + bytes([len(cookie)]) + cookie
            + struct.pack(">H", 2 * len(suites)) + b"".join(struct.pack(">H", s) for s in suites) + b"\x01\x00"
            + struct.pack(">H", len(ext)) + ext)
    msg = handshake_header(1, 0, body)
    return b"\x16\xfe\xfd" + b"\x00" * 8 + struct.pack(">H", len(msg)) + msg


def test_the_cookie_comes_first_and_garbage_is_dropped(keys):
    with DtlsHandshakeServer("127.0.0.1", 0, keys["server_pem"], lambda spki: None) as server, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        for junk in (b"", b"\x16", b"\x16\xfe\xfd" + b"\x00" * 10 + b"\xff\xff", os.urandom(300)):
            sock.sendto(junk, server.address)
        sock.sendto(client_hello(), server.address)
        reply = sock.recv(2048)
        assert reply[0] == 22 and reply[13] == 3            # a HelloVerifyRequest, record seq as the hello's
        assert reply[3:11] == b"\x00" * 8
        cookie = reply[13 + 12 + 3:13 + 12 + 3 + reply[13 + 12 + 2]]
        assert len(cookie) == 16 and server._sessions == {}    # no state before the cookie comes back
        sock.sendto(client_hello(cookie), server.address)
        flight = sock.recv(4096)
        assert flight[0] == 22 and flight[13] == 2              # the ServerHello starts the flight
        sock.sendto(client_hello(cookie), server.address)         # our flight "lost": the client repeats
        again = sock.recv(4096)

        def first_message(datagram):
            return datagram[13:13 + struct.unpack_from(">H", datagram, 11)[0]]
        assert first_message(again) == first_message(flight)    # the same ServerHello, in new records
        assert again[3:11] != flight[3:11]
        # a ClientHello without the one suite the device offers is refused with handshake_failure
        sock.sendto(client_hello(suites=(0xC02B,), random=b"\x22" * 32), server.address)
        assert sock.recv(2048)[13:15] == b"\x02\x28"
