"""What a simulated device does when it boots: from what it holds, not from flags.

The checks follow Device OS's order: a valid Device OS (system modules present,
CRC good, dependencies met) or the bootloader stays in DFU mode; a valid user
application or safe mode; then the cloud handshake: a parseable device key, a
server key and address matching the cloud, and the cloud knowing the device's
public key (it locks to the first key it sees). Each outcome carries the LED
pattern in users' words and the reason.

Stdlib only (runs under the system Python beside umockdev).
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Callable, Optional, Protocol

from particle_py.platforms import ELECTRON_TRANSPORT_SLOT, Platform
from particle_py.sim import der

# LED patterns in users' words (docs.particle.io "status LED"); outcome -> (led, meaning)
LED = {
    "dfu": ("blinking yellow", "DFU mode"),
    "listening": ("blinking blue", "listening mode"),
    "no_cloud": ("blinking cyan", "connecting to the cloud (no cloud answers)"),
    "decryption_error": ("blinking cyan with 1 orange burst",
                         "decryption error: the cloud rejects the device's key"),
    "bad_server_key": ("blinking cyan with 3 orange bursts",
                       "reached the internet but not the cloud: bad server key or address"),
    "bad_device_key": ("blinking cyan with 1 red burst",
                       "handshake error: the device key cannot be used"),
    "connected": ("breathing cyan", "connected to the cloud"),
    "connected_safe": ("breathing magenta", "safe mode, connected to the cloud"),
}

SYSTEM_PART, USER_PART = 4, 5
MAX_MODULE = 2 * 1024 * 1024


@dataclass(frozen=True)
class BootOutcome:
    state: str             # a key of LED
    mode: str              # 'dfu', 'normal', 'safe', 'listening'
    reason: str

    @property
    def led(self) -> str:
        return LED[self.state][0]

    @property
    def meaning(self) -> str:
        return LED[self.state][1]

    @property
    def connected(self) -> bool:
        return self.state in ("connected", "connected_safe")

    def describe(self) -> str:
        return f"{self.led}: {self.meaning} ({self.reason})"


class CloudView(Protocol):
    """What the device's handshake needs to know about the simulated cloud."""

    def server_public_key_der(self, alg: str) -> Optional[bytes]: ...
    def accepts_address(self, protocol: str, host: str, port: int) -> bool: ...
    def device_public_key(self, device_id: str) -> Optional[bytes]: ...      # SPKI DER
    def lock_device_key(self, device_id: str, spki_der: bytes) -> None: ...


Reader = Callable[[int, int, int], bytes]      # (alt, address, length) -> bytes


@dataclass
class Module:
    address: int
    function: int
    index: int
    version: int
    platform_id: int
    deps: tuple[tuple[int, int, int], ...]


def read_module(read: Reader, platform: Platform, address: int) -> tuple[Optional[Module], str]:
    """The module stored at ``address`` if it is intact, else (None, why not)."""
    offset = platform.module_info_offset
    head = read(0, address + offset, 24)
    if offset and struct.unpack_from("<I", read(0, address, 4))[0] == address:
        head = read(0, address, 24)        # user modules carry their prefix at offset 0 (Tinker does)
    if head == b"\xff" * 24:
        return None, "empty (erased flash)"
    start, end, _mcu, _flags, version, pid, function, index, f1, i1, v1, f2, i2, v2 = struct.unpack(
        "<IIBBHHBBBBHBBH", head)
    if start != address or not start < end < start + MAX_MODULE:
        return None, "no valid module header"
    size = end - start + 4
    body = read(0, address, size)
    if len(body) < size or zlib.crc32(body[:-4]) & 0xFFFFFFFF != struct.unpack(">I", body[-4:])[0]:
        return None, "CRC check failed (incomplete or corrupt write)"
    if pid != platform.platform_id:
        return None, f"built for platform {pid}, not {platform.display_name} ({platform.platform_id})"
    deps = tuple(d for d in ((f1, i1, v1), (f2, i2, v2)) if d[0])
    return Module(address, function, index, version, pid, deps), "ok"


def _unmet(module: Module, present: list[Module]) -> Optional[str]:
    for function, index, version in module.deps:
        if not any(m.function == function and m.index == index and m.version >= version for m in present):
            kind = {SYSTEM_PART: "system part", USER_PART: "user part"}.get(function, f"module {function}")
            return f"needs {kind} {index} version >= {version}"
    return None


def check_firmware(read: Reader, platform: Platform) -> tuple[str, str]:
    """('normal' | 'safe' | 'dfu', reason)."""
    system: list[Module] = []
    for number, address in enumerate(platform.system_parts, 1):
        module, why = read_module(read, platform, address)
        if module is None or module.function != SYSTEM_PART:
            return "dfu", f"Device OS system part {number} at 0x{address:08x}: {why if module is None else 'not a system part'}"
        system.append(module)
    for module in system:
        unmet = _unmet(module, system)
        if unmet:
            return "dfu", f"Device OS system part {module.index} {unmet}"
    if platform.user_part is None or not platform.system_parts:
        return "normal", "firmware not modelled for this platform beyond its keys"
    user, why = read_module(read, platform, platform.user_part.address)
    if user is None:
        return "safe", f"no valid user application at 0x{platform.user_part.address:08x}: {why}"
    unmet = _unmet(user, system)
    if unmet:
        return "safe", f"the user application {unmet}"
    return "normal", "Device OS and user application valid"


def cloud_protocol(read: Reader, platform: Platform) -> str:
    if len(platform.protocols) > 1:          # Electron: the DCT transport byte chooses
        value = read(ELECTRON_TRANSPORT_SLOT.alt, ELECTRON_TRANSPORT_SLOT.address, 1)
        if value == b"\x00" and "tcp" in platform.protocols:
            return "tcp"
    return platform.default_protocol


def _device_public_key(slot_bytes: bytes, alg: str, slot_size: int) -> tuple[Optional[object], str]:
    if slot_bytes == b"\xff" * len(slot_bytes):
        return None, "the device key slot is empty"
    try:
        length = der.der_length(slot_bytes)
        if length > slot_size:
            return None, f"the device key is {length} bytes, more than the {slot_size}-byte slot"
        if alg == "rsa":
            return ("rsa", der.parse_pkcs1_private(slot_bytes)), "ok"
        scalar, point = der.parse_sec1_private(slot_bytes)
        return ("ec", point or der.p256_public_point(scalar)), "ok"
    except der.DerError as exc:
        expected = "PKCS#1 RSAPrivateKey" if alg == "rsa" else "SEC1 ECPrivateKey"
        return None, f"the device key is not a {expected} DER ({exc})"


def _server_address(blob: bytes, slot, protocol: str, device_id: str) -> tuple[str, int]:
    off, port_off = slot.address_offset, slot.port_offset
    kind, length = blob[off], blob[off + 1]
    host = "device.spark.io" if protocol == "tcp" else "$id.udp.particle.io"
    if length not in (0, 0xFF):
        data = blob[off + 2:off + 2 + length]
        if kind == 0:
            host = ".".join(str(b) for b in data)
        elif kind == 1:
            host = data.decode("utf-8", "replace")
    port = (blob[port_off] << 8) | blob[port_off + 1]
    if port == 0xFFFF:
        port = 5683 if protocol == "tcp" else 5684
    return host.replace("$id", device_id), port


def boot(platform: Platform, read: Reader, device_id: str, cloud: Optional[CloudView]) -> BootOutcome:
    mode, reason = check_firmware(read, platform)
    if mode == "dfu":
        return BootOutcome("dfu", "dfu", reason)
    firmware_note = reason
    protocol = cloud_protocol(read, platform)
    key_slot = platform.device_key[protocol]
    public, why = _device_public_key(read(key_slot.alt, key_slot.address, key_slot.size), key_slot.alg,
                                     key_slot.size)
    if public is None:
        state = "decryption_error" if why == "the device key slot is empty" else "bad_device_key"
        if state == "decryption_error":
            why += "; Device OS makes a new key, which the cloud does not know"
        return BootOutcome(state, mode, why)
    if cloud is None:
        return BootOutcome("no_cloud", mode, "no simulated cloud is running (start one: particle-sim cloud)")
    server_slot = platform.server_key[protocol]
    blob = read(server_slot.alt, server_slot.address, server_slot.size)
    expected = cloud.server_public_key_der(server_slot.alg)
    try:
        held = blob[:der.der_length(blob)]
    except der.DerError:
        held = b""
    if expected is None or held != expected:
        return BootOutcome("bad_server_key", mode, f"the server key at DCT {server_slot.address} is not the cloud's "
                           f"{'RSA' if server_slot.alg == 'rsa' else 'EC'} server key")
    host, port = _server_address(blob, server_slot, protocol, device_id)
    if not cloud.accepts_address(protocol, host, port):
        return BootOutcome("bad_server_key", mode, f"the server address {protocol}://{host}:{port} is not the cloud's")
    known = cloud.device_public_key(device_id)
    # The handshake itself: the cloud locks a first key and records whether the device got online
    # (claiming needs an online device), whatever the outcome.
    cloud.lock_device_key(device_id, _spki_for(public))
    if known is not None and _public_of_spki(known) != public:
        return BootOutcome("decryption_error", mode, "the cloud holds another public key for this device "
                           "(send the new one: particle keys send / keys doctor)")
    state = "connected" if mode == "normal" else "connected_safe"
    return BootOutcome(state, mode, firmware_note)


def _public_of_spki(spki: bytes):
    try:
        return der.parse_spki(spki)
    except (der.DerError, ValueError):
        return None


def _spki_for(public) -> bytes:
    """Encode a public key as SubjectPublicKeyInfo DER (what the cloud stores)."""
    kind, value = public
    if kind == "rsa":
        n, e = value
        key = _seq(_int(n) + _int(e))
        alg = _seq(_tlv(0x06, _RSA_OID) + b"\x05\x00")
    else:
        key = value
        alg = _seq(_tlv(0x06, _EC_OID) + _tlv(0x06, _P256_OID))
    return _seq(alg + _tlv(0x03, b"\x00" + key))


_RSA_OID = bytes.fromhex("2a864886f70d010101")
_EC_OID = bytes.fromhex("2a8648ce3d0201")
_P256_OID = bytes.fromhex("2a8648ce3d030107")


def _tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    if n < 0x80:
        return bytes([tag, n]) + value
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + value


def _seq(value: bytes) -> bytes:
    return _tlv(0x30, value)


def _int(value: int) -> bytes:
    raw = value.to_bytes(value.bit_length() // 8 + 1, "big")
    return _tlv(0x02, raw)


class SimCloudView:
    """The simulated cloud (sim/cloud.py's SQLite state) as the device's handshake sees it.

    The simulated cloud answers at Particle's own default addresses (the DCT's erased
    address TLV), at loopback, and at any host named by its ``device_host`` knob.
    """

    DEFAULT_HOSTS = {"tcp": ("device.spark.io",), "udp": ("udp.particle.io",)}
    DEFAULT_PORTS = {"tcp": 5683, "udp": 5684}

    def __init__(self, db):
        self.db = db

    def server_public_key_der(self, alg: str) -> Optional[bytes]:
        path = self.db.server_keys_dir() / f"server_{alg}.pub.der"
        return path.read_bytes() if path.exists() else None

    def accepts_address(self, protocol: str, host: str, port: int) -> bool:
        hosts = set(self.DEFAULT_HOSTS[protocol]) | {"127.0.0.1", "localhost"}
        extra = self.db.knob("device_host")
        if extra:
            hosts.add(extra)
        if protocol == "udp" and host.endswith(".udp.particle.io"):
            host = "udp.particle.io"
        return host in hosts and port == self.DEFAULT_PORTS[protocol]

    def device_public_key(self, device_id: str) -> Optional[bytes]:
        import base64
        device = self.db.device(device_id)
        if not device or not device.get("public_key"):
            return None
        return base64.b64decode(device["public_key"])

    def lock_device_key(self, device_id: str, spki_der: bytes) -> None:
        self.db.handshake(device_id, spki_der)


def open_cloud_view(state_dir) -> Optional[SimCloudView]:
    """The simulated cloud kept in ``<state_dir>/cloud``, if one was ever started there."""
    from pathlib import Path
    db_path = Path(state_dir) / "cloud" / "cloud.sqlite"
    if not db_path.exists():
        return None
    from particle_py.sim.cloud import CloudDb
    return SimCloudView(CloudDb(db_path))
