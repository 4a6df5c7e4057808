"""The Gen2 device's TCP handshake with the cloud (port 5683), run from the computer.

What Device OS does (communication/src/lightssl_message_channel.cpp `handshake`, `set_key`;
communication/src/handshake.cpp), step by step, with the device's own key and server key:

1. read exactly 40 bytes, the server's nonce;
2. send RSA-PKCS#1 v1.5 (server key) of nonce(40) || device id(12) || device public key, the
   public key always 162 bytes (MAX_DEVICE_PUBLIC_KEY_LENGTH): 214 bytes in, 256 out;
3. read exactly 384 bytes: ct(128) || sig(256);
4. decrypt ct with the device key into the 40-byte session key (failure: DECRYPTION_ERROR, the
   orange blinks), then check that sig is the server key's PKCS#1 v1.5 signature, without a
   DigestInfo, of HMAC-SHA1(session key, ct) (failure: AUTHENTICATION_ERROR, magenta).

The probe stops there and closes: it never sends the encrypted Hello, so the cloud never marks
the device online. The cloud closes the connection on an id or key it does not hold, and on a
message it cannot decrypt (one sent under another server key): a device sees the same close, so
the probe cannot tell these apart. The magenta case needs a cloud that reads the message under
the server key the device holds but signs with another (a cloud that changed its key).
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import socket
import time

from ..errors import EX_DATAERR, EX_USAGE, ParticlePyError
from . import Outcome, Verdict

TYPE_CHECKING = False
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey, RSAPublicKey

PROTOCOL = "tcp"
NONCE_BYTES = 40
DEVICE_ID_BYTES = 12
MAX_DEVICE_PUBLIC_KEY_LENGTH = 162      # communication/inc/device_keys.h
SESSION_CIPHERTEXT_BYTES = 128          # the device key's modulus
SIGNATURE_BYTES = 256
REPLY_BYTES = SESSION_CIPHERTEXT_BYTES + SIGNATURE_BYTES
SESSION_KEY_BYTES = 40                  # AES-128 key(16) || IV(16) || salt(8)
# Device OS reads both moduli at fixed sizes and hard-codes the exponent (handshake.cpp)
DEVICE_KEY_BITS = 1024
SERVER_KEY_BITS = 2048
RSA_EXPONENT = 65537


class _TimedOut(Exception):
    pass


def probe(host: str, port: int, device_id: str, device_key: "RSAPrivateKey", server_key: "RSAPublicKey",
          timeout_s: float = 10.0) -> Verdict:
    """Run the device's handshake up to the session key; the Verdict says what the device would
    show. Raises ParticlePyError only for arguments a Gen2 device could not hold."""
    device_message_plaintext = _device_message_plaintext(device_id, device_key, server_key)
    deadline = time.monotonic() + timeout_s
    where = f"{host}:{port}"

    def verdict(outcome: Outcome, detail: str) -> Verdict:
        return Verdict(outcome, PROTOCOL, host, port, detail)

    try:
        sock = socket.create_connection((host, port), timeout=max(timeout_s, 0.001))
    except socket.gaierror:
        return verdict(Outcome.UNREACHABLE, f"no TCP connection to {where}: the host name does not resolve")
    except ConnectionRefusedError:
        return verdict(Outcome.UNREACHABLE, f"no TCP connection to {where}: connection refused")
    except (socket.timeout, TimeoutError):
        return verdict(Outcome.UNREACHABLE, f"no TCP connection to {where} within {timeout_s:g} s")
    except OSError as exc:
        return verdict(Outcome.UNREACHABLE, f"no TCP connection to {where}: {exc.strerror or type(exc).__name__}")
    with sock:
        try:
            nonce = _read_exactly(sock, NONCE_BYTES, deadline)
        except _TimedOut as exc:
            return verdict(Outcome.UNREACHABLE,
                           f"TCP {where}: no nonce within {timeout_s:g} s ({exc} of {NONCE_BYTES} bytes came)")
        if len(nonce) < NONCE_BYTES:
            return verdict(Outcome.UNREACHABLE, f"TCP {where}: no nonce (the server closed the connection "
                                                f"after {len(nonce)} of {NONCE_BYTES} bytes)")
        if _more_waiting(sock):
            return verdict(Outcome.PROTOCOL_ERROR, f"TCP {where}: the server sent more than the "
                                                   f"{NONCE_BYTES}-byte nonce before the device spoke")
        message = _encrypt(server_key, nonce + device_message_plaintext)
        try:
            _send_all(sock, message, deadline)
            reply = _read_exactly(sock, REPLY_BYTES, deadline)
        except _TimedOut:
            return verdict(Outcome.UNREACHABLE, f"TCP {where}: no answer to the device's key and id "
                                                f"within {timeout_s:g} s")
        except OSError:
            reply = b""         # a reset: the cloud dropped the connection, as on a close
        if not reply:
            return verdict(Outcome.DEVICE_KEY_REJECTED,
                           f"TCP {where}: the cloud closed the connection after the device's key and id: it "
                           f"holds another key for this device or no device with this id, or it could "
                           f"not read them (this server key is not the cloud's)")
        if len(reply) < REPLY_BYTES:
            return verdict(Outcome.PROTOCOL_ERROR, f"TCP {where}: the server closed the connection after "
                                                   f"{len(reply)} of the {REPLY_BYTES}-byte session key reply")
        if _more_waiting(sock):
            return verdict(Outcome.PROTOCOL_ERROR, f"TCP {where}: the server sent more than the "
                                                   f"{REPLY_BYTES}-byte session key reply")
    outcome, detail = check_reply(reply, device_key, server_key)
    return verdict(outcome, f"TCP {where}: {detail}")


def check_reply(reply: bytes, device_key: "RSAPrivateKey", server_key: "RSAPublicKey") -> tuple[Outcome, str]:
    """What the device makes of the server's 384 bytes (`set_key`): an Outcome and words. Any
    bytes give an answer; none raises."""
    if len(reply) != REPLY_BYTES:
        return Outcome.PROTOCOL_ERROR, f"the session key reply is {len(reply)} bytes, not {REPLY_BYTES}"
    ciphertext, signature = reply[:SESSION_CIPHERTEXT_BYTES], reply[SESSION_CIPHERTEXT_BYTES:]
    session_key = _decrypt(device_key, ciphertext)
    if session_key is None:
        return (Outcome.DEVICE_KEY_REJECTED, "decryption error: the session key is not encrypted to this "
                "device key (the cloud holds another public key for this device); the device blinks orange")
    if len(session_key) != SESSION_KEY_BYTES:
        return (Outcome.PROTOCOL_ERROR,
                f"the session key is {len(session_key)} bytes, not {SESSION_KEY_BYTES}")
    expected = hmac.new(session_key, ciphertext, hashlib.sha1).digest()
    if not _signed_by(server_key, signature, expected):
        return (Outcome.SERVER_KEY_MISMATCH, "the session key's signature does not verify with this server "
                "key (the device holds another server key than the cloud's); the device blinks magenta")
    return Outcome.ACCEPTED, "the cloud sent a session key for this device key, signed by this server key"


# --- the device's message -------------------------------------------------------------------

def _device_message_plaintext(device_id: str, device_key, server_key) -> bytes:
    """id(12) || public key padded to 162 bytes: what follows the nonce. Checks the arguments
    first, so that a key a device could not hold is an error, not a verdict."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    try:
        id_bytes = bytes.fromhex(device_id)
    except (TypeError, ValueError):
        id_bytes = b""
    if len(id_bytes) != DEVICE_ID_BYTES or len(device_id) != 2 * DEVICE_ID_BYTES:
        raise ParticlePyError(f"{device_id!r} is not a device id.",
                              "A device id is 24 hexadecimal digits (`particle identify` shows it).", EX_USAGE)
    if not isinstance(device_key, rsa.RSAPrivateKey) or device_key.key_size != DEVICE_KEY_BITS or \
            device_key.public_key().public_numbers().e != RSA_EXPONENT:
        raise ParticlePyError("The device key is not one a Gen2 device uses for the TCP handshake.",
                              "Photon, P1, Core and Electron (on TCP) use RSA-1024 keys with exponent 65537; "
                              "`particle keys new` makes one.", EX_DATAERR)
    if not isinstance(server_key, rsa.RSAPublicKey) or server_key.key_size != SERVER_KEY_BITS or \
            server_key.public_numbers().e != RSA_EXPONENT:
        raise ParticlePyError("The server key is not the cloud's TCP key.",
                              "The TCP handshake uses the cloud's RSA-2048 key; `particle keys server` "
                              "writes it to the device.", EX_DATAERR)
    public_der = device_key.public_key().public_bytes(serialization.Encoding.DER,
                                                      serialization.PublicFormat.SubjectPublicKeyInfo)
    # an RSA-1024 key with exponent 65537 is always exactly 162 bytes of DER; Device OS sends
    # that many bytes whatever the key
    return id_bytes + public_der.ljust(MAX_DEVICE_PUBLIC_KEY_LENGTH, b"\x00")[:MAX_DEVICE_PUBLIC_KEY_LENGTH]


def _encrypt(server_key, plaintext: bytes) -> bytes:
    from cryptography.hazmat.primitives.asymmetric import padding

    return server_key.encrypt(plaintext, padding.PKCS1v15())


# --- the device's checks of the reply ------------------------------------------------------------

def _decrypt(device_key, ciphertext: bytes):
    """PKCS#1 v1.5 decryption as mbedTLS does it: the bytes, or None when the padding is wrong.
    Not the library's decrypt: OpenSSL's implicit rejection answers a wrong ciphertext with
    made-up bytes instead of an error, and the device (mbedTLS) rejects it. Blinded, so the
    time it takes tells the server nothing about the key."""
    numbers = device_key.private_numbers()
    n, e, d = numbers.public_numbers.n, numbers.public_numbers.e, numbers.d
    size = (n.bit_length() + 7) // 8
    c = int.from_bytes(ciphertext, "big")
    if len(ciphertext) != size or c >= n:
        return None
    r = secrets.randbelow(n - 2) + 2
    encoded = (pow(c * pow(r, e, n) % n, d, n) * pow(r, -1, n) % n).to_bytes(size, "big")
    # 00 02, at least 8 non-zero padding bytes, 00, the message
    separator = encoded.find(b"\x00", 2)
    if encoded[:2] != b"\x00\x02" or separator < 10:
        return None
    return encoded[separator + 1:]


def _signed_by(server_key, signature: bytes, expected: bytes) -> bool:
    """mbedtls_rsa_pkcs1_verify(..., MBEDTLS_MD_NONE, 20, h, sig): PKCS#1 v1.5 with no DigestInfo."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric import padding

    try:
        recovered = server_key.recover_data_from_signature(signature, padding.PKCS1v15(), None)
    except (InvalidSignature, ValueError):
        return False
    return hmac.compare_digest(recovered, expected)


# --- bounded socket reads and writes ---------------------------------------------------------------

def _remaining(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise socket.timeout()
    return left


def _read_exactly(sock: socket.socket, count: int, deadline: float) -> bytes:
    """Up to `count` bytes: fewer only when the peer closed. Raises _TimedOut (its argument: the
    bytes that came) when the deadline passes first."""
    data = b""
    while len(data) < count:
        try:
            sock.settimeout(_remaining(deadline))
            chunk = sock.recv(count - len(data))
        except (socket.timeout, TimeoutError):
            raise _TimedOut(len(data)) from None
        except OSError:         # a reset or an abort ends the connection as a close does
            return data
        if not chunk:
            return data
        data += chunk
    return data


def _send_all(sock: socket.socket, data: bytes, deadline: float) -> None:
    try:
        sock.settimeout(_remaining(deadline))
        sock.sendall(data)
    except (socket.timeout, TimeoutError):
        raise _TimedOut(0) from None


def _more_waiting(sock: socket.socket) -> bool:
    """Whether the server has already sent more than the step's message (a peek, no wait)."""
    sock.setblocking(False)
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return False
    finally:
        sock.setblocking(True)
