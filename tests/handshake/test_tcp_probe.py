"""The Gen2 TCP handshake probe (particle_py/handshake/tcp.py) against the simulated cloud's
server (particle_py/sim/handshake_tcp.py) and against tiny scripted servers that misbehave at
each step: the Verdict a user gets, what went over the wire, and that no answer takes longer
than the timeout."""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import socket
import threading
import time

import pytest

from particle_py.errors import EX_DATAERR, EX_USAGE, ParticlePyError
from particle_py.handshake import Outcome, Verdict
from particle_py.handshake.tcp import probe
from particle_py.sim.handshake_tcp import TcpHandshakeServer

DEVICE_ID = "0123456789abcdef01234567"
OTHER_ID = "76543210fedcba9876543210"


def spki(key) -> bytes:
    from cryptography.hazmat.primitives import serialization as s

    return key.public_key().public_bytes(s.Encoding.DER, s.PublicFormat.SubjectPublicKeyInfo)


@pytest.fixture(scope="module")
def keys():
    from cryptography.hazmat.primitives.asymmetric import rsa

    return {"server": rsa.generate_private_key(65537, 2048), "other_server": rsa.generate_private_key(65537, 2048),
            "device": rsa.generate_private_key(65537, 1024), "other_device": rsa.generate_private_key(65537, 1024)}


@contextlib.contextmanager
def sim_cloud(keys, registered: dict, **options):
    with TcpHandshakeServer("127.0.0.1", 0, keys["server"], registered.get, **options) as server:
        yield server


def results_of(server, count: int) -> list:
    """The server's words for its connections (each is logged once the client has gone)."""
    deadline = time.monotonic() + 5
    while len(server.results) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return list(server.results)


def where(port: int) -> str:
    return f"TCP 127.0.0.1:{port}"


REJECTED_CLOSE = ("the cloud closed the connection after the device's key and id: it holds another key for this "
                  "device or no device with this id, or it could not read them (this server key is not the cloud's)")
ORANGE = ("decryption error: the session key is not encrypted to this device key (the cloud holds another public "
          "key for this device); the device blinks orange")
MAGENTA = ("the session key's signature does not verify with this server key (the device holds another server "
           "key than the cloud's); the device blinks magenta")
ACCEPTED = "the cloud sent a session key for this device key, signed by this server key"


# --- against the simulated cloud -------------------------------------------------------------------

def test_the_keys_the_cloud_holds_are_accepted(keys):
    with sim_cloud(keys, {DEVICE_ID: spki(keys["device"])}) as server:
        host, port = server.address
        verdict = probe(host, port, DEVICE_ID, keys["device"], keys["server"].public_key())
        assert verdict == Verdict(Outcome.ACCEPTED, "tcp", "127.0.0.1", port, f"{where(port)}: {ACCEPTED}")
        assert verdict.accepted
        assert results_of(server, 1) == ["session-key-sent"]


def test_another_device_key_in_the_cloud_is_a_rejection(keys):
    with sim_cloud(keys, {DEVICE_ID: spki(keys["other_device"])}) as server:
        host, port = server.address
        verdict = probe(host, port, DEVICE_ID, keys["device"], keys["server"].public_key())
        assert (verdict.outcome, verdict.detail) == (Outcome.DEVICE_KEY_REJECTED, f"{where(port)}: {REJECTED_CLOSE}")
        assert results_of(server, 1) == ["key-mismatch"]


def test_an_id_the_cloud_does_not_know_is_a_rejection_and_the_cloud_hears_the_key(keys):
    heard = []
    with sim_cloud(keys, {OTHER_ID: spki(keys["device"])}, on_new_device=lambda *a: heard.append(a)) as server:
        host, port = server.address
        verdict = probe(host, port, DEVICE_ID, keys["device"], keys["server"].public_key())
        assert (verdict.outcome, verdict.detail) == (Outcome.DEVICE_KEY_REJECTED, f"{where(port)}: {REJECTED_CLOSE}")
        assert results_of(server, 1) == ["unknown-device"]
    assert heard == [(DEVICE_ID, spki(keys["device"]))]


def test_a_server_key_the_cloud_cannot_read_with_ends_in_the_same_close(keys):
    # the cloud cannot decrypt what was sent under another server key, so it closes, as on an
    # unknown key: the device cannot tell the two apart, nor can the probe
    with sim_cloud(keys, {DEVICE_ID: spki(keys["device"])}) as server:
        host, port = server.address
        verdict = probe(host, port, DEVICE_ID, keys["device"], keys["other_server"].public_key())
        assert (verdict.outcome, verdict.detail) == (Outcome.DEVICE_KEY_REJECTED, f"{where(port)}: {REJECTED_CLOSE}")
        assert results_of(server, 1) == ["bad-message"]


def test_a_cloud_that_changed_its_key_fails_the_signature_magenta(keys):
    # the device holds the cloud's earlier key: the cloud still reads the message, but proves its new key
    with sim_cloud(keys, {DEVICE_ID: spki(keys["device"])}, earlier_server_keys=[keys["other_server"]]) as server:
        host, port = server.address
        verdict = probe(host, port, DEVICE_ID, keys["device"], keys["other_server"].public_key())
        assert verdict == Verdict(Outcome.SERVER_KEY_MISMATCH, "tcp", "127.0.0.1", port, f"{where(port)}: {MAGENTA}")
        # and the current key still passes
        verdict = probe(host, port, DEVICE_ID, keys["device"], keys["server"].public_key())
        assert verdict.outcome is Outcome.ACCEPTED
        assert results_of(server, 2) == ["session-key-sent", "session-key-sent"]


def test_the_sim_cloud_serves_connections_side_by_side(keys):
    registered = {DEVICE_ID: spki(keys["device"]), OTHER_ID: spki(keys["other_device"])}
    with sim_cloud(keys, registered) as server:
        host, port = server.address
        silent = socket.create_connection((host, port))     # a device that never answers the nonce
        try:
            verdicts = [probe(host, port, device_id, key, keys["server"].public_key(), timeout_s=5)
                        for device_id, key in ((DEVICE_ID, keys["device"]), (OTHER_ID, keys["other_device"]))]
        finally:
            silent.close()
        assert [v.outcome for v in verdicts] == [Outcome.ACCEPTED, Outcome.ACCEPTED]
        assert sorted(results_of(server, 3)) == ["no-message", "session-key-sent", "session-key-sent"]


def test_stop_ends_a_connection_that_is_waiting(keys):
    server = TcpHandshakeServer("127.0.0.1", 0, keys["server"], {}.get).start()
    waiting = socket.create_connection(server.address)
    try:
        assert len(waiting.recv(40)) == 40
        started = time.monotonic()
        server.stop()
        assert time.monotonic() - started < 3
        assert server.results == ["no-message"]
    finally:
        waiting.close()


# --- no connection ----------------------------------------------------------------------------

def test_a_refused_connection_is_unreachable(keys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    verdict = probe("127.0.0.1", port, DEVICE_ID, keys["device"], keys["server"].public_key())
    assert verdict == Verdict(Outcome.UNREACHABLE, "tcp", "127.0.0.1", port,
                              f"no TCP connection to 127.0.0.1:{port}: connection refused")


def test_a_host_name_that_does_not_resolve_is_unreachable(keys):
    verdict = probe("device.particle-py.invalid", 5683, DEVICE_ID, keys["device"], keys["server"].public_key())
    assert verdict == Verdict(Outcome.UNREACHABLE, "tcp", "device.particle-py.invalid", 5683,
                              "no TCP connection to device.particle-py.invalid:5683: the host name does not resolve")


# --- scripted servers, misbehaving at each step -------------------------------------------------

class Scripted:
    """A one-connection server running `script(conn, seen)`; `seen` collects what it read."""

    def __init__(self, script):
        self.script = script
        self.seen = bytearray()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        conn, _ = self.listener.accept()
        with conn:
            conn.settimeout(5)
            try:
                self.script(conn, self.seen)
            except OSError:
                pass

    def read(self, conn, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = conn.recv(count - len(data))
            if not chunk:
                break
            data += chunk
        self.seen.extend(data)
        return data

    def until_closed(self, conn) -> None:
        with contextlib.suppress(OSError):
            while True:
                chunk = conn.recv(4096)
                if not chunk:
                    return
                self.seen.extend(chunk)

    def close(self):
        self.thread.join(timeout=6)
        self.listener.close()


def sign_without_digest_info(private_key, digest: bytes) -> bytes:
    numbers = private_key.private_numbers()
    n, d = numbers.public_numbers.n, numbers.d
    encoded = b"\x00\x01" + b"\xff" * (256 - len(digest) - 3) + b"\x00" + digest
    return pow(int.from_bytes(encoded, "big"), d, n).to_bytes(256, "big")


def session_reply(keys, session_key: bytes = None, signer: str = "server", device: str = "device") -> bytes:
    from cryptography.hazmat.primitives.asymmetric import padding

    session_key = os.urandom(40) if session_key is None else session_key
    ciphertext = keys[device].public_key().encrypt(session_key, padding.PKCS1v15())
    digest = hmac.new(session_key, ciphertext, hashlib.sha1).digest()
    return ciphertext + sign_without_digest_info(keys[signer], digest)


def run(keys, script, timeout_s: float = 1.0):
    """The verdict of a probe against `script`, the server, and the seconds it took."""
    holder = {}

    def wrapped(conn, seen):
        script(holder["server"], conn)

    server = Scripted(wrapped)
    holder["server"] = server
    started = time.monotonic()
    try:
        verdict = probe("127.0.0.1", server.port, DEVICE_ID, keys["device"], keys["server"].public_key(),
                        timeout_s=timeout_s)
    finally:
        elapsed = time.monotonic() - started
        server.close()
    assert elapsed < timeout_s + 1.0
    return verdict, server


def test_what_the_device_sends_and_that_it_stops_before_the_hello(keys):
    from cryptography.hazmat.primitives.asymmetric import padding

    nonce = os.urandom(40)

    def script(server, conn):
        conn.sendall(nonce)
        server.read(conn, 256)
        conn.sendall(session_reply(keys))
        server.until_closed(conn)

    verdict, server = run(keys, script)
    assert verdict.outcome is Outcome.ACCEPTED
    assert len(server.seen) == 256           # the 256-byte message, then nothing: no Hello
    plaintext = keys["server"].decrypt(bytes(server.seen), padding.PKCS1v15())
    assert plaintext == nonce + bytes.fromhex(DEVICE_ID) + spki(keys["device"])
    assert len(plaintext) == 40 + 12 + 162


def test_a_server_that_says_nothing_gives_no_nonce_in_time(keys):
    verdict, _ = run(keys, lambda server, conn: server.until_closed(conn), timeout_s=0.5)
    assert (verdict.outcome, verdict.detail) == (
        Outcome.UNREACHABLE, f"TCP 127.0.0.1:{verdict.port}: no nonce within 0.5 s (0 of 40 bytes came)")


def test_a_trickling_server_is_bounded_by_the_whole_timeout(keys):
    # a byte each 50 ms would give each read its own short wait; the timeout is for the whole handshake
    def script(server, conn):
        for _ in range(40):
            conn.sendall(b"\x00")
            time.sleep(0.05)
        server.until_closed(conn)

    started = time.monotonic()
    verdict, _ = run(keys, script, timeout_s=0.5)
    assert time.monotonic() - started < 1.5
    assert verdict.outcome is Outcome.UNREACHABLE
    assert verdict.detail.startswith(f"TCP 127.0.0.1:{verdict.port}: no nonce within 0.5 s (")


def test_a_connection_that_is_never_taken_is_unreachable_in_time(keys):
    # a listener whose queue is full drops the connection request: the connect waits
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        queued = []
        try:
            for _ in range(8):
                client = socket.socket()
                client.setblocking(False)
                with contextlib.suppress(BlockingIOError):
                    client.connect(("127.0.0.1", port))
                queued.append(client)
            time.sleep(0.1)
            started = time.monotonic()
            verdict = probe("127.0.0.1", port, DEVICE_ID, keys["device"], keys["server"].public_key(), timeout_s=0.5)
            assert time.monotonic() - started < 1.5
        finally:
            for client in queued:
                client.close()
    assert verdict == Verdict(Outcome.UNREACHABLE, "tcp", "127.0.0.1", port,
                              f"no TCP connection to 127.0.0.1:{port} within 0.5 s")


def test_a_server_that_closes_at_once_gives_no_nonce(keys):
    verdict, _ = run(keys, lambda server, conn: None)
    assert (verdict.outcome, verdict.detail) == (
        Outcome.UNREACHABLE, f"TCP 127.0.0.1:{verdict.port}: no nonce (the server closed the connection after "
                             f"0 of 40 bytes)")


def test_a_short_nonce_then_a_close_gives_no_nonce(keys):
    verdict, _ = run(keys, lambda server, conn: conn.sendall(os.urandom(20)))
    assert verdict.outcome is Outcome.UNREACHABLE
    assert verdict.detail.endswith("no nonce (the server closed the connection after 20 of 40 bytes)")


def test_a_short_nonce_then_silence_gives_no_nonce_in_time(keys):
    def script(server, conn):
        conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
        server.until_closed(conn)

    verdict, _ = run(keys, script, timeout_s=0.5)
    assert verdict.outcome is Outcome.UNREACHABLE
    assert verdict.detail.endswith("no nonce within 0.5 s (21 of 40 bytes came)")


def test_a_server_that_talks_first_is_a_protocol_error(keys):
    def script(server, conn):
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        server.until_closed(conn)

    verdict, server = run(keys, script)
    assert (verdict.outcome, verdict.detail) == (
        Outcome.PROTOCOL_ERROR, f"TCP 127.0.0.1:{verdict.port}: the server sent more than the 40-byte nonce "
                                f"before the device spoke")
    assert server.seen == b""               # nothing of the device's went out


def test_a_close_after_the_nonce_is_a_rejection(keys):
    verdict, _ = run(keys, lambda server, conn: conn.sendall(os.urandom(40)))
    assert (verdict.outcome, verdict.detail) == (
        Outcome.DEVICE_KEY_REJECTED, f"TCP 127.0.0.1:{verdict.port}: {REJECTED_CLOSE}")


def test_a_close_after_the_message_is_a_rejection(keys):
    def script(server, conn):
        conn.sendall(os.urandom(40))
        server.read(conn, 256)

    verdict, server = run(keys, script)
    assert verdict.outcome is Outcome.DEVICE_KEY_REJECTED
    assert len(server.seen) == 256


def test_no_answer_to_the_message_is_unreachable_in_time(keys):
    def script(server, conn):
        conn.sendall(os.urandom(40))
        server.until_closed(conn)

    verdict, _ = run(keys, script, timeout_s=0.8)
    assert (verdict.outcome, verdict.detail) == (
        Outcome.UNREACHABLE, f"TCP 127.0.0.1:{verdict.port}: no answer to the device's key and id within 0.8 s")


def test_a_truncated_reply_is_a_protocol_error(keys):
    def script(server, conn):
        conn.sendall(os.urandom(40))
        server.read(conn, 256)
        conn.sendall(session_reply(keys)[:100])

    verdict, _ = run(keys, script)
    assert (verdict.outcome, verdict.detail) == (
        Outcome.PROTOCOL_ERROR, f"TCP 127.0.0.1:{verdict.port}: the server closed the connection after 100 of "
                                f"the 384-byte session key reply")


def test_a_reply_with_more_after_it_is_a_protocol_error(keys):
    def script(server, conn):
        conn.sendall(os.urandom(40))
        server.read(conn, 256)
        conn.sendall(session_reply(keys) + b"\x00" * 16)
        server.until_closed(conn)

    verdict, _ = run(keys, script)
    assert (verdict.outcome, verdict.detail) == (
        Outcome.PROTOCOL_ERROR, f"TCP 127.0.0.1:{verdict.port}: the server sent more than the 384-byte "
                                f"session key reply")


def test_a_garbage_reply_is_the_devices_decryption_error(keys):
    # random bytes and a session key for another device key look alike to the device: orange
    def script(server, conn):
        conn.sendall(os.urandom(40))
        server.read(conn, 256)
        conn.sendall(os.urandom(384))
        server.until_closed(conn)

    verdict, _ = run(keys, script)
    assert (verdict.outcome, verdict.detail) == (Outcome.DEVICE_KEY_REJECTED, f"TCP 127.0.0.1:{verdict.port}: {ORANGE}")


def test_a_session_key_for_another_device_key_is_the_decryption_error(keys):
    def script(server, conn):
        conn.sendall(os.urandom(40))
        server.read(conn, 256)
        conn.sendall(session_reply(keys, device="other_device"))
        server.until_closed(conn)

    verdict, _ = run(keys, script)
    assert verdict.outcome is Outcome.DEVICE_KEY_REJECTED and verdict.detail.endswith(ORANGE)


def test_a_signature_by_another_server_key_is_magenta(keys):
    def script(server, conn):
        conn.sendall(os.urandom(40))
        server.read(conn, 256)
        conn.sendall(session_reply(keys, signer="other_server"))
        server.until_closed(conn)

    verdict, _ = run(keys, script)
    assert (verdict.outcome, verdict.detail) == (Outcome.SERVER_KEY_MISMATCH,
                                                 f"TCP 127.0.0.1:{verdict.port}: {MAGENTA}")


@pytest.mark.parametrize("length", [39, 41])
def test_a_session_key_of_the_wrong_size_is_a_protocol_error(keys, length):
    def script(server, conn):
        conn.sendall(os.urandom(40))
        server.read(conn, 256)
        conn.sendall(session_reply(keys, session_key=os.urandom(length)))
        server.until_closed(conn)

    verdict, _ = run(keys, script)
    assert (verdict.outcome, verdict.detail) == (
        Outcome.PROTOCOL_ERROR, f"TCP 127.0.0.1:{verdict.port}: the session key is {length} bytes, not 40")


# --- arguments a Gen2 device could not hold ------------------------------------------------------

@pytest.mark.parametrize("device_id", ["0123456789abcdef0123456", "0123456789abcdef012345678",
                                       "0123456789abcdef0123456g", ""])
def test_a_malformed_device_id_is_a_usage_error(keys, device_id):
    with pytest.raises(ParticlePyError) as caught:
        probe("127.0.0.1", 5683, device_id, keys["device"], keys["server"].public_key())
    assert (caught.value.message, caught.value.hint, caught.value.exit_code) == (
        f"{device_id!r} is not a device id.",
        "A device id is 24 hexadecimal digits (`particle identify` shows it).", EX_USAGE)


def test_keys_of_the_wrong_size_are_data_errors(keys):
    with pytest.raises(ParticlePyError) as caught:
        probe("127.0.0.1", 5683, DEVICE_ID, keys["server"], keys["server"].public_key())
    assert caught.value.exit_code == EX_DATAERR
    assert caught.value.message == "The device key is not one a Gen2 device uses for the TCP handshake."
    with pytest.raises(ParticlePyError) as caught:
        probe("127.0.0.1", 5683, DEVICE_ID, keys["device"], keys["device"].public_key())
    assert (caught.value.message, caught.value.exit_code) == ("The server key is not the cloud's TCP key.", EX_DATAERR)
