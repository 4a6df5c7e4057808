"""Key generation, format detection and conversion, slot-fit checks.

Everything a device key or server key can arrive as (PKCS#1, PKCS#8, SEC1, SPKI,
PKCS#1 public; PEM or DER; DER possibly followed by a slot's 0xFF padding) is
recognised here, and everything the device or the cloud needs is produced here:
PKCS#1 RSAPrivateKey DER for RSA device keys (OpenSSL 3's default PKCS#8 does not
fit the 612-byte slot), SEC1 DER for EC device keys, SPKI PEM for the cloud.

`cryptography` is imported inside functions so importing this module stays cheap.
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Callable, Optional

from particle_py.errors import ParticlePyError

# Key kinds as detected. The alg is 'rsa' or 'ec' (particle-cli's names).
PKCS1_PRIVATE = "PKCS#1 RSA private key"
PKCS1_PUBLIC = "PKCS#1 RSA public key"
PKCS8_PRIVATE = "PKCS#8 private key"
SEC1_PRIVATE = "SEC1 EC private key"
SPKI_PUBLIC = "SubjectPublicKeyInfo public key"

DEVICE_RSA_BITS = 1024          # what Device OS's TCP handshake uses
DEVICE_RSA_DER_SIZES = range(607, 612)
RSA_OID = bytes.fromhex("2a864886f70d010101")
EC_OID = bytes.fromhex("2a8648ce3d0201")
P256_OID = bytes.fromhex("2a8648ce3d030107")

_PEM_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.S)


@dataclass
class KeyInfo:
    """What a blob of key material turned out to be."""
    kind: str                  # one of the kind constants above
    alg: str                   # 'rsa' or 'ec'
    private: bool
    encoding: str              # 'pem' or 'der'
    der: bytes                 # the key's own DER, padding removed
    key: object = None         # the cryptography key object

    def public_key(self):
        return self.key.public_key() if self.private else self.key


def key_error(message: str, hint: Optional[str] = None) -> ParticlePyError:
    return ParticlePyError(message, hint or "Use a key file in PEM or DER format (PKCS#1, PKCS#8, SEC1 or "
                           "SubjectPublicKeyInfo), such as one written by `particle keys new`.")


# --- DER framing ------------------------------------------------------------------------

def der_length(data: bytes) -> Optional[int]:
    """Total length of the DER SEQUENCE at the start of data, or None if it is not one."""
    if len(data) < 2 or data[0] != 0x30:
        return None
    first = data[1]
    if first < 0x80:
        total = 2 + first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or len(data) < 2 + count:
            return None
        total = 2 + count + int.from_bytes(data[2:2 + count], "big")
    return total if total <= len(data) else None


def trim_der(data: bytes) -> Optional[bytes]:
    """The DER object at the start of data without the slot padding after it."""
    length = der_length(data)
    return None if length is None else bytes(data[:length])


def _read_tlv(data: bytes, pos: int) -> tuple[int, bytes, int]:
    """(tag, value, next position) of the TLV at pos; ValueError when malformed."""
    if pos + 2 > len(data):
        raise ValueError("truncated")
    tag = data[pos]
    first = data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > len(data):
            raise ValueError("bad length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    if pos + length > len(data):
        raise ValueError("truncated")
    return tag, data[pos:pos + length], pos + length


def _children(value: bytes) -> list[tuple[int, bytes]]:
    out, pos = [], 0
    while pos < len(value):
        tag, inner, pos = _read_tlv(value, pos)
        out.append((tag, inner))
    return out


def classify_der(der: bytes) -> Optional[tuple[str, str]]:
    """(kind, alg) from the ASN.1 structure alone, or None when it is no key we know."""
    try:
        tag, body, end = _read_tlv(der, 0)
        if tag != 0x30 or end != len(der):
            return None
        items = _children(body)
    except ValueError:
        return None
    tags = [t for t, _ in items]
    if len(items) >= 9 and all(t == 0x02 for t in tags[:9]):
        return PKCS1_PRIVATE, "rsa"
    if len(items) == 2 and tags == [0x02, 0x02]:
        return PKCS1_PUBLIC, "rsa"
    if len(items) >= 3 and tags[0] == 0x02 and tags[1] == 0x30 and tags[2] == 0x04:
        alg = _alg_from_identifier(items[1][1])
        return (PKCS8_PRIVATE, alg) if alg else None
    if len(items) >= 2 and tags[0] == 0x02 and tags[1] == 0x04 and items[0][1] == b"\x01":
        return SEC1_PRIVATE, "ec"
    if len(items) == 2 and tags == [0x30, 0x03]:
        alg = _alg_from_identifier(items[0][1])
        return (SPKI_PUBLIC, alg) if alg else None
    return None


def _alg_from_identifier(body: bytes) -> Optional[str]:
    try:
        items = _children(body)
    except ValueError:
        return None
    if not items or items[0][0] != 0x06:
        return None
    return {RSA_OID: "rsa", EC_OID: "ec"}.get(items[0][1])


# --- parsing ----------------------------------------------------------------------------

def _pem_blocks(data: bytes) -> list[tuple[str, bytes]]:
    blocks = []
    for label, body in _PEM_RE.findall(data):
        # Headers such as "Proc-Type:" mark an encrypted legacy PEM; keep only base64 lines.
        lines = [ln.strip() for ln in body.splitlines() if ln.strip() and b":" not in ln]
        try:
            blocks.append((label.decode(), base64.b64decode(b"".join(lines), validate=True)))
        except (ValueError, base64.binascii.Error):
            raise key_error("The PEM block %s is not valid base64." % label.decode())
    return blocks


def recognise(data: bytes) -> Optional[tuple[str, str, str]]:
    """(kind, alg, 'PEM' or 'DER') of the key a file's bytes hold, from the structure alone (no key
    is loaded, nothing is imported heavily), or None when they hold no key we know."""
    encoding = "DER"
    if b"-----BEGIN" in data[:4096]:
        encoding = "PEM"
        try:
            blocks = [b for b in _pem_blocks(data) if "PARAMETERS" not in b[0]]
        except ParticlePyError:
            return None
        der = blocks[0][1] if blocks else None
    else:
        der = trim_der(data)
    found = classify_der(der) if der else None
    return None if found is None else (found[0], found[1], encoding)


def is_private(kind: str) -> bool:
    return kind in (PKCS1_PRIVATE, PKCS8_PRIVATE, SEC1_PRIVATE)


def parse_key(data: bytes, name: str = "key", *, identify: Optional[Callable[[bytes], Optional[str]]] = None
              ) -> KeyInfo:
    """Recognise and load key material; ParticlePyError naming the file when it is not a key.

    ``identify`` names what else the bytes are ("a Particle firmware module (...)"), for the
    refusal; the key library knows keys only (firmware.classify.parse_key_file passes it)."""
    encoding = "der"
    if b"-----BEGIN" in data:
        encoding = "pem"
        blocks = _pem_blocks(data)
        if any("ENCRYPTED" in label for label, _ in blocks) or b"Proc-Type: 4,ENCRYPTED" in data:
            raise key_error(f"{name} is encrypted with a passphrase.",
                            "Decrypt it first, or use an unencrypted key: the device stores keys unencrypted.")
        keyish = [(label, der) for label, der in blocks if "PARAMETERS" not in label]
        if not keyish:
            raise key_error(f"{name} holds no key.")
        der = keyish[0][1]
    else:
        der = trim_der(data)
        if der is None:
            raise key_error(f"{name} is not a key in PEM or DER format{_what_it_is(data, identify)}.")
    found = classify_der(der)
    if found is None:
        raise key_error(f"{name} is not a key in PEM or DER format{_what_it_is(data, identify)}.")
    kind, alg = found
    return KeyInfo(kind, alg, is_private(kind), encoding, der,
                   _load(kind, der, name))


def _what_it_is(data: bytes, identify: Optional[Callable[[bytes], Optional[str]]]) -> str:
    """': it is a Particle firmware module (...)' when ``identify`` can name the file."""
    words = identify(data) if identify else None
    return f": it is {words}" if words else ""


def _load(kind: str, der: bytes, name: str):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        if kind in (PKCS1_PRIVATE, PKCS8_PRIVATE, SEC1_PRIVATE):
            key = serialization.load_der_private_key(der, password=None)
        else:
            key = serialization.load_der_public_key(der)
    except (ValueError, TypeError, Exception) as exc:   # cryptography raises several types here
        raise key_error(f"{name} could not be read as a {kind}: {exc}")
    if isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)) and \
            not isinstance(key.curve, ec.SECP256R1):
        raise key_error(f"{name} is an EC key on curve {key.curve.name}; Particle devices use prime256v1 (P-256).")
    return key


def parse_device_slot(data: bytes, alg: str) -> Optional[KeyInfo]:
    """The private key stored in a device-key slot, or None when the slot holds no valid key."""
    der = trim_der(data)
    if der is None:
        return None
    found = classify_der(der)
    if found is None or found[1] != alg or not is_private(found[0]):
        return None
    try:
        return KeyInfo(found[0], alg, True, "der", der, _load(found[0], der, "device key"))
    except ParticlePyError:
        return None


# --- producing --------------------------------------------------------------------------

def generate(alg: str):
    """A new device private key: RSA-1024 (e=65537) for 'rsa', P-256 for 'ec'."""
    if alg == "rsa":
        from cryptography.hazmat.primitives.asymmetric import rsa
        while True:
            key = rsa.generate_private_key(public_exponent=65537, key_size=DEVICE_RSA_BITS)
            # Keep to the sizes OpenSSL's genrsa keys have on devices in the field (607-611 bytes);
            # about one key in 500 has a short CRT integer and comes out smaller.
            if len(device_der(key)) in DEVICE_RSA_DER_SIZES:
                return key
    if alg == "ec":
        from cryptography.hazmat.primitives.asymmetric import ec
        return ec.generate_private_key(ec.SECP256R1())
    raise ValueError(f"unknown key algorithm {alg!r}")


def key_alg(key) -> str:
    from cryptography.hazmat.primitives.asymmetric import rsa
    return "rsa" if isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)) else "ec"


def device_der(private_key) -> bytes:
    """What the device stores: PKCS#1 RSAPrivateKey DER or SEC1 ECPrivateKey DER."""
    from cryptography.hazmat.primitives import serialization
    return private_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                                     serialization.NoEncryption())


def private_pem(private_key) -> bytes:
    """The .pem particle-cli's OpenSSL chain writes (traditional "RSA/EC PRIVATE KEY")."""
    from cryptography.hazmat.primitives import serialization
    return private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                     serialization.NoEncryption())


def public_pem(key) -> bytes:
    """SubjectPublicKeyInfo PEM ("BEGIN PUBLIC KEY"), what .pub.pem files and the cloud hold."""
    from cryptography.hazmat.primitives import serialization
    public = key.public_key() if hasattr(key, "private_bytes") else key
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def public_der(key) -> bytes:
    from cryptography.hazmat.primitives import serialization
    public = key.public_key() if hasattr(key, "private_bytes") else key
    return public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


# --- checks -----------------------------------------------------------------------------

# Particle's cloud server public keys as the package ships them (particle_py/data/keys), per protocol.
PARTICLE_SERVER_KEY_FILES = {"tcp": "rsa.pub.der", "udp": "ec.pub.der"}
_server_publics: dict = {}


def particle_server_key(info: KeyInfo) -> Optional[str]:
    """'tcp' or 'udp' when ``info`` is (the public half of) Particle's cloud server key for that
    protocol: a key users mistake for their device's (it is in the same folders and formats)."""
    from importlib import resources

    if not _server_publics:
        for protocol, file_name in PARTICLE_SERVER_KEY_FILES.items():
            raw = (resources.files("particle_py") / "data" / "keys" / file_name).read_bytes()
            _server_publics[protocol] = public_der(parse_key(raw, file_name).key)
    mine = public_der(info.public_key())
    return next((protocol for protocol, der in _server_publics.items() if der == mine), None)


def server_key_refusal(info: KeyInfo, name: str, nothing: str) -> Optional[ParticlePyError]:
    """The refusal of Particle's server key given as a device key, or None."""
    protocol = particle_server_key(info)
    if protocol is None:
        return None
    what = "RSA, the TCP protocol's" if protocol == "tcp" else "EC, the UDP protocol's"
    return key_error(f"{name} is Particle's cloud server public key ({what}), not a device key.",
                     f"{nothing} The device's own key is in the files `particle keys save` or `particle keys new` "
                     f"write (<name>.der, <name>.pub.pem); `particle keys doctor` makes a new one and sends it. "
                     f"The server key goes in its own place with `particle keys server`.")


def check_public_device_key(info: KeyInfo, name: str, alg: Optional[str] = None) -> None:
    """A key that can be a device's (RSA 1024 for TCP, EC P-256 for UDP; of ``alg`` when the
    device's protocol is known), or ParticlePyError before anything is sent."""
    refusal = server_key_refusal(info, name, "Nothing was sent.")
    if refusal is not None:
        raise refusal
    if alg is not None and info.alg != alg:
        want = "an RSA (1024-bit)" if alg == "rsa" else "an EC (P-256)"
        raise key_error(f"{name} is {'an RSA' if info.alg == 'rsa' else 'an EC'} key but this device's "
                        f"protocol uses {want} key.",
                        "Nothing was sent. Send the public key of the key the device holds "
                        "(`particle keys save` writes it), or run `particle keys doctor`.")
    if info.alg == "rsa" and info.public_key().key_size != DEVICE_RSA_BITS:
        raise key_error(f"{name} is a {info.public_key().key_size}-bit RSA key; devices use 1024-bit RSA keys "
                        f"(TCP) or EC P-256 keys (UDP).",
                        "Nothing was sent. Send the device's own public key (`particle keys save` writes it), "
                        "or run `particle keys doctor`.")

def check_device_key(info: KeyInfo, slot, name: str) -> bytes:
    """The bytes to write to a device-key slot, or ParticlePyError before the device is touched."""
    if not info.private:
        raise key_error(f"{name} is a public key; the device needs its private key.",
                        "Load the private key file (.der or .pem), not the .pub.pem.")
    if info.alg != slot.alg:
        want = "an RSA" if slot.alg == "rsa" else "an EC (P-256)"
        raise key_error(f"{name} is {'an RSA' if info.alg == 'rsa' else 'an EC'} key but this device's "
                        f"protocol needs {want} key.",
                        "Create a matching key with `particle keys new`, or pick the protocol with --protocol.")
    der = device_der(info.key)
    if info.alg == "rsa" and info.key.key_size != DEVICE_RSA_BITS:
        raise key_error(f"{name} is a {info.key.key_size}-bit RSA key; the device uses 1024-bit RSA keys.",
                        "Create a key with `particle keys new`.")
    if len(der) > slot.size:
        raise key_error(f"{name} needs {len(der)} bytes but the device key slot holds {slot.size}.",
                        "Create a key with `particle keys new`.")
    return der
