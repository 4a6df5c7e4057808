"""The server-key blob in the DCT: SPKI DER, 0xFF padding, host TLV and port.

Layout (particle-cli `_formatPublicKey` / `readServerAddress`, Device OS ServerAddress):
the key's DER at offset 0, 0xFF up to the slot size; at ``address_offset`` a TLV
``type len data`` (type 0 = IPv4, 4 octets in dotted order; type 1 = domain name,
ASCII, no NUL); at ``port_offset`` the port as u16 big-endian, 0xFFFF = default.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Optional

from particle_py.errors import ParticlePyError

DEFAULT_HOSTS = {"tcp": "device.spark.io", "udp": "udp.particle.io"}
DEFAULT_PORTS = {"tcp": 5683, "udp": 5684}
ADDRESS_FIELD_SIZE = 66         # type + len + 64-byte domain union; the port follows it
_IP_RE = re.compile(r"^[0-9.]*$")      # particle-cli's test for "this host is an IP"


@dataclass(frozen=True)
class ServerAddress:
    protocol: str
    host: str
    port: int

    def url(self) -> str:
        # Node's url.format({protocol, hostname, port, slashes: true}); an IPv6-free world.
        return f"{self.protocol}://{self.host}:{self.port}"


def address_tlv(host: str) -> bytes:
    """The TLV particle-cli writes for --host (IPv4 when it is digits and dots)."""
    if _IP_RE.match(host):
        parts = host.split(".")
        if len(parts) != 4 or not all(p.isdigit() and int(p) <= 255 for p in parts):
            raise ParticlePyError(f"{host} is not a valid IPv4 address.",
                                  "Give --host as four numbers 0-255 separated by dots, or a host name.")
        return bytes([0, 4] + [int(p) for p in parts])
    try:
        raw = host.encode("ascii")
    except UnicodeEncodeError:
        raise ParticlePyError(f"The host name {host!r} is not plain ASCII.",
                              "Use the punycode (xn--...) form of the name.")
    if not raw or len(raw) > ADDRESS_FIELD_SIZE - 2 or any(c <= 0x20 or c == 0x7F for c in raw):
        raise ParticlePyError(f"The host name {host!r} does not fit the server address field "
                              f"(1-{ADDRESS_FIELD_SIZE - 2} printable characters).",
                              "Use a shorter host name or the server's IP address.")
    return bytes([1, len(raw)]) + raw


def build(key_bytes: bytes, slot, host: Optional[str] = None, port: Optional[int] = None) -> bytes:
    """The slot image: key bytes (a DER key or an already formatted blob), padding, TLV, port."""
    if len(key_bytes) > slot.size:
        tail = key_bytes[slot.size:]
        if tail.count(0xFF) != len(tail):
            raise ParticlePyError(f"The server key is {len(key_bytes)} bytes; the device's server key slot "
                                  f"holds {slot.size}.", "Use the server's public key in DER or PEM format.")
        key_bytes = key_bytes[:slot.size]      # e.g. the Core's 2048-byte padded file on a 512-byte slot
    address_offset = slot.address_offset if slot.address_offset is not None else 384
    port_offset = slot.port_offset if slot.port_offset is not None else 450
    from particle_py.keys.formats import der_length
    key_length = der_length(key_bytes) or len(key_bytes)
    if key_length > address_offset:
        raise ParticlePyError(f"The server key is {key_length} bytes; it must end before the server address "
                              f"at offset {address_offset} of the slot.",
                              "Use an RSA-2048 (tcp) or P-256 (udp) server public key.")
    blob = bytearray(key_bytes) + b"\xff" * (slot.size - len(key_bytes))
    if host is not None:
        tlv = address_tlv(host)
        blob[address_offset:address_offset + len(tlv)] = tlv
    if port is not None:
        if not 0 < port < 0xFFFF:
            raise ParticlePyError(f"Port {port} is out of range.", "Give --port a number from 1 to 65534.")
        blob[port_offset:port_offset + 2] = port.to_bytes(2, "big")
    return bytes(blob)


def parse_address(blob: bytes, slot, protocol: str) -> ServerAddress:
    """Decode the host and port exactly as particle-cli's `keys address` does."""
    offset = slot.address_offset if slot.address_offset is not None else 384
    port_offset = slot.port_offset if slot.port_offset is not None else 450
    host = DEFAULT_HOSTS.get(protocol, DEFAULT_HOSTS["tcp"])
    port = DEFAULT_PORTS.get(protocol, DEFAULT_PORTS["tcp"])
    if len(blob) >= port_offset + 2:
        raw_port = int.from_bytes(blob[port_offset:port_offset + 2], "big")
        if raw_port != 0xFFFF:
            port = raw_port
    if len(blob) >= offset + 2:
        kind, length = blob[offset], blob[offset + 1]
        data = bytes(blob[offset + 2:offset + 2 + length])
        if length > 0:
            if kind == 0:
                host = ".".join(str(b) for b in data)
            elif kind == 1:
                host = data.decode("utf-8", errors="replace")
    return ServerAddress(protocol, host, port)


# Particle's own server keys: SHA-256 of the SubjectPublicKeyInfo DER that starts particle-cli's
# assets/keys/rsa.pub.der and ec.pub.der (the files ops.keys.DEFAULT_SERVER_KEYS pins whole). A
# digest lets `keys doctor` recognise the key offline; tests check it against the npm package.
OFFICIAL_KEY_SHA256 = {
    "tcp": "aa8aba3c973ed4b668999047a09597948f36eefde525352e705fe8ef98c1677e",
    "udp": "a22c78edbbefc04dec7333da227fc6f6904754d17d042099c765a02864555183",
}
# Hosts Particle's cloud answers at ($id = the device id; the udp-mesh name is the Gen3 key file
# particle-cli 1.38-2.16 wrote).
OFFICIAL_HOSTS = {"tcp": ("device.spark.io",), "udp": ("$id.udp.particle.io", "$id.udp-mesh.particle.io")}


def is_official_key(blob: bytes, protocol: str) -> bool:
    import hashlib

    from particle_py.keys.formats import der_length
    length = der_length(blob)
    return bool(length) and hashlib.sha256(bytes(blob[:length])).hexdigest() == OFFICIAL_KEY_SHA256.get(protocol)


def connect_problem(blob: bytes, slot, protocol: str, particle_cloud: bool) -> Optional[str]:
    """Why the server key slot would keep the device from reaching the cloud (the 3-orange-burst
    state), or None. ``particle_cloud``: the user talks to Particle's cloud, so only Particle's
    key and addresses will do; for another cloud only a key that cannot work is certain."""
    from particle_py.keys.formats import der_length
    where = f"DCT {slot.address}"
    if bytes(blob[:4]) == b"\xff" * 4:
        return f"the device has no server key ({where} is empty)"
    length = der_length(blob)
    if not length or length > (slot.address_offset if slot.address_offset is not None else 384):
        return f"the server key at {where} is not a valid public key"
    if not particle_cloud:
        return None
    if not is_official_key(blob, protocol):
        return f"the server key at {where} is not Particle's {protocol} server key"
    found = parse_address(blob, slot, protocol)
    official = {h for h in OFFICIAL_HOSTS[protocol]} | {DEFAULT_HOSTS[protocol]}
    if found.host not in official or found.port != DEFAULT_PORTS[protocol]:
        return f"the server address at {where} is {found.url()}, not Particle's"
    return None
