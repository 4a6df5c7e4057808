"""The simulated cloud's side of the Gen3/Gen4/Electron handshake: a DTLS 1.2 server on UDP.

What it speaks (the device's side is Device OS's mbedTLS configuration, today-cli-hardware-cloud
§4.2): TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 on P-256, RFC 7250 raw public keys both ways, a
HelloVerifyRequest cookie before any state is kept, a CertificateRequest, and the device's key
checked by its CertificateVerify. Over DTLS the device id travels only in the CoAP Hello that
follows, so the cloud finds the device by its public key (``device_for_key``); when it holds no
such key the handshake ends with a fatal alert (access_denied) instead of its Finished.

Written apart from the client in particle_py/handshake (as every simulator model is), so one
cannot hide the other's mistake. `cryptography` is imported inside the functions that need it;
the rest is the stdlib, and nothing above the ground floor is imported.
"""
from __future__ import annotations

import collections
import hashlib
import hmac
import os
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional

DTLS12 = b"\xfe\xfd"
CCM8_SUITE = 0xC0AE                  # TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8
SECP256R1 = 23
ECDSA_SHA256 = b"\x04\x03"
RAW_PUBLIC_KEY = 2
# record content types
CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA = 20, 21, 22, 23
# handshake message types
CLIENT_HELLO, SERVER_HELLO, HELLO_VERIFY_REQUEST = 1, 2, 3
CERTIFICATE, SERVER_KEY_EXCHANGE, CERTIFICATE_REQUEST, SERVER_HELLO_DONE = 11, 12, 13, 14
CERTIFICATE_VERIFY, CLIENT_KEY_EXCHANGE, FINISHED = 15, 16, 20
# extensions
EXT_SUPPORTED_GROUPS, EXT_POINT_FORMATS, EXT_SIGNATURE_ALGORITHMS = 10, 11, 13
EXT_CLIENT_CERT_TYPE, EXT_SERVER_CERT_TYPE, EXT_EXTENDED_MASTER_SECRET = 19, 20, 23
EXT_RENEGOTIATION_INFO = 0xFF01
# alerts (level 2 = fatal)
ALERT_HANDSHAKE_FAILURE, ALERT_BAD_CERTIFICATE, ALERT_DECODE_ERROR = 40, 42, 50
ALERT_DECRYPT_ERROR, ALERT_ACCESS_DENIED, ALERT_UNSUPPORTED_CERTIFICATE = 51, 49, 43
SESSION_IDLE_S = 30.0                # a half-done handshake is forgotten after this
MAX_DATAGRAM = 2048


class HandshakeFailure(Exception):
    """The client broke the protocol; ``alert`` is what the server tells it."""

    def __init__(self, alert: int, why: str):
        super().__init__(why)
        self.alert = alert


# --- the TLS 1.2 pieces ------------------------------------------------------------------------

def prf(secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """TLS 1.2's P_SHA256 (RFC 5246 §5)."""
    out, a, seed = b"", label + seed, label + seed
    while len(out) < length:
        a = hmac.new(secret, a, hashlib.sha256).digest()
        out += hmac.new(secret, a + seed, hashlib.sha256).digest()
    return out[:length]


def _vec(data: bytes, size: int) -> bytes:
    return len(data).to_bytes(size, "big") + data


class _Reader:
    """Bounds-checked reads of a TLS structure; a short or long one is a decode error."""

    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise HandshakeFailure(ALERT_DECODE_ERROR, "message cut short")
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def number(self, n: int) -> int:
        return int.from_bytes(self.take(n), "big")

    def vec(self, size: int) -> bytes:
        return self.take(self.number(size))

    def done(self) -> bool:
        return self.pos == len(self.data)


@dataclass
class ClientHello:
    random: bytes
    session_id: bytes
    cookie: bytes
    suites: list
    extensions: dict


def parse_client_hello(body: bytes) -> ClientHello:
    r = _Reader(body)
    if r.take(2) != DTLS12:
        raise HandshakeFailure(ALERT_HANDSHAKE_FAILURE, "the client does not offer DTLS 1.2")
    random = r.take(32)
    session_id = r.vec(1)
    cookie = r.vec(1)
    suites_raw = r.vec(2)
    if len(suites_raw) % 2:
        raise HandshakeFailure(ALERT_DECODE_ERROR, "odd cipher suite list")
    suites = [int.from_bytes(suites_raw[i:i + 2], "big") for i in range(0, len(suites_raw), 2)]
    r.vec(1)                                         # compression methods: only null exists
    extensions = {}
    if not r.done():
        ext = _Reader(r.vec(2))
        while not ext.done():
            kind = ext.number(2)
            extensions[kind] = ext.vec(2)
    if not r.done():
        raise HandshakeFailure(ALERT_DECODE_ERROR, "bytes after the ClientHello")
    return ClientHello(random, session_id, cookie, suites, extensions)


def _offers_raw_public_key(value: Optional[bytes]) -> bool:
    if not value:
        return False
    return RAW_PUBLIC_KEY in value[1:1 + value[0]]


def _choose(hello: ClientHello) -> None:
    """Refuse a ClientHello the device's configuration would never send and this server cannot serve."""
    if CCM8_SUITE not in hello.suites:
        raise HandshakeFailure(ALERT_HANDSHAKE_FAILURE, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 not offered")
    groups = hello.extensions.get(EXT_SUPPORTED_GROUPS)
    if groups is not None:
        listed = groups[2:]
        if SECP256R1 not in [int.from_bytes(listed[i:i + 2], "big") for i in range(0, len(listed) - 1, 2)]:
            raise HandshakeFailure(ALERT_HANDSHAKE_FAILURE, "secp256r1 not offered")
    for ext in (EXT_CLIENT_CERT_TYPE, EXT_SERVER_CERT_TYPE):
        if not _offers_raw_public_key(hello.extensions.get(ext)):
            raise HandshakeFailure(ALERT_UNSUPPORTED_CERTIFICATE, "raw public keys not offered")


def handshake_header(kind: int, seq: int, body: bytes) -> bytes:
    """A whole (unfragmented) DTLS handshake message, as it goes into the transcript too."""
    n = len(body).to_bytes(3, "big")
    return bytes([kind]) + n + seq.to_bytes(2, "big") + b"\x00\x00\x00" + n + body


# --- a connection -------------------------------------------------------------------------------

@dataclass
class _Session:
    client_random: bytes
    server_random: bytes
    ems: bool
    ecdhe: object                              # our ephemeral private key
    transcript: bytearray = field(default_factory=bytearray)
    next_seq: int = 2                          # the client's next handshake message_seq
    pending: dict = field(default_factory=dict)     # message_seq -> (type, body), arrived early
    partial: dict = field(default_factory=dict)     # message_seq -> (type, length, {offset: bytes})
    client_key: Optional[object] = None        # the device's public key (its RPK)
    client_spki: bytes = b""
    premaster: bytes = b""
    master: bytes = b""
    keys: Optional[tuple] = None               # (client_key, server_key, client_iv, server_iv)
    read_epoch: int = 0
    finished: bool = False
    last_flight: list = field(default_factory=list)   # datagrams we last sent, for retransmission
    write_seq: dict = field(default_factory=lambda: {0: 1, 1: 0})
    seen_at: float = field(default_factory=time.monotonic)
    device: Optional[str] = None               # what device_for_key said


@dataclass
class Event:
    """What the server saw, for tests and the cloud's log (never key material)."""
    peer: tuple
    what: str            # 'hello-verify', 'flight', 'accepted', 'refused', 'failed', 'app-data', 'closed'
    detail: str = ""


class DtlsHandshakeServer:
    """Answer the device's DTLS handshake on ``(host, port)`` in a background thread.

    ``server_private_key``: the cloud's P-256 key (PEM or DER); ``device_for_key(spki_der)``
    returns the device id the cloud holds that public key for (or any true value), None when it
    holds no such key. ``on_app_data(device, payload)`` sees the decrypted CoAP messages after
    the handshake (the Hello) and may return a reply to send back in the session.
    ``send_certificate``: send the server's own raw public key in a Certificate message (the
    standard flight); the device ignores it (it uses the key in its DCT), other clients need it.
    """

    def __init__(self, host: str, port: int, server_private_key: bytes,
                 device_for_key: Callable[[bytes], Optional[str]], *,
                 on_app_data: Optional[Callable[[Optional[str], bytes], Optional[bytes]]] = None,
                 send_certificate: bool = True):
        from cryptography.hazmat.primitives import serialization

        loaded = (serialization.load_pem_private_key(server_private_key, None)
                  if b"-----BEGIN" in server_private_key else
                  serialization.load_der_private_key(server_private_key, None))
        self._key = loaded
        self._spki = loaded.public_key().public_bytes(serialization.Encoding.DER,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
        self._device_for_key = device_for_key
        self._on_app_data = on_app_data
        self._send_certificate = send_certificate
        self._cookie_secret = os.urandom(32)
        self._sessions: dict = {}
        # the recent ones only: a cloud left running must not grow without bound
        self.events: collections.deque = collections.deque(maxlen=1000)
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind((host, port))
        self._sock.settimeout(0.05)
        self._stopping = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def address(self) -> tuple:
        return self._sock.getsockname()

    @property
    def port(self) -> int:
        return self.address[1]

    def start(self) -> "DtlsHandshakeServer":
        self._thread = threading.Thread(target=self.serve_forever, name="sim-cloud-dtls", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
        self._sock.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def serve_forever(self) -> None:
        while not self._stopping.is_set():
            try:
                datagram, peer = self._sock.recvfrom(MAX_DATAGRAM)
            except socket.timeout:
                self._forget_idle()
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                continue
            try:
                self.handle_datagram(datagram, peer)
            except Exception as exc:        # one peer's garbage must not stop the cloud
                self._sessions.pop(peer, None)
                self.events.append(Event(peer, "failed", f"internal: {type(exc).__name__}"))

    def _forget_idle(self) -> None:
        now = time.monotonic()
        for peer in [p for p, s in self._sessions.items() if now - s.seen_at > SESSION_IDLE_S]:
            del self._sessions[peer]

    # --- records --------------------------------------------------------------------------------
    def handle_datagram(self, datagram: bytes, peer: tuple) -> None:
        pos = 0
        while pos + 13 <= len(datagram):
            kind = datagram[pos]
            epoch, seq_hi, seq_lo = struct.unpack_from(">HHI", datagram, pos + 3)
            length = struct.unpack_from(">H", datagram, pos + 11)[0]
            fragment = datagram[pos + 13:pos + 13 + length]
            header = datagram[pos:pos + 11]
            pos += 13 + length
            if len(fragment) < length or header[1] != 0xFE:
                return                      # a cut-off or foreign record: dropped, as DTLS does
            try:
                self._record(kind, epoch, header, fragment, peer)
            except HandshakeFailure as failure:
                self._fail(peer, failure)
                return

    def _record(self, kind: int, epoch: int, header: bytes, fragment: bytes, peer: tuple) -> None:
        session = self._sessions.get(peer)
        if epoch == 0 and kind == HANDSHAKE:
            if fragment[:1] == bytes([CLIENT_HELLO]):
                self._client_hello(fragment, header, peer)
                return
            if session is None:
                return
            session.seen_at = time.monotonic()
            self._handshake_fragments(session, fragment, peer)
            return
        if session is None:
            return
        session.seen_at = time.monotonic()
        if epoch == 0 and kind == CHANGE_CIPHER_SPEC:
            if session.keys is not None:     # one that overtook the key exchange: the retry brings it
                session.read_epoch = 1
            return
        if epoch == 0 and kind == ALERT:
            self.events.append(Event(peer, "closed", f"client alert {fragment[1:2].hex()}"))
            self._sessions.pop(peer, None)
            return
        if epoch == 1 and session.keys is not None and session.read_epoch == 1:
            plain = self._decrypt(session, header, fragment)
            if plain is None:
                return                      # a record that does not authenticate is dropped
            if kind == HANDSHAKE:
                if session.finished:
                    self._resend(session, peer)         # our Finished was lost
                    return
                self._handshake_fragments(session, plain, peer)
            elif kind == APPLICATION_DATA and session.finished:
                self.events.append(Event(peer, "app-data", f"{len(plain)} bytes"))
                if self._on_app_data is not None:
                    reply = self._on_app_data(session.device, plain)
                    if reply:
                        self._send(peer, [(APPLICATION_DATA, 1, reply)], session, remember=False)
            elif kind == ALERT:
                self.events.append(Event(peer, "closed", f"client alert {plain[1:2].hex()}"))
                self._sessions.pop(peer, None)

    def _cookie(self, peer: tuple, hello: ClientHello) -> bytes:
        mac = hmac.new(self._cookie_secret, f"{peer[0]}:{peer[1]}".encode() + hello.random
                       + hello.session_id + b"".join(s.to_bytes(2, "big") for s in hello.suites), hashlib.sha256)
        return mac.digest()[:16]

    def _client_hello(self, fragment: bytes, header: bytes, peer: tuple) -> None:
        kind, length, message_seq, offset, frag_len = _handshake_fields(fragment)
        body = fragment[12:12 + frag_len]
        if offset != 0 or frag_len != length or len(body) != length:
            return                          # a fragmented ClientHello: the device never sends one
        hello = parse_client_hello(body)
        session = self._sessions.get(peer)
        if session is not None and session.client_random == hello.random:
            self._resend(session, peer)     # our flight was lost: the client said it again
            return
        _choose(hello)
        if not hmac.compare_digest(hello.cookie, self._cookie(peer, hello)):
            # stateless (RFC 6347 §4.2.1): the reply's record number repeats the ClientHello's
            hvr = DTLS12 + _vec(self._cookie(peer, hello), 1)
            record_seq = header[3:11]
            msg = handshake_header(HELLO_VERIFY_REQUEST, message_seq, hvr)
            self._sock.sendto(bytes([HANDSHAKE]) + DTLS12 + record_seq + _vec(msg, 2), peer)
            self.events.append(Event(peer, "hello-verify"))
            return
        from cryptography.hazmat.primitives.asymmetric import ec

        session = _Session(client_random=hello.random, server_random=os.urandom(32),
                           ems=EXT_EXTENDED_MASTER_SECRET in hello.extensions,
                           ecdhe=ec.generate_private_key(ec.SECP256R1()))
        session.next_seq = message_seq + 1
        self._sessions[peer] = session
        # the transcript starts at the ClientHello that carried the cookie (RFC 6347 §4.2.1)
        session.transcript += handshake_header(CLIENT_HELLO, message_seq, body)
        self._server_flight(session, hello, peer, message_seq)

    def _server_flight(self, session: _Session, hello: ClientHello, peer: tuple, seq: int) -> None:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        extensions = b""
        if EXT_RENEGOTIATION_INFO in hello.extensions:
            extensions += struct.pack(">HH", EXT_RENEGOTIATION_INFO, 1) + b"\x00"
        if session.ems:
            extensions += struct.pack(">HH", EXT_EXTENDED_MASTER_SECRET, 0)
        if EXT_POINT_FORMATS in hello.extensions:
            extensions += struct.pack(">HH", EXT_POINT_FORMATS, 2) + b"\x01\x00"
        # RFC 7250 §4: in the ServerHello each certificate-type extension is the one type chosen
        extensions += struct.pack(">HHB", EXT_CLIENT_CERT_TYPE, 1, RAW_PUBLIC_KEY)
        extensions += struct.pack(">HHB", EXT_SERVER_CERT_TYPE, 1, RAW_PUBLIC_KEY)
        server_hello = (DTLS12 + session.server_random + _vec(b"", 1) + CCM8_SUITE.to_bytes(2, "big") + b"\x00"
                        + _vec(extensions, 2))
        point = session.ecdhe.public_key().public_bytes(serialization.Encoding.X962,
                                                        serialization.PublicFormat.UncompressedPoint)
        params = bytes([3]) + SECP256R1.to_bytes(2, "big") + _vec(point, 1)
        signature = self._key.sign(session.client_random + session.server_random + params,
                                   ec.ECDSA(hashes.SHA256()))
        key_exchange = params + ECDSA_SHA256 + _vec(signature, 2)
        # ecdsa_sign (64) from any authority, signed with ECDSA over SHA-256
        request = _vec(bytes([64]), 1) + _vec(ECDSA_SHA256, 2) + _vec(b"", 2)
        messages = [(SERVER_HELLO, server_hello)]
        if self._send_certificate:
            messages.append((CERTIFICATE, _vec(self._spki, 3)))
        messages += [(SERVER_KEY_EXCHANGE, key_exchange), (CERTIFICATE_REQUEST, request), (SERVER_HELLO_DONE, b"")]
        out = []
        for number, (kind, body) in enumerate(messages, start=seq):
            msg = handshake_header(kind, number, body)
            session.transcript += msg
            out.append((HANDSHAKE, 0, msg))
        session.server_seq = seq + len(messages)
        self._send(peer, out, session)
        self.events.append(Event(peer, "flight"))

    # --- the client's flight ---------------------------------------------------------------
    def _handshake_fragments(self, session: _Session, data: bytes, peer: tuple) -> None:
        pos = 0
        while pos + 12 <= len(data):
            kind, length, message_seq, offset, frag_len = _handshake_fields(data[pos:])
            body = data[pos + 12:pos + 12 + frag_len]
            pos += 12 + frag_len
            if len(body) != frag_len or offset + frag_len > length or length > 1 << 14:
                raise HandshakeFailure(ALERT_DECODE_ERROR, "handshake fragment out of bounds")
            if message_seq < session.next_seq:
                self._resend(session, peer)     # the client repeats a flight: ours was lost
                return
            whole = self._reassemble(session, kind, length, message_seq, offset, body)
            if whole is not None:
                session.pending[message_seq] = (kind, whole)
        while session.next_seq in session.pending:
            kind, body = session.pending.pop(session.next_seq)
            self._client_message(session, kind, body, session.next_seq, peer)
            session.next_seq += 1
            if session.finished or peer not in self._sessions:
                return

    @staticmethod
    def _reassemble(session, kind, length, seq, offset, body) -> Optional[bytes]:
        if offset == 0 and len(body) == length:
            return body
        _kind, _length, parts = session.partial.setdefault(seq, (kind, length, {}))
        parts[offset] = body
        buf = bytearray(length)
        covered = bytearray(length)
        for start, chunk in parts.items():
            buf[start:start + len(chunk)] = chunk
            covered[start:start + len(chunk)] = b"\x01" * len(chunk)
        if all(covered):
            del session.partial[seq]
            return bytes(buf)
        return None

    def _client_message(self, session: _Session, kind: int, body: bytes, seq: int, peer: tuple) -> None:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        if kind == CERTIFICATE:
            if session.client_spki:
                raise HandshakeFailure(ALERT_HANDSHAKE_FAILURE, "a second Certificate")
            spki = _Reader(body).vec(3)
            try:
                key = serialization.load_der_public_key(spki)
            except (ValueError, TypeError):
                raise HandshakeFailure(ALERT_BAD_CERTIFICATE, "the client's raw public key does not parse")
            if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
                raise HandshakeFailure(ALERT_UNSUPPORTED_CERTIFICATE, "the client's key is not a P-256 key")
            session.client_key, session.client_spki = key, spki
        elif kind == CLIENT_KEY_EXCHANGE:
            if session.client_key is None:
                raise HandshakeFailure(ALERT_HANDSHAKE_FAILURE, "no client Certificate: the cloud requires one")
            point = _Reader(body).vec(1)
            try:
                peer_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
            except ValueError:
                raise HandshakeFailure(ALERT_DECODE_ERROR, "the client's ECDHE point is not on P-256")
            session.premaster = session.ecdhe.exchange(ec.ECDH(), peer_key)
            session.transcript += handshake_header(kind, seq, body)
            if session.ems:
                session.master = prf(session.premaster, b"extended master secret",
                                     hashlib.sha256(session.transcript).digest(), 48)
            else:
                session.master = prf(session.premaster, b"master secret",
                                     session.client_random + session.server_random, 48)
            block = prf(session.master, b"key expansion", session.server_random + session.client_random, 40)
            session.keys = (block[0:16], block[16:32], block[32:36], block[36:40])
            return
        elif kind == CERTIFICATE_VERIFY:
            if session.keys is None:
                raise HandshakeFailure(ALERT_HANDSHAKE_FAILURE, "CertificateVerify before the key exchange")
            r = _Reader(body)
            algorithm, signature = r.take(2), r.vec(2)
            if algorithm != ECDSA_SHA256:
                raise HandshakeFailure(ALERT_HANDSHAKE_FAILURE, "CertificateVerify not ECDSA with SHA-256")
            try:
                session.client_key.verify(signature, bytes(session.transcript), ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                raise HandshakeFailure(ALERT_DECRYPT_ERROR, "the CertificateVerify does not verify with the "
                                                            "client's key")
        elif kind == FINISHED:
            if session.read_epoch != 1 or session.keys is None:
                raise HandshakeFailure(ALERT_HANDSHAKE_FAILURE, "Finished outside the new epoch")
            expected = prf(session.master, b"client finished", hashlib.sha256(session.transcript).digest(), 12)
            if not hmac.compare_digest(body, expected):
                raise HandshakeFailure(ALERT_DECRYPT_ERROR, "the client's Finished does not match")
            session.transcript += handshake_header(kind, seq, body)
            self._decide(session, peer, seq)
            return
        else:
            raise HandshakeFailure(ALERT_HANDSHAKE_FAILURE, f"unexpected handshake message {kind}")
        session.transcript += handshake_header(kind, seq, body)

    def _decide(self, session: _Session, peer: tuple, seq: int) -> None:
        """The cloud's one question: does it hold this public key for a device?"""
        device = self._device_for_key(session.client_spki)
        if not device:
            self.events.append(Event(peer, "refused", "the cloud holds no device with this public key"))
            # our write epoch is still 0 (no ChangeCipherSpec sent), so the alert goes in the clear
            self._send(peer, [(ALERT, 0, bytes([2, ALERT_ACCESS_DENIED]))], session, remember=False)
            self._sessions.pop(peer, None)
            return
        session.device = device if isinstance(device, str) else None
        verify = prf(session.master, b"server finished", hashlib.sha256(session.transcript).digest(), 12)
        finished = handshake_header(FINISHED, session.server_seq, verify)
        session.finished = True
        self._send(peer, [(CHANGE_CIPHER_SPEC, 0, b"\x01"), (HANDSHAKE, 1, finished)], session)
        self.events.append(Event(peer, "accepted", session.device or ""))

    # --- sending ----------------------------------------------------------------------------------
    def _send(self, peer: tuple, records: list, session: _Session, remember: bool = True) -> None:
        datagram = b"".join(self._seal(session, kind, epoch, payload) for kind, epoch, payload in records)
        if remember:
            session.last_flight = records
        self._sock.sendto(datagram, peer)

    def _resend(self, session: _Session, peer: tuple) -> None:
        if session.last_flight:
            self._send(peer, session.last_flight, session)

    def _seal(self, session: _Session, kind: int, epoch: int, payload: bytes) -> bytes:
        seq = session.write_seq[epoch]
        session.write_seq[epoch] = seq + 1
        record_seq = epoch.to_bytes(2, "big") + seq.to_bytes(6, "big")
        if epoch == 0:
            return bytes([kind]) + DTLS12 + record_seq + _vec(payload, 2)
        from cryptography.hazmat.primitives.ciphers.aead import AESCCM

        _client_key, server_key, _client_iv, server_iv = session.keys
        aad = record_seq + bytes([kind]) + DTLS12 + len(payload).to_bytes(2, "big")
        sealed = AESCCM(server_key, tag_length=8).encrypt(server_iv + record_seq, payload, aad)
        return bytes([kind]) + DTLS12 + record_seq + _vec(record_seq + sealed, 2)

    def _decrypt(self, session: _Session, header: bytes, fragment: bytes) -> Optional[bytes]:
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESCCM

        if len(fragment) < 16:
            return None
        client_key, _server_key, client_iv, _server_iv = session.keys
        explicit, sealed = fragment[:8], fragment[8:]
        aad = header[3:11] + header[0:1] + DTLS12 + (len(sealed) - 8).to_bytes(2, "big")
        try:
            return AESCCM(client_key, tag_length=8).decrypt(client_iv + explicit, sealed, aad)
        except InvalidTag:
            return None

    def _fail(self, peer: tuple, failure: HandshakeFailure) -> None:
        self.events.append(Event(peer, "failed", str(failure)))
        session = self._sessions.pop(peer, None)
        record_seq = b"\x00\x00" + (session.write_seq[0] if session else 0).to_bytes(6, "big")
        self._sock.sendto(bytes([ALERT]) + DTLS12 + record_seq + _vec(bytes([2, failure.alert]), 2), peer)


def _handshake_fields(data: bytes) -> tuple:
    if len(data) < 12:
        raise HandshakeFailure(ALERT_DECODE_ERROR, "handshake header cut short")
    kind = data[0]
    length = int.from_bytes(data[1:4], "big")
    message_seq = int.from_bytes(data[4:6], "big")
    offset = int.from_bytes(data[6:9], "big")
    frag_len = int.from_bytes(data[9:12], "big")
    return kind, length, message_seq, offset, frag_len
