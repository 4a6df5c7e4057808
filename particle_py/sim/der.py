"""A minimal DER reader, stdlib only: the simulated device parses its keys the way
Device OS does (strict PKCS#1 for RSA, SEC1 for EC) without the client's crypto
library, so a client bug cannot hide behind a shared parser.
"""
from __future__ import annotations

from dataclasses import dataclass

OID_RSA = "1.2.840.113549.1.1.1"
OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
OID_P256 = "1.2.840.10045.3.1.7"


class DerError(ValueError):
    pass


@dataclass
class Tlv:
    tag: int
    value: bytes
    end: int          # offset just past this element in the buffer it came from


def read_tlv(buf: bytes, pos: int = 0) -> Tlv:
    if pos + 2 > len(buf):
        raise DerError("truncated DER header")
    tag = buf[pos]
    first = buf[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count == 0 or count > 3 or pos + count > len(buf):
            raise DerError("bad DER length")
        length = int.from_bytes(buf[pos:pos + count], "big")
        if length < 0x80 or (count > 1 and buf[pos] == 0):
            raise DerError("non-minimal DER length")
        pos += count
    if pos + length > len(buf):
        raise DerError("DER value runs past the end")
    return Tlv(tag, buf[pos:pos + length], pos + length)


def children(value: bytes) -> list[Tlv]:
    items, pos = [], 0
    while pos < len(value):
        item = read_tlv(value, pos)
        items.append(item)
        pos = item.end
    return items


def integer(tlv: Tlv) -> int:
    if tlv.tag != 0x02 or not tlv.value:
        raise DerError("expected INTEGER")
    return int.from_bytes(tlv.value, "big", signed=True)


def oid(tlv: Tlv) -> str:
    if tlv.tag != 0x06 or not tlv.value:
        raise DerError("expected OBJECT IDENTIFIER")
    first = tlv.value[0]
    parts = [first // 40 if first < 80 else 2, first % 40 if first < 80 else first - 80]
    acc = 0
    for byte in tlv.value[1:]:
        acc = (acc << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(acc)
            acc = 0
    return ".".join(map(str, parts))


def der_length(buf: bytes) -> int:
    """Bytes taken by the first DER element in ``buf`` (a key in a padded slot)."""
    return read_tlv(buf).end


def parse_pkcs1_private(buf: bytes) -> tuple[int, int]:
    """(n, e) of a PKCS#1 RSAPrivateKey; DerError for anything else (PKCS#8 included)."""
    top = read_tlv(buf)
    if top.tag != 0x30:
        raise DerError("not a SEQUENCE")
    fields = children(top.value)
    if len(fields) < 9 or any(f.tag != 0x02 for f in fields[:9]):
        raise DerError("not a PKCS#1 RSAPrivateKey")
    version, n, e = integer(fields[0]), integer(fields[1]), integer(fields[2])
    if version != 0 or n <= 0 or e <= 0:
        raise DerError("bad RSAPrivateKey fields")
    return n, e


def parse_sec1_private(buf: bytes) -> tuple[int, bytes | None]:
    """(private scalar, public point or None) of a SEC1 ECPrivateKey on P-256."""
    top = read_tlv(buf)
    if top.tag != 0x30:
        raise DerError("not a SEQUENCE")
    fields = children(top.value)
    if len(fields) < 2 or integer(fields[0]) != 1 or fields[1].tag != 0x04:
        raise DerError("not a SEC1 ECPrivateKey")
    scalar = int.from_bytes(fields[1].value, "big")
    point = None
    for extra in fields[2:]:
        if extra.tag == 0xA0 and (not extra.value or oid(read_tlv(extra.value)) != OID_P256):
            raise DerError("EC key is not on P-256")
        if extra.tag == 0xA1:
            bits = read_tlv(extra.value)
            if bits.tag != 0x03 or not bits.value:
                raise DerError("bad EC public key")
            point = bits.value[1:]
    return scalar, point


def parse_spki(buf: bytes) -> tuple[str, object]:
    """('rsa', (n, e)) or ('ec', point bytes) from a SubjectPublicKeyInfo."""
    top = read_tlv(buf)
    if top.tag != 0x30:
        raise DerError("not a SEQUENCE")
    parts = children(top.value)
    if len(parts) < 2 or parts[0].tag != 0x30:
        raise DerError("not a SubjectPublicKeyInfo")
    alg_seq, bits = parts[:2]
    algorithm = children(alg_seq.value)
    if not algorithm:
        raise DerError("no key algorithm")
    kind = oid(algorithm[0])
    if bits.tag != 0x03 or not bits.value:
        raise DerError("bad subjectPublicKey")
    key = bits.value[1:]
    if kind == OID_RSA:
        numbers = children(read_tlv(key).value)
        if len(numbers) < 2:
            raise DerError("bad RSA public key")
        return "rsa", (integer(numbers[0]), integer(numbers[1]))
    if kind == OID_EC_PUBLIC_KEY:
        return "ec", key
    raise DerError(f"unknown key algorithm {kind}")


def pem_to_der(text: str) -> bytes:
    import base64
    body = [line for line in text.strip().splitlines() if line and not line.startswith("-----")]
    return base64.b64decode("".join(body))


# --- P-256, only to derive a public point when a SEC1 key omits it --------------------
_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_A = _P - 3
_GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
_GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5


def _add(p, q):
    if p is None:
        return q
    if q is None:
        return p
    if p[0] == q[0] and (p[1] + q[1]) % _P == 0:
        return None
    if p == q:
        lam = (3 * p[0] * p[0] + _A) * pow(2 * p[1], -1, _P) % _P
    else:
        lam = (q[1] - p[1]) * pow(q[0] - p[0], -1, _P) % _P
    x = (lam * lam - p[0] - q[0]) % _P
    return x, (lam * (p[0] - x) - p[1]) % _P


def p256_public_point(scalar: int) -> bytes:
    result, addend = None, (_GX, _GY)
    while scalar:
        if scalar & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        scalar >>= 1
    if result is None:
        raise DerError("EC private scalar is zero")
    return b"\x04" + result[0].to_bytes(32, "big") + result[1].to_bytes(32, "big")
