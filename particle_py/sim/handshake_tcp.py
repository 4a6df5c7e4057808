"""The simulated cloud's side of the Gen2 TCP handshake (port 5683), for one connection or as a
small listener.

Written from the server's documents, not from the client (particle_py/handshake/tcp.py), as the
device models are written apart from the client: spark-protocol's Handshake.js (the protocol
comment and `read_coreid`, `get_corekey`, `send_sessionkey`) and Brewskey's spark-protocol, which
also closes when the key the device sends is not the one it holds. Every refusal is a close
without a word, as theirs are. `cryptography` is imported inside the functions that need it.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import select
import socket
import threading
from typing import Callable, Optional, Sequence

from .der import DerError, read_tlv

NONCE_BYTES = 40
ID_BYTES = 12
DEVICE_MESSAGE_BYTES = 256
SESSION_BYTES = 40
READ_TIMEOUT_S = 30.0           # Handshake.js: "Timeout waiting for the encrypted message is 30 seconds"

# what became of a connection, for the cloud's log and the tests
SESSION_KEY_SENT = "session-key-sent"
UNKNOWN_DEVICE = "unknown-device"
KEY_MISMATCH = "key-mismatch"
BAD_MESSAGE = "bad-message"          # short, undecryptable, too small, or the wrong nonce
NO_MESSAGE = "no-message"            # closed or silent before the 256 bytes


def serve_connection(sock: socket.socket, server_private_key,
                     registered_key_for: Callable[[str], Optional[bytes]],
                     on_new_device: Optional[Callable[[str, bytes], None]] = None,
                     read_timeout_s: float = READ_TIMEOUT_S, earlier_server_keys: Sequence = ()) -> str:
    """Run the server's half of the handshake on an accepted connection, then close it.
    `registered_key_for(device_id)` is the SubjectPublicKeyInfo DER the cloud holds for the id
    (24 lower-case hex digits), or None; `on_new_device(device_id, der)` hears of a device the
    cloud does not know, with the key it sent (spark-protocol keeps it as a "handshake key").
    `earlier_server_keys` are keys the cloud had before: it still reads a device's message sent
    under one of them, but signs with `server_private_key` (the device then blinks magenta).
    After the session key it waits for the device to close (or the timeout); the encrypted
    session that follows is not modelled. Returns one of the words above."""
    try:
        return _serve(sock, server_private_key, tuple(earlier_server_keys), registered_key_for, on_new_device,
                      read_timeout_s)
    except OSError:
        return NO_MESSAGE
    finally:
        try:
            sock.close()
        except OSError:
            pass


def _serve(sock, server_private_key, earlier_server_keys, registered_key_for, on_new_device, read_timeout_s) -> str:
    sock.settimeout(read_timeout_s)
    nonce = os.urandom(NONCE_BYTES)
    sock.sendall(nonce)
    message = _read(sock, DEVICE_MESSAGE_BYTES)
    if len(message) < DEVICE_MESSAGE_BYTES:
        return NO_MESSAGE if not message else BAD_MESSAGE
    for key in (server_private_key,) + earlier_server_keys:
        plaintext = _private_decrypt(key, message)
        if plaintext is not None and plaintext[:NONCE_BYTES] == nonce:
            break
    if plaintext is None or len(plaintext) < NONCE_BYTES + ID_BYTES:
        return BAD_MESSAGE
    if not hmac.compare_digest(plaintext[:NONCE_BYTES], nonce):
        return BAD_MESSAGE
    device_id = plaintext[NONCE_BYTES:NONCE_BYTES + ID_BYTES].hex()
    offered = _der_prefix(plaintext[NONCE_BYTES + ID_BYTES:])
    registered = registered_key_for(device_id)
    if registered is None:
        if on_new_device is not None and offered is not None:
            on_new_device(device_id, offered)
        return UNKNOWN_DEVICE
    # Device OS always sends its public key; a message without one is checked by id alone,
    # as spark-protocol 0.1.6 does
    if offered is not None and not _same_public_key(offered, registered):
        return KEY_MISMATCH
    session_key = os.urandom(SESSION_BYTES)
    ciphertext = _public_encrypt(registered, session_key)
    digest = hmac.new(session_key, ciphertext, hashlib.sha1).digest()
    sock.sendall(ciphertext + _sign_without_digest_info(server_private_key, digest))
    # the device's encrypted Hello would come now; the connection lives until the device goes
    while _read(sock, 4096):
        pass
    return SESSION_KEY_SENT


def _read(sock, count: int) -> bytes:
    data = b""
    while len(data) < count:
        try:
            chunk = sock.recv(count - len(data))
        except (socket.timeout, OSError):
            return data
        if not chunk:
            return data
        data += chunk
    return data


def _der_prefix(buf: bytes) -> Optional[bytes]:
    """The DER element at the start of `buf` (Device OS pads its key to 162 bytes)."""
    try:
        element = read_tlv(buf)
    except DerError:
        return None
    return buf[:element.end] if element.tag == 0x30 else None


def _same_public_key(offered: bytes, registered: bytes) -> bool:
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    try:
        return load_der_public_key(offered).public_numbers() == load_der_public_key(registered).public_numbers()
    except (ValueError, TypeError):
        return offered == registered


def _private_decrypt(server_private_key, message: bytes) -> Optional[bytes]:
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        return server_private_key.decrypt(message, padding.PKCS1v15())
    except ValueError:
        return None


def _public_encrypt(public_der: bytes, data: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import padding
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    return load_der_public_key(public_der).encrypt(data, padding.PKCS1v15())


def _sign_without_digest_info(server_private_key, digest: bytes) -> bytes:
    """PKCS#1 v1.5 type 1 over the bare digest, as ursa's privateEncrypt does (the device checks
    it with MBEDTLS_MD_NONE). Worked out from the private numbers: the library signs only with a
    DigestInfo before cryptography 47."""
    numbers = server_private_key.private_numbers()
    n, d = numbers.public_numbers.n, numbers.d
    size = (n.bit_length() + 7) // 8
    encoded = b"\x00\x01" + b"\xff" * (size - len(digest) - 3) + b"\x00" + digest
    return pow(int.from_bytes(encoded, "big"), d, n).to_bytes(size, "big")


class TcpHandshakeServer:
    """A listener that runs `serve_connection` on a thread per connection."""

    def __init__(self, host: str, port: int, server_private_key,
                 registered_key_for: Callable[[str], Optional[bytes]],
                 on_new_device: Optional[Callable[[str, bytes], None]] = None,
                 read_timeout_s: float = READ_TIMEOUT_S, earlier_server_keys: Sequence = ()):
        self._host, self._port = host, port
        self._earlier_server_keys = tuple(earlier_server_keys)
        self._server_private_key = server_private_key
        self._registered_key_for = registered_key_for
        self._on_new_device = on_new_device
        self._read_timeout_s = read_timeout_s
        self._listener: Optional[socket.socket] = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._connections: set = set()
        self._threads: list = []
        self.results: list = []          # one word per finished connection, in order

    @property
    def address(self) -> tuple:
        if self._listener is None:
            raise RuntimeError("the handshake server is not started")
        return self._listener.getsockname()[:2]

    def start(self) -> "TcpHandshakeServer":
        listener = socket.create_server((self._host, self._port))
        listener.setblocking(False)
        self._listener = listener
        accepting = threading.Thread(target=self._accept_loop, name="sim-tcp-handshake", daemon=True)
        self._threads.append(accepting)
        accepting.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            for conn in list(self._connections):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        for thread in list(self._threads):
            thread.join(timeout=5)
        if self._listener is not None:
            self._listener.close()

    def __enter__(self) -> "TcpHandshakeServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            ready, _, _ = select.select([self._listener], [], [], 0.1)
            if not ready:
                continue
            try:
                conn, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                return
            conn.setblocking(True)
            with self._lock:
                self._connections.add(conn)
            worker = threading.Thread(target=self._serve_one, args=(conn,), name="sim-tcp-handshake-conn",
                                      daemon=True)
            self._threads.append(worker)
            worker.start()

    def _serve_one(self, conn: socket.socket) -> None:
        try:
            result = serve_connection(conn, self._server_private_key, self._registered_key_for,
                                      self._on_new_device, self._read_timeout_s, self._earlier_server_keys)
        finally:
            with self._lock:
                self._connections.discard(conn)
        with self._lock:
            self.results.append(result)
