"""Stand-ins for the files posters used (we have their names and sizes, not their bytes).

``file: NAME KIND ARGS...`` kinds:

- ``bytes N``                       N seeded random bytes (a raw image with no header)
- ``empty``                         a 0-byte file
- ``dfu-suffixed N VID:PID``        N random bytes plus a valid 16-byte DFU suffix
- ``module PLATFORM FUNCTION SIZE [index=I] [version=V] [start=A]``
                                    a Particle module (particle_py/sim/contents.py); FUNCTION is
                                    user-part, system-part, bootloader, radio-stack or mono
- ``rsa-private-der [BITS]``        an RSA key as PKCS#1 DER (what the DCT holds), default 1024
- ``rsa-public-pem [BITS]``         an RSA public key, SPKI PEM (e.g. a server key), default 2048
- ``ec-public-pem``                 an EC P-256 public key, SPKI PEM
- ``text WORDS...``                 a text file with that content

Key files are created with mode 0600 and generated in-process (cryptography).
"""
from __future__ import annotations

import os
import random
import struct
import zlib
from pathlib import Path

FUNCTIONS = {"bootloader": 2, "mono": 3, "system-part": 4, "user-part": 5, "radio-stack": 8}


class StandInError(ValueError):
    pass


def _seeded(name: str, size: int) -> bytes:
    rng = random.Random(f"forum-replay:{name}:{size}")
    return bytes(rng.getrandbits(8) for _ in range(size))


def dfu_suffix(data: bytes, vid: int, pid: int, bcd_device: int = 0xFFFF) -> bytes:
    """``data`` with a DFU 1.1 suffix; dwCRC as dfu-util computes it (CRC-32, no final xor)."""
    body = data + struct.pack("<HHHH", bcd_device, pid, vid, 0x0100) + b"UFD" + bytes([16])
    crc = zlib.crc32(body) ^ 0xFFFFFFFF
    return body + struct.pack("<I", crc)


def _module(name: str, args: list[str]) -> bytes:
    if len(args) < 3:
        raise StandInError(f"{name}: module PLATFORM FUNCTION SIZE [index=I] [version=V] [start=A]")
    platform, function, size = args[0], args[1], int(args[2], 0)
    if function not in FUNCTIONS:
        raise StandInError(f"{name}: unknown module function {function!r} ({', '.join(FUNCTIONS)})")
    options = {}
    for item in args[3:]:
        key, _, value = item.partition("=")
        if key not in ("index", "version", "start"):
            raise StandInError(f"{name}: unknown module option {item!r}")
        options[key] = int(value, 0)
    from particle_py.sim.contents import build_module
    deps = () if function != "user-part" else ((FUNCTIONS["system-part"], 1, 1),)
    return build_module(platform, function=FUNCTIONS[function], size=size, deps=deps,
                        seed=zlib.crc32(name.encode()), **options)


def _rsa_private_der(bits: int) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.TraditionalOpenSSL,
                             serialization.NoEncryption())


def _public_pem(kind: str, bits: int) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    if kind == "rsa":
        key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def build(name: str, spec: str) -> tuple[bytes, bool]:
    """(content, is_secret) for ``file: NAME SPEC``."""
    words = spec.split()
    if not words:
        raise StandInError(f"{name}: no kind given")
    kind, args = words[0], words[1:]
    try:
        if kind == "bytes":
            return _seeded(name, int(args[0], 0)), False
        if kind == "empty":
            return b"", False
        if kind == "dfu-suffixed":
            vid, _, pid = args[1].partition(":")
            return dfu_suffix(_seeded(name, int(args[0], 0)), int(vid, 16), int(pid, 16)), False
        if kind == "module":
            return _module(name, args), False
        if kind == "rsa-private-der":
            return _rsa_private_der(int(args[0]) if args else 1024), True
        if kind == "rsa-public-pem":
            return _public_pem("rsa", int(args[0]) if args else 2048), False
        if kind == "ec-public-pem":
            return _public_pem("ec", 256), False
        if kind == "text":
            return (" ".join(args) + "\n").encode(), False
    except (IndexError, ValueError) as exc:
        raise StandInError(f"{name}: bad arguments for {kind!r}: {exc}") from None
    raise StandInError(f"{name}: unknown stand-in kind {kind!r}")


def create(directory: Path, name: str, spec: str) -> Path:
    data, secret = build(name, spec)
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if secret:
        os.chmod(path, 0o600)
    return path
