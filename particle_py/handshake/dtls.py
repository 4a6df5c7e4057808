"""The Gen3/Gen4/Electron cloud handshake, run from the computer: DTLS 1.2 on UDP 5684.

The client says what Device OS's mbedTLS says (communication/src/dtls_message_channel.cpp and
crypto/inc/mbedtls_config_default.h): one cipher suite, TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, on
secp256r1 with uncompressed points and ecdsa_secp256r1_sha256; the device key as an RFC 7250
raw public key for both certificate types; the connection id extension (draft-05, as mbedTLS
2.x numbers it) with an empty own id. The server's certificate, if it sends one, is not trusted:
as on the device, the server proves the key from the DCT by signing its ServerKeyExchange.

Everything from the network goes through the parsers below, which raise only `DtlsParseError`;
`probe` turns every failure into a `Verdict` and every wait is bounded by one deadline.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import socket
import struct
import time
from dataclasses import dataclass

from particle_py.errors import EX_USAGE, ParticlePyError
from particle_py.handshake import Outcome, Verdict

# --- wire numbers (RFC 5246, 6347, 7250, 7251, 8422; mbedTLS 2.x for the draft CID) ------------

DTLS_1_2 = b"\xfe\xfd"
DTLS_1_0 = b"\xfe\xff"          # servers may answer the first ClientHello in a 1.0 record
RECORD_VERSIONS = (DTLS_1_2, DTLS_1_0)

CHANGE_CIPHER_SPEC = 20
ALERT = 21
HANDSHAKE = 22
APPLICATION_DATA = 23
TLS12_CID = 25                  # mbedTLS 2.x's MBEDTLS_SSL_MSG_CID (draft-ietf-tls-dtls-connection-id-05)
CONTENT_TYPES = (CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA, TLS12_CID)

CLIENT_HELLO = 1
SERVER_HELLO = 2
HELLO_VERIFY_REQUEST = 3
CERTIFICATE = 11
SERVER_KEY_EXCHANGE = 12
CERTIFICATE_REQUEST = 13
SERVER_HELLO_DONE = 14
CERTIFICATE_VERIFY = 15
CLIENT_KEY_EXCHANGE = 16
FINISHED = 20

TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 = 0xC0AE
TLS_EMPTY_RENEGOTIATION_INFO_SCSV = 0x00FF   # mbedTLS adds it when renegotiation is compiled out
SECP256R1 = 23
NAMED_CURVE = 3
UNCOMPRESSED = 0
ECDSA_SECP256R1_SHA256 = 0x0403
RAW_PUBLIC_KEY = 2
ECDSA_SIGN = 64

EXT_SUPPORTED_GROUPS = 10
EXT_EC_POINT_FORMATS = 11
EXT_SIGNATURE_ALGORITHMS = 13
EXT_CLIENT_CERTIFICATE_TYPE = 19
EXT_SERVER_CERTIFICATE_TYPE = 20
EXT_CONNECTION_ID = 254         # mbedTLS 2.x's MBEDTLS_TLS_EXT_CID (the draft's number; RFC 9146 took 54)

RECORD_HEADER = 13
EXPLICIT_NONCE = 8
CCM_TAG = 8
MAX_DATAGRAM = 16384 + 2048     # the largest record RFC 6347 allows, plus its header
MAX_HANDSHAKE_MESSAGE = 16384   # as MBEDTLS_SSL_DTLS_MAX_BUFFERING: nothing the device would hold
MAX_PENDING_MESSAGES = 16       # future handshake messages kept while an earlier one is missing
MAX_EARLY_RECORDS = 16          # next-epoch records kept while the ChangeCipherSpec is missing

FIRST_RETRANSMIT_S = 1.0        # RFC 6347 4.2.4.1: start at 1 s, double on each loss
MAX_RETRANSMIT_S = 8.0
GOODBYE_WAIT_S = 2.0            # how long the Goodbye's ACK is waited for once the answer is known

ALERT_WARNING, ALERT_FATAL = 1, 2
ALERT_CLOSE_NOTIFY, ALERT_DECODE_ERROR, ALERT_DECRYPT_ERROR = 0, 50, 51
ALERT_NAMES = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
    40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate",
    44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
    47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
    51: "decrypt_error", 70: "protocol_version", 71: "insufficient_security", 80: "internal_error",
    90: "user_canceled", 100: "no_renegotiation", 110: "unsupported_extension",
}

# The CoAP Hello and Goodbye as Device OS builds them (communication/src/messages.cpp,
# Messages::hello and Messages::goodbye; flags from communication/src/protocol.cpp).
HELLO_FLAG_DIAGNOSTICS_SUPPORT = 0x02
HELLO_FLAG_IMMEDIATE_UPDATES_SUPPORT = 0x04
HELLO_FLAG_GOODBYE_SUPPORT = 0x10
HELLO_FLAGS = HELLO_FLAG_DIAGNOSTICS_SUPPORT | HELLO_FLAG_IMMEDIATE_UPDATES_SUPPORT | HELLO_FLAG_GOODBYE_SUPPORT
GOODBYE_CLOUD_DISCONNECT_REASON_FLAG = 0x01
CLOUD_DISCONNECT_REASON_USER = 2
COAP_CON, COAP_NON, COAP_ACK, COAP_RST = 0, 1, 2, 3
COAP_POST = 0x02
MAX_MESSAGE_SIZE = 1024         # what a Gen3 device advertises as its largest CoAP message
OTA_CHUNK_SIZE = 512


class DtlsParseError(Exception):
    """Bytes from the network that are not what DTLS 1.2 (as the device speaks it) allows."""


# --- readers and the record layer ------------------------------------------------------------


class Reader:
    """Bounded reads over bytes; running past the end is a DtlsParseError, never an IndexError."""

    def __init__(self, data: bytes, what: str):
        self.data = bytes(data)
        self.at = 0
        self.what = what

    def take(self, n: int) -> bytes:
        if n < 0 or self.at + n > len(self.data):
            raise DtlsParseError(f"{self.what}: truncated")
        out = self.data[self.at:self.at + n]
        self.at += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return int.from_bytes(self.take(2), "big")

    def u24(self) -> int:
        return int.from_bytes(self.take(3), "big")

    def vec(self, length_bytes: int) -> bytes:
        return self.take(int.from_bytes(self.take(length_bytes), "big"))

    def left(self) -> int:
        return len(self.data) - self.at

    def end(self) -> None:
        if self.left():
            raise DtlsParseError(f"{self.what}: {self.left()} bytes too many")


@dataclass(frozen=True)
class Record:
    content_type: int
    version: bytes
    epoch: int
    seq: int
    fragment: bytes


def parse_records(datagram: bytes) -> list[Record]:
    """Every record in one datagram (RFC 6347 4.1). Unknown types and versions are errors."""
    if len(datagram) > MAX_DATAGRAM:
        raise DtlsParseError(f"a datagram of more than {MAX_DATAGRAM} bytes is longer than any record")
    r = Reader(datagram, "record")
    records = []
    while r.left():
        if r.left() < RECORD_HEADER:
            raise DtlsParseError(f"record header truncated ({r.left()} bytes)")
        content_type = r.u8()
        version = r.take(2)
        epoch = r.u16()
        seq = int.from_bytes(r.take(6), "big")
        if content_type not in CONTENT_TYPES:
            raise DtlsParseError(f"unknown record type {content_type}")
        if version not in RECORD_VERSIONS:
            raise DtlsParseError(f"record version {version.hex()} is not DTLS 1.2")
        length = r.u16()
        if length > r.left():
            raise DtlsParseError(f"record says {length} bytes, {r.left()} came")
        records.append(Record(content_type, version, epoch, seq, r.take(length)))
    return records


def record_bytes(content_type: int, epoch: int, seq: int, fragment: bytes) -> bytes:
    return (bytes([content_type]) + DTLS_1_2 + struct.pack(">H", epoch) + seq.to_bytes(6, "big")
            + struct.pack(">H", len(fragment)) + fragment)


@dataclass(frozen=True)
class Fragment:
    msg_type: int
    length: int
    message_seq: int
    offset: int
    body: bytes


def parse_handshake_fragments(fragment: bytes) -> list[Fragment]:
    """The handshake fragments one record carries (RFC 6347 4.2.2)."""
    r = Reader(fragment, "handshake")
    out = []
    while r.left():
        msg_type = r.u8()
        length = r.u24()
        message_seq = r.u16()
        offset = r.u24()
        body = r.vec(3)
        if length > MAX_HANDSHAKE_MESSAGE:
            raise DtlsParseError(f"handshake message of {length} bytes is too long")
        if offset + len(body) > length:
            raise DtlsParseError("handshake fragment runs past its message")
        out.append(Fragment(msg_type, length, message_seq, offset, body))
    return out


def handshake_bytes(msg_type: int, message_seq: int, body: bytes) -> bytes:
    """One whole handshake message with its DTLS header (also the form the transcript hashes)."""
    n = len(body).to_bytes(3, "big")
    return bytes([msg_type]) + n + struct.pack(">H", message_seq) + b"\0\0\0" + n + body


class Reassembler:
    """Puts fragments back into messages, in message_seq order, tolerating repeats and reordering.

    Only messages from `next_seq` on are kept, at most MAX_PENDING_MESSAGES of them; a fragment of
    an earlier message is a retransmission by the peer, which `add` reports."""

    def __init__(self) -> None:
        self.next_seq = 0
        self.pending: dict[int, tuple[int, bytearray, bytearray]] = {}

    def add(self, frag: Fragment) -> bool:
        """Keep the fragment; False when it belongs to a message already handed out."""
        if frag.message_seq < self.next_seq:
            return False
        if frag.message_seq >= self.next_seq + MAX_PENDING_MESSAGES:
            raise DtlsParseError(f"handshake message_seq {frag.message_seq} is far ahead")
        held = self.pending.get(frag.message_seq)
        if held is None:
            held = (frag.msg_type, bytearray(frag.length), bytearray(frag.length))
            self.pending[frag.message_seq] = held
        msg_type, body, have = held
        if msg_type != frag.msg_type or len(body) != frag.length:
            raise DtlsParseError(f"fragments of handshake message {frag.message_seq} disagree")
        end = frag.offset + len(frag.body)
        body[frag.offset:end] = frag.body
        have[frag.offset:end] = b"\1" * len(frag.body)
        return True

    def pop(self) -> tuple[int, int, bytes] | None:
        """(message_seq, msg_type, body) of the next whole message, or None."""
        held = self.pending.get(self.next_seq)
        if held is None or (held[2] and min(held[2]) == 0):
            return None
        del self.pending[self.next_seq]
        self.next_seq += 1
        return self.next_seq - 1, held[0], bytes(held[1])


# --- handshake message bodies ----------------------------------------------------------------


def parse_extensions(r: Reader) -> dict[int, bytes]:
    if not r.left():
        return {}
    ext = Reader(r.vec(2), "extensions")
    out: dict[int, bytes] = {}
    while ext.left():
        kind = ext.u16()
        if kind in out:
            raise DtlsParseError(f"extension {kind} appears twice")
        out[kind] = ext.vec(2)
    return out


def parse_hello_verify_request(body: bytes) -> bytes:
    r = Reader(body, "HelloVerifyRequest")
    version = r.take(2)
    if version not in RECORD_VERSIONS:
        raise DtlsParseError(f"HelloVerifyRequest version {version.hex()}")
    cookie = r.vec(1)
    r.end()
    return cookie


@dataclass(frozen=True)
class ServerHello:
    random: bytes
    cipher_suite: int
    extensions: dict


def parse_server_hello(body: bytes) -> ServerHello:
    r = Reader(body, "ServerHello")
    version = r.take(2)
    if version != DTLS_1_2:
        raise DtlsParseError(f"server chose version {version.hex()}, not DTLS 1.2")
    random = r.take(32)
    session_id = r.vec(1)
    if len(session_id) > 32:
        raise DtlsParseError("ServerHello session id longer than 32 bytes")
    cipher_suite = r.u16()
    compression = r.u8()
    extensions = parse_extensions(r)
    r.end()
    if compression != 0:
        raise DtlsParseError(f"server chose compression {compression}")
    return ServerHello(random, cipher_suite, extensions)


@dataclass(frozen=True)
class ServerKeyExchange:
    params: bytes           # what the signature covers after the two randoms
    point: bytes
    sig_alg: int
    signature: bytes


def parse_server_key_exchange(body: bytes) -> ServerKeyExchange:
    r = Reader(body, "ServerKeyExchange")
    curve_type = r.u8()
    curve = r.u16()
    if curve_type != NAMED_CURVE or curve != SECP256R1:
        raise DtlsParseError(f"server chose curve {curve_type}/{curve}, not secp256r1")
    point = r.vec(1)
    if len(point) != 65 or point[0] != 4:
        raise DtlsParseError("server's ECDHE point is not an uncompressed P-256 point")
    params = body[:r.at]
    sig_alg = r.u16()
    signature = r.vec(2)
    r.end()
    return ServerKeyExchange(params, point, sig_alg, signature)


def parse_certificate_request(body: bytes) -> tuple[bytes, bytes]:
    """(certificate types, signature algorithms); the authorities list is read and dropped."""
    r = Reader(body, "CertificateRequest")
    types = r.vec(1)
    algs = r.vec(2)
    r.vec(2)
    r.end()
    if len(algs) % 2:
        raise DtlsParseError("CertificateRequest signature algorithms of odd length")
    return types, algs


def parse_certificate(body: bytes) -> None:
    """Read only to check its framing: the device does not use the server's certificate."""
    r = Reader(body, "Certificate")
    r.vec(3)
    r.end()


# --- crypto ------------------------------------------------------------------------------------


def prf(secret: bytes, label: bytes, seed: bytes, length: int) -> bytes:
    """The TLS 1.2 PRF with SHA-256 (RFC 5246 section 5)."""
    seed = label + seed
    out = b""
    a = seed
    while len(out) < length:
        a = hmac.new(secret, a, hashlib.sha256).digest()
        out += hmac.new(secret, a + seed, hashlib.sha256).digest()
    return out[:length]


class RecordProtection:
    """AES-128-CCM-8 for one direction (RFC 6655 / 7251): 4-byte salt, 8-byte explicit nonce."""

    def __init__(self, key: bytes, salt: bytes):
        from cryptography.hazmat.primitives.ciphers.aead import AESCCM
        self.aead = AESCCM(key, tag_length=CCM_TAG)
        self.salt = salt

    def seal(self, content_type: int, epoch: int, seq: int, plaintext: bytes, cid: bytes = b"") -> bytes:
        """The whole record. With a peer CID it is a tls12_cid record, as mbedTLS 2.x frames it."""
        explicit = struct.pack(">H", epoch) + seq.to_bytes(6, "big")
        if cid:
            inner = plaintext + bytes([content_type])
            aad = (explicit + bytes([TLS12_CID]) + DTLS_1_2 + cid + bytes([len(cid)])
                   + struct.pack(">H", len(inner)))
            sealed = explicit + self.aead.encrypt(self.salt + explicit, inner, aad)
            return (bytes([TLS12_CID]) + DTLS_1_2 + explicit + cid + struct.pack(">H", len(sealed))
                    + sealed)
        aad = explicit + bytes([content_type]) + DTLS_1_2 + struct.pack(">H", len(plaintext))
        return record_bytes(content_type, epoch, seq,
                            explicit + self.aead.encrypt(self.salt + explicit, plaintext, aad))

    def open(self, rec: Record) -> bytes:
        if len(rec.fragment) < EXPLICIT_NONCE + CCM_TAG:
            raise DtlsParseError("encrypted record too short")
        explicit = rec.fragment[:EXPLICIT_NONCE]
        sealed = rec.fragment[EXPLICIT_NONCE:]
        aad = (struct.pack(">H", rec.epoch) + rec.seq.to_bytes(6, "big") + bytes([rec.content_type])
               + rec.version + struct.pack(">H", len(sealed) - CCM_TAG))
        from cryptography.exceptions import InvalidTag
        try:
            return self.aead.decrypt(self.salt + explicit, sealed, aad)
        except InvalidTag:
            raise DtlsParseError("a record failed authentication (bad_record_mac)") from None


# --- the CoAP messages -------------------------------------------------------------------------


def coap_hello(message_id: int, device_id: bytes, platform_id: int = 0, system_version: int = 0,
               product_id: int = 0xFFFF, product_version: int = 0xFFFF,
               max_binary_size: int = 0) -> bytes:
    """Messages::hello: CON POST "h", no token, the fixed-layout payload."""
    return (bytes([0x40, COAP_POST]) + struct.pack(">H", message_id) + b"\xb1h\xff"
            + struct.pack(">HHHH", product_id, product_version, HELLO_FLAGS, platform_id)
            + bytes([0, len(device_id)]) + device_id
            + struct.pack(">HHIH", system_version, MAX_MESSAGE_SIZE, max_binary_size, OTA_CHUNK_SIZE))


def coap_goodbye(message_id: int) -> bytes:
    """Messages::goodbye as a DTLS device sends it (confirmable): POST "x", reason USER."""
    return (bytes([0x40, COAP_POST]) + struct.pack(">H", message_id) + b"\xb1x\xff"
            + bytes([GOODBYE_CLOUD_DISCONNECT_REASON_FLAG, CLOUD_DISCONNECT_REASON_USER]))


def coap_empty_ack(message_id: int) -> bytes:
    return bytes([0x60, 0]) + struct.pack(">H", message_id)


@dataclass(frozen=True)
class CoapHeader:
    kind: int
    code: int
    message_id: int


def parse_coap_header(data: bytes) -> CoapHeader:
    r = Reader(data, "CoAP message")
    first = r.u8()
    code = r.u8()
    message_id = r.u16()
    if first >> 6 != 1:
        raise DtlsParseError(f"CoAP version {first >> 6}")
    if first & 0x0F > 8:
        raise DtlsParseError("CoAP token longer than 8 bytes")
    r.take(first & 0x0F)
    return CoapHeader((first >> 4) & 3, code, message_id)


def coap_code_text(code: int) -> str:
    return f"{code >> 5}.{code & 0x1F:02d}"


# --- the probe ---------------------------------------------------------------------------------


class _Stop(Exception):
    """Ends the probe with an outcome; the detail is words, never key material."""

    def __init__(self, outcome: Outcome, detail: str):
        super().__init__(detail)
        self.outcome = outcome
        self.detail = detail


class _Silence(Exception):
    """The deadline passed while waiting; the phase decides what that means."""


def _connect_udp(host: str, port: int, timeout_s: float | None = None):
    info = _resolve(host, port, timeout_s)
    last: OSError | None = None
    for family, kind, proto, _, address in info:
        sock = socket.socket(family, kind, proto)
        try:
            sock.connect(address)
            return sock
        except OSError as e:
            sock.close()
            last = e
    raise last or OSError("no address")


def _resolve(host: str, port: int, timeout_s: float | None):
    """getaddrinfo, given up on after timeout_s: a resolver that hangs must not hang the probe
    (the lookup thread is left to finish on its own)."""
    if timeout_s is None:
        return socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    import threading
    answer: list = []

    def look_up():
        try:
            answer.append(socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM))
        except OSError as e:
            answer.append(e)
    thread = threading.Thread(target=look_up, name="dtls-resolve", daemon=True)
    thread.start()
    thread.join(max(timeout_s, 0))
    if not answer:
        raise socket.gaierror(f"no answer from the resolver in {timeout_s:g} s")
    if isinstance(answer[0], OSError):
        raise answer[0]
    return answer[0]


def _alert_text(payload: bytes) -> str:
    if len(payload) != 2:
        raise DtlsParseError(f"alert of {len(payload)} bytes")
    level = {1: "warning", 2: "fatal"}.get(payload[0], f"level {payload[0]}")
    return f"{level} alert {ALERT_NAMES.get(payload[1], str(payload[1]))}"


class _Client:
    def __init__(self, sock, deadline: float, where: str):
        self.sock = sock
        self.deadline = deadline
        self.where = where
        self.heard = False               # any datagram from the server at all
        self.phase = "answer to the ClientHello"
        self.write_epoch = 0
        self.write_seq = [0, 0]
        self.read_epoch = 0
        self.read_protection: RecordProtection | None = None
        self.next_read_protection: RecordProtection | None = None
        self.write_protection: RecordProtection | None = None
        self.peer_cid = b""
        self.seen_epoch1: set[int] = set()
        self.early: list[Record] = []    # epoch-1 records that overtook the ChangeCipherSpec
        self.flight: list[tuple[int, int, bytes]] = []   # (content type, epoch, plaintext)
        self.messages = Reassembler()
        self.alert: str | None = None
        self.app_data: list[bytes] = []
        self.server_ccs = False
        self.peer_retransmitted = False

    # sending

    def _record(self, content_type: int, epoch: int, payload: bytes) -> bytes:
        seq = self.write_seq[epoch]
        self.write_seq[epoch] += 1
        if epoch == 0:
            return record_bytes(content_type, 0, seq, payload)
        return self.write_protection.seal(content_type, epoch, seq, payload, self.peer_cid)

    def send_flight(self) -> None:
        """The whole flight again, with fresh record numbers (RFC 6347 4.2.4)."""
        datagram = b"".join(self._record(t, e, p) for t, e, p in self.flight)
        self._send(datagram)

    def _send(self, datagram: bytes) -> None:
        try:
            self.sock.send(datagram)
        except ConnectionRefusedError:
            raise _Stop(Outcome.UNREACHABLE, f"{self.where}: port unreachable (ICMP)") from None
        except OSError as e:
            raise _Stop(Outcome.UNREACHABLE, f"{self.where}: cannot send ({e.strerror or e})") from None

    def send_now(self, content_type: int, payload: bytes) -> None:
        self._send(self._record(content_type, self.write_epoch, payload))

    def close(self) -> None:
        """close_notify; a lost one costs nothing, the server times the session out."""
        try:
            self.send_now(ALERT, bytes([ALERT_WARNING, ALERT_CLOSE_NOTIFY]))
        except _Stop:
            pass

    def abort(self, description: int) -> None:
        """A fatal alert when we give up on a server that answered."""
        if self.heard:
            try:
                self.send_now(ALERT, bytes([ALERT_FATAL, description]))
            except _Stop:
                pass

    # receiving

    def receive(self, wait_s: float) -> bool:
        """Read and take apart one datagram; False when none came within wait_s."""
        wait_s = min(wait_s, self.deadline - time.monotonic())
        if wait_s <= 0:
            raise _Silence()
        self.sock.settimeout(wait_s)
        try:
            datagram = self.sock.recv(MAX_DATAGRAM + 1)
        except (socket.timeout, BlockingIOError):
            return False
        except ConnectionRefusedError:
            raise _Stop(Outcome.UNREACHABLE, f"{self.where}: port unreachable (ICMP)") from None
        except OSError as e:
            raise _Stop(Outcome.UNREACHABLE, f"{self.where}: {e.strerror or e}") from None
        if len(datagram) <= 1:
            return True                  # Device OS ignores 0- and 1-byte keep-alives
        self.heard = True
        for rec in parse_records(datagram):
            self._take(rec)
        return True

    def _take(self, rec: Record) -> None:
        if rec.content_type == TLS12_CID:
            return                       # our own CID is empty: mbedTLS ignores such records
        if rec.epoch == self.read_epoch + 1 and self.next_read_protection is not None and not self.server_ccs:
            if len(self.early) < MAX_EARLY_RECORDS:
                self.early.append(rec)
            return
        if rec.epoch != self.read_epoch:
            return                       # an old epoch's retransmission, or a future one: dropped
        payload = rec.fragment
        if rec.epoch:
            if rec.seq in self.seen_epoch1:
                return                   # replayed, or the same record twice
            payload = self.read_protection.open(rec)
            self.seen_epoch1.add(rec.seq)
        if rec.content_type == ALERT:
            self.alert = _alert_text(payload)
        elif rec.content_type == CHANGE_CIPHER_SPEC:
            if payload != b"\x01":
                raise DtlsParseError("malformed ChangeCipherSpec")
            if self.next_read_protection is None:
                raise DtlsParseError("ChangeCipherSpec before the keys were agreed")
            self.read_epoch += 1
            self.read_protection = self.next_read_protection
            self.next_read_protection = None
            self.server_ccs = True
            early, self.early = self.early, []
            for r in early:
                self._take(r)
        elif rec.content_type == HANDSHAKE:
            for frag in parse_handshake_fragments(payload):
                if not self.messages.add(frag):
                    self.peer_retransmitted = True
        elif rec.content_type == APPLICATION_DATA:
            if rec.epoch == 0:
                raise DtlsParseError("application data before the handshake finished")
            self.app_data.append(payload)

    def await_messages(self, want):
        """Receive until `want()` returns something (or an alert came); resend our flight when
        the doubling timer runs out, and once per timer period when the server repeats its own
        flight (it lost ours), so a server that only repeats itself cannot make us flood it."""
        timer = FIRST_RETRANSMIT_S
        next_resend = time.monotonic() + timer
        answered_repeat = False
        while True:
            got = want()
            if got is not None or self.alert:
                return got
            now = time.monotonic()
            if now >= next_resend:
                self.send_flight()
                timer = min(timer * 2, MAX_RETRANSMIT_S)
                next_resend = now + timer
                answered_repeat = False
            self.peer_retransmitted = False
            self.receive(max(next_resend - now, 0.001))
            if self.peer_retransmitted and not answered_repeat and want() is None:
                self.send_flight()
                answered_repeat = True


def _client_hello(random: bytes, cookie: bytes) -> bytes:
    def ext(kind: int, data: bytes) -> bytes:
        return struct.pack(">HH", kind, len(data)) + data
    extensions = (ext(EXT_SIGNATURE_ALGORITHMS, struct.pack(">HH", 2, ECDSA_SECP256R1_SHA256))
                  + ext(EXT_SUPPORTED_GROUPS, struct.pack(">HH", 2, SECP256R1))
                  + ext(EXT_EC_POINT_FORMATS, bytes([1, UNCOMPRESSED]))
                  + ext(EXT_CONNECTION_ID, b"\x00")
                  + ext(EXT_CLIENT_CERTIFICATE_TYPE, bytes([1, RAW_PUBLIC_KEY]))
                  + ext(EXT_SERVER_CERTIFICATE_TYPE, bytes([1, RAW_PUBLIC_KEY])))
    suites = struct.pack(">HHH", 4, TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, TLS_EMPTY_RENEGOTIATION_INFO_SCSV)
    return (DTLS_1_2 + random + b"\x00" + bytes([len(cookie)]) + cookie + suites + b"\x01\x00"
            + struct.pack(">H", len(extensions)) + extensions)


def _check_device_id(device_id: str) -> bytes:
    try:
        raw = bytes.fromhex(device_id)
    except ValueError:
        raw = b""
    if len(raw) != 12 or len(device_id) != 24:
        raise ParticlePyError(f"{device_id!r} is not a device id",
                              "A device id is 24 hex digits, as `particle usb list` shows it.", EX_USAGE)
    return raw


def _check_keys(device_key, server_key) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    if not (isinstance(device_key, ec.EllipticCurvePrivateKey) and device_key.curve.name == "secp256r1"):
        raise ParticlePyError("The DTLS handshake needs the device's P-256 private key.",
                              "Gen3, Gen4 and Electron devices hold an EC P-256 key; an RSA key is a Gen2 "
                              "device's (TCP handshake).", EX_USAGE)
    if not (isinstance(server_key, ec.EllipticCurvePublicKey) and server_key.curve.name == "secp256r1"):
        raise ParticlePyError("The DTLS handshake needs the cloud's P-256 public key (the UDP server key).",
                              "Use the server key of the device's DCT, or particle-cli's ec.pub.der.", EX_USAGE)


def probe(host: str, port: int, device_id: str, device_key, server_key, timeout_s: float = 10.0, *,
          send_hello: bool = False, sock_factory=None) -> Verdict:
    """Run the device's DTLS handshake with `device_key` against a server that must prove
    `server_key`; with send_hello, also say Hello as the device, then Goodbye. Never raises for
    anything the network does; every wait ends by `timeout_s`. `sock_factory(host, port)` gives
    the connected datagram socket (default: UDP to the first address that connects)."""
    raw_id = _check_device_id(device_id)
    _check_keys(device_key, server_key)
    deadline = time.monotonic() + timeout_s
    where = f"{host}:{port} (UDP)"

    def verdict(outcome: Outcome, detail: str) -> Verdict:
        return Verdict(outcome, "udp", host, port, detail)

    try:
        if sock_factory is None:
            sock = _connect_udp(host, port, timeout_s)
        else:
            sock = sock_factory(host, port)
    except socket.gaierror as e:
        return verdict(Outcome.UNREACHABLE, f"{where}: cannot resolve the host ({e.strerror or e})")
    except OSError as e:
        return verdict(Outcome.UNREACHABLE, f"{where}: {e.strerror or e}")
    client = _Client(sock, deadline, where)
    try:
        return verdict(Outcome.ACCEPTED, _handshake(client, raw_id, device_key, server_key, send_hello))
    except _Stop as stop:
        if stop.outcome is Outcome.SERVER_KEY_MISMATCH:
            client.abort(ALERT_DECRYPT_ERROR)     # as mbedTLS does, so the server lets go at once
        return verdict(stop.outcome, stop.detail)
    except _Silence:
        waited = f"in {timeout_s:g} s"
        if client.phase == "answer to the ClientHello" and not client.heard:
            return verdict(Outcome.UNREACHABLE, f"{where}: no answer to the ClientHello {waited}")
        if client.phase == "finished":
            return verdict(Outcome.DEVICE_KEY_REJECTED,
                           f"{where}: no Finished from the server {waited} after the device key was "
                           "shown: the cloud does not take this device key")
        if client.phase == "coap":
            return verdict(Outcome.DEVICE_KEY_REJECTED,
                           f"{where}: the cloud did not acknowledge the Hello for {raw_id.hex()} {waited}")
        return verdict(Outcome.PROTOCOL_ERROR,
                       f"{where}: the handshake stalled waiting for the {client.phase} ({waited})")
    except DtlsParseError as e:
        client.abort(ALERT_DECODE_ERROR)
        return verdict(Outcome.PROTOCOL_ERROR, f"{where}: {e}")
    finally:
        sock.close()


def _handshake(client: _Client, raw_id: bytes, device_key, server_key, send_hello: bool) -> str:
    """The flights of RFC 6347 4.2.4 as the device runs them; returns the ACCEPTED detail."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    where = client.where
    client_random = struct.pack(">I", int(time.time()) & 0xFFFFFFFF) + os.urandom(28)

    # flights 1 and 3: ClientHello, answered by a cookie or at once by the server's flight
    hello_seq = 0
    client_hello = handshake_bytes(CLIENT_HELLO, hello_seq, _client_hello(client_random, b""))
    client.flight = [(HANDSHAKE, 0, client_hello)]
    client.send_flight()
    got = client.await_messages(client.messages.pop)
    _raise_alert(client, "in answer to the ClientHello", Outcome.PROTOCOL_ERROR)
    seq, msg_type, body = got
    if msg_type == HELLO_VERIFY_REQUEST:
        cookie = parse_hello_verify_request(body)
        hello_seq = 1                    # the ClientHello and cookie request stay out of the transcript
        client_hello = handshake_bytes(CLIENT_HELLO, hello_seq, _client_hello(client_random, cookie))
        client.flight = [(HANDSHAKE, 0, client_hello)]
        client.send_flight()
        client.phase = "ServerHello"
        got = client.await_messages(client.messages.pop)
        _raise_alert(client, "in answer to the ClientHello with the cookie", Outcome.PROTOCOL_ERROR)
        seq, msg_type, body = got
    if msg_type != SERVER_HELLO:
        raise DtlsParseError(f"expected a ServerHello, got handshake message {msg_type}")
    transcript = [client_hello, handshake_bytes(msg_type, seq, body)]
    hello = parse_server_hello(body)
    if hello.cipher_suite != TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8:
        raise DtlsParseError(f"the server chose cipher suite {hello.cipher_suite:#06x}")
    for kind in (EXT_SERVER_CERTIFICATE_TYPE, EXT_CLIENT_CERTIFICATE_TYPE):
        if kind in hello.extensions and hello.extensions[kind] != bytes([RAW_PUBLIC_KEY]):
            raise DtlsParseError("the server chose a certificate type other than raw public keys")
    if EXT_CONNECTION_ID in hello.extensions:
        cid = Reader(hello.extensions[EXT_CONNECTION_ID], "connection_id")
        client.peer_cid = cid.vec(1)
        cid.end()

    # flight 4: [Certificate] ServerKeyExchange CertificateRequest ServerHelloDone
    client.phase = "server's key exchange"
    server_kx = None
    cert_request = None
    while True:
        got = client.await_messages(client.messages.pop)
        _raise_alert(client, "during the server's hello flight", Outcome.PROTOCOL_ERROR)
        seq, msg_type, body = got
        transcript.append(handshake_bytes(msg_type, seq, body))
        if msg_type == CERTIFICATE and server_kx is None:
            parse_certificate(body)      # not trusted: the DCT key is what the server must prove
        elif msg_type == SERVER_KEY_EXCHANGE and server_kx is None:
            server_kx = parse_server_key_exchange(body)
            if server_kx.sig_alg != ECDSA_SECP256R1_SHA256:
                raise DtlsParseError(f"ServerKeyExchange signed with algorithm {server_kx.sig_alg:#06x}")
            try:
                server_key.verify(server_kx.signature, client_random + hello.random + server_kx.params,
                                  ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                raise _Stop(Outcome.SERVER_KEY_MISMATCH,
                            f"{where}: the ServerKeyExchange signature does not verify with the "
                            "server public key the device holds: this server key is not the cloud's") from None
        elif msg_type == CERTIFICATE_REQUEST and server_kx is not None and cert_request is None:
            cert_request = parse_certificate_request(body)
        elif msg_type == SERVER_HELLO_DONE and server_kx is not None:
            if body:
                raise DtlsParseError("ServerHelloDone with a body")
            break
        else:
            raise DtlsParseError(f"unexpected handshake message {msg_type} in the server's hello flight")
    if cert_request is None:
        raise DtlsParseError("the server did not ask for the device key (no CertificateRequest)")
    if ECDSA_SIGN not in cert_request[0]:
        raise DtlsParseError("the server's CertificateRequest does not take ECDSA keys")

    # flight 5: Certificate ClientKeyExchange CertificateVerify ChangeCipherSpec Finished
    try:
        peer = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), server_kx.point)
    except ValueError:
        raise DtlsParseError("the server's ECDHE point is not on the curve") from None
    ours = ec.generate_private_key(ec.SECP256R1())
    premaster = ours.exchange(ec.ECDH(), peer)
    spki = device_key.public_key().public_bytes(serialization.Encoding.DER,
                                                serialization.PublicFormat.SubjectPublicKeyInfo)
    certificate = handshake_bytes(CERTIFICATE, hello_seq + 1, len(spki).to_bytes(3, "big") + spki)
    point = ours.public_key().public_bytes(serialization.Encoding.X962,
                                           serialization.PublicFormat.UncompressedPoint)
    key_exchange = handshake_bytes(CLIENT_KEY_EXCHANGE, hello_seq + 2, bytes([len(point)]) + point)
    transcript += [certificate, key_exchange]
    signature = device_key.sign(b"".join(transcript), ec.ECDSA(hashes.SHA256()))
    verify = handshake_bytes(CERTIFICATE_VERIFY, hello_seq + 3,
                             struct.pack(">HH", ECDSA_SECP256R1_SHA256, len(signature)) + signature)
    transcript.append(verify)
    master = prf(premaster, b"master secret", client_random + hello.random, 48)
    keys = prf(master, b"key expansion", hello.random + client_random, 40)
    client.write_protection = RecordProtection(keys[0:16], keys[32:36])
    client.next_read_protection = RecordProtection(keys[16:32], keys[36:40])
    client_finished = handshake_bytes(
        FINISHED, hello_seq + 4,
        prf(master, b"client finished", hashlib.sha256(b"".join(transcript)).digest(), 12))
    transcript.append(client_finished)
    expected = prf(master, b"server finished", hashlib.sha256(b"".join(transcript)).digest(), 12)
    client.flight = [(HANDSHAKE, 0, certificate), (HANDSHAKE, 0, key_exchange), (HANDSHAKE, 0, verify),
                     (CHANGE_CIPHER_SPEC, 0, b"\x01"), (HANDSHAKE, 1, client_finished)]
    client.write_epoch = 1
    client.phase = "finished"
    client.send_flight()

    # flight 6: ChangeCipherSpec Finished, sent only when the cloud took the device key
    got = client.await_messages(lambda: client.messages.pop() if client.server_ccs else None)
    _raise_alert(client, "after the device key was shown", Outcome.DEVICE_KEY_REJECTED,
                 ": the cloud does not take this device key")
    seq, msg_type, body = got
    if msg_type != FINISHED:
        raise DtlsParseError(f"expected the server's Finished, got handshake message {msg_type}")
    if not hmac.compare_digest(body, expected):
        raise DtlsParseError("the server's Finished does not verify")
    if not send_hello:
        client.close()                   # no Hello, so the cloud never marks the device online
        return f"{where}: the server proved its key and took the device key (handshake finished)"

    client.phase = "coap"
    message_id = int.from_bytes(os.urandom(2), "big")
    reply = _coap_exchange(client, coap_hello(message_id, raw_id), message_id)
    if reply.kind == COAP_RST or reply.code >= 0x80:
        why = "reset" if reply.kind == COAP_RST else coap_code_text(reply.code)
        client.close()
        raise _Stop(Outcome.DEVICE_KEY_REJECTED,
                    f"{where}: the cloud refused the Hello for {raw_id.hex()} ({why})")
    goodbye_id = (message_id + 1) & 0xFFFF
    client.deadline = min(client.deadline, time.monotonic() + GOODBYE_WAIT_S)
    try:
        _coap_exchange(client, coap_goodbye(goodbye_id), goodbye_id)
    except (_Silence, _Stop, DtlsParseError):
        pass                             # the answer is already known; the Goodbye is a courtesy
    client.close()
    return f"{where}: the cloud took the device key and acknowledged the Hello for {raw_id.hex()}"


def _coap_exchange(client: _Client, message: bytes, message_id: int) -> CoapHeader:
    """Send one confirmable message and wait for its ACK or RST, resending it on the timer;
    the server's own confirmable messages are acknowledged, as the device would."""
    client.flight = [(APPLICATION_DATA, 1, message)]
    client.send_flight()

    def answer():
        while client.app_data:
            header = parse_coap_header(client.app_data.pop(0))
            if header.kind in (COAP_ACK, COAP_RST) and header.message_id == message_id:
                return header
            if header.kind == COAP_CON:
                client.send_now(APPLICATION_DATA, coap_empty_ack(header.message_id))
        return None
    got = client.await_messages(answer)
    _raise_alert(client, "after the Hello", Outcome.DEVICE_KEY_REJECTED, ": the cloud ended the session")
    return got


def _raise_alert(client: _Client, when: str, outcome: Outcome, meaning: str = "") -> None:
    if client.alert:
        raise _Stop(outcome, f"{client.where}: the server sent a {client.alert} {when}{meaning}")
