"""`particle keys verify`: the device's own cloud handshake, run from the computer before a reset.

What the device holds (its private key, the server key and address in its DCT, read over DFU) or
what the user gives (--key, --server-key, --host) goes into the handshake of the device's
protocol (the platform table and the Electron's transport byte choose it); the answer comes back
as the device will show it: the words, the LED after the reset, and the command that fixes it.

Where the host points: the address in the DCT, unless ``PARTICLE_PY_CLOUD_HOSTS`` says where
Particle's names point (docs/handshake.md). Given as ``@<folder>``, it names a simulated cloud's
folder, whose handshake.json lists its ports and the key pairs that stand in for Particle's
official server keys; only then is the stand-in used where the device holds the official key.

The private key stays in this process: it is handed to the protocol client and never put in a
Prediction, an event or an error.
"""
from __future__ import annotations

import hashlib
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from particle_py.errors import EX_DATAERR, ParticlePyError
from particle_py.events import QUIET, Reporter
from particle_py.handshake import Outcome, Verdict

CLOUD_HOSTS_ENV = "PARTICLE_PY_CLOUD_HOSTS"
DEFAULT_PORTS = {"tcp": 5683, "udp": 5684}
PROTOCOL_ALG = {"tcp": "rsa", "udp": "ec"}
EX_UNAVAILABLE = 69

# The LED words are the simulated device's (sim/boot.py LED), which are docs.particle.io's.
LED_CONNECTED = "breathing cyan"
LED_DECRYPTION = "blinking cyan with 1 orange burst"
LED_SERVER_KEY = "blinking cyan with 3 orange bursts"
LED_DEVICE_KEY = "blinking cyan with 1 red burst"
LED_NO_CLOUD = "blinking cyan"

# local outcomes: what the device meets before any packet leaves it
DEVICE_KEY_EMPTY = "device-key-empty"
DEVICE_KEY_UNUSABLE = "device-key-unusable"
SERVER_KEY_UNUSABLE = "server-key-unusable"


@dataclass(frozen=True)
class Answer:
    led: str
    words: str
    fix: Optional[str]          # the command that fixes it; {id} is the device id
    exit_code: int


# outcome -> what the user is told (the handshake's answers first, then the local ones)
ANSWERS = {
    Outcome.ACCEPTED.value: Answer(LED_CONNECTED, "keys accepted: the cloud holds this device's public key and "
                                   "proved the server key the device holds", None, 0),
    Outcome.DEVICE_KEY_REJECTED.value: Answer(
        LED_DECRYPTION, "the cloud holds another public key for this device",
        "particle keys doctor {id}   (or send the device's public key: particle keys send {id} <key.pub.pem>)", 1),
    Outcome.SERVER_KEY_MISMATCH.value: Answer(
        LED_SERVER_KEY, "wrong server key or address: the server did not prove the key the device holds",
        "particle keys server   (puts Particle's server key and address back), then reset the device", 1),
    Outcome.UNREACHABLE.value: Answer(
        LED_NO_CLOUD, "the cloud cannot be reached from this computer",
        "Check the network; a firewall that blocks {protocol} port {port} blocks the device on the same "
        "network too", EX_UNAVAILABLE),
    Outcome.PROTOCOL_ERROR.value: Answer(
        LED_DEVICE_KEY, "the server answered something the device rejects (a handshake error)",
        "Check that the server address is a Particle cloud (particle keys address)", 76),
    DEVICE_KEY_EMPTY: Answer(LED_DECRYPTION, "the device has no key: Device OS makes a new one at boot, which the "
                             "cloud does not know", "particle keys doctor {id}", 1),
    DEVICE_KEY_UNUSABLE: Answer(LED_DEVICE_KEY, "the device key cannot be used", "particle keys doctor {id}", 1),
    SERVER_KEY_UNUSABLE: Answer(LED_SERVER_KEY, "wrong server key: no cloud answers with the server key the "
                                "device holds",
                                "particle keys server   (puts Particle's server key back), then reset the device", 1),
}


@dataclass(frozen=True)
class Prediction:
    """What the handshake (or the keys alone) says the device will do after the reset."""
    outcome: str                 # an Outcome value or one of the local outcomes above
    device_id: str
    protocol: str
    host: str                    # the server address the device uses
    port: int
    detail: str = ""             # what was seen, in words (never key material)
    reached: str = ""            # where the handshake went when another setting pointed it there
    handshake_ran: bool = False

    @property
    def answer(self) -> Answer:
        return ANSWERS[self.outcome]

    @property
    def accepted(self) -> bool:
        return self.outcome == Outcome.ACCEPTED.value

    @property
    def led(self) -> str:
        return self.answer.led

    @property
    def words(self) -> str:
        return self.answer.words + (f" ({self.detail})" if self.detail else "")

    @property
    def fix(self) -> Optional[str]:
        fix = self.answer.fix
        return fix.format(id=self.device_id, protocol=self.protocol.upper(), port=self.port) if fix else None

    def target(self) -> str:
        where = f"{self.protocol}://{self.host}:{self.port}"
        return where + (f" (reached at {self.reached}, {CLOUD_HOSTS_ENV})" if self.reached else "")

    def as_json(self) -> dict:
        return {"outcome": self.outcome, "device_id": self.device_id, "protocol": self.protocol,
                "host": self.host, "port": self.port, "led": self.led, "words": self.words, "fix": self.fix,
                "handshake_ran": self.handshake_ran}


# --- where the host points --------------------------------------------------------------------

@dataclass(frozen=True)
class CloudHosts:
    """``PARTICLE_PY_CLOUD_HOSTS``: per protocol, "host:port" -> "address:port" ("$id" = device id)."""
    hosts: dict
    stand_in: dict               # alg -> (official SPKI SHA-256, the stand-in SPKI DER); folder form only
    subdomains: bool             # the plain form: a name also covers its subdomains

    def lookup(self, protocol: str, host: str, port: int, device_id: str) -> Optional[tuple[str, int]]:
        table = self.hosts.get(protocol, {})
        host = host.lower()
        for name, target in table.items():
            want_host, _, want_port = name.rpartition(":")
            want_host = want_host.replace("$id", device_id.lower())
            if int(want_port) != port:
                continue
            if host == want_host or (self.subdomains and host.endswith("." + want_host)):
                address, _, target_port = target.rpartition(":")
                return address, int(target_port)
        return None


def cloud_hosts(environ=None) -> Optional[CloudHosts]:
    value = (environ if environ is not None else os.environ).get(CLOUD_HOSTS_ENV, "").strip()
    if not value:
        return None
    if value.startswith("@"):
        return _hosts_of_folder(Path(value[1:]))
    table: dict = {"tcp": {}, "udp": {}}
    for item in (part.strip() for part in value.split(",") if part.strip()):
        name, sep, target = item.partition("=")
        address, _, target_port = target.rpartition(":")
        if not sep or not address or not target_port.isdigit():
            raise ParticlePyError(f"{CLOUD_HOSTS_ENV}: {item!r} is not NAME[:PORT]=ADDRESS:PORT",
                                  f"Example: {CLOUD_HOSTS_ENV}=device.spark.io=127.0.0.1:5683,"
                                  f"udp.particle.io=127.0.0.1:5684", 2)
        host, colon, port = name.rpartition(":") if name.count(":") == 1 else (name, "", "")
        for protocol in ("tcp", "udp"):
            key = f"{host.lower()}:{port if colon else DEFAULT_PORTS[protocol]}"
            table[protocol][key] = f"{address}:{target_port}"
    return CloudHosts(table, {}, True)


def _hosts_of_folder(folder: Path) -> CloudHosts:
    from particle_py.keys import formats
    path = folder / "handshake.json"
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        hosts = {p: dict(t) for p, t in record["hosts"].items()}
        stand_in = {}
        for alg, entry in record.get("stands_in_for_official", {}).items():
            spki = (folder / Path(entry["public_key"]).name).read_bytes()
            if hashlib.sha256(spki).hexdigest() != entry["sha256"]:
                raise ValueError(f"{entry['public_key']} changed since the cloud started")
            info = formats.parse_key(spki, entry["public_key"])
            stand_in[alg] = (entry["official_sha256"], formats.public_der(info.key))
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ParticlePyError) as exc:
        raise ParticlePyError(f"{CLOUD_HOSTS_ENV}=@{folder}: no running simulated cloud there "
                              f"({getattr(exc, 'strerror', None) or exc})",
                              "Start one (particle-sim cloud) and use the folder it prints, or unset "
                              f"{CLOUD_HOSTS_ENV} to use the address in the device's DCT.", EX_UNAVAILABLE) from None
    return CloudHosts(hosts, stand_in, False)


# --- what the device holds ----------------------------------------------------------------------

@dataclass
class Held:
    """The keys and address as the device will use them (the private key stays here, in memory)."""
    device_id: str
    protocol: str
    device_key: object = None       # a cryptography private key
    server_spki: bytes = b""
    host: str = ""
    port: int = 0
    local: Optional[tuple[str, str]] = None      # (outcome, detail) known without a handshake


def _device_key_from_slot(raw: bytes, slot) -> tuple[object, Optional[tuple[str, str]]]:
    """The key as Device OS reads it: PKCS#1 (RSA) or SEC1 (EC) DER within the slot."""
    from particle_py.keys import formats
    where = f"the device key in the DCT at {slot.address}"
    if raw == b"\xff" * len(raw):
        return None, (DEVICE_KEY_EMPTY, f"{where} is empty")
    want = "a PKCS#1 RSAPrivateKey" if slot.alg == "rsa" else "a SEC1 ECPrivateKey"
    length = formats.der_length(raw)
    declared = _declared_length(raw)
    if length is None and declared is not None and declared > slot.size:
        return None, (DEVICE_KEY_UNUSABLE, f"{where} is {declared} bytes, more than its {slot.size}-byte slot "
                                           f"(a PKCS#8 key?); Device OS needs {want} DER")
    if length is None:
        return None, (DEVICE_KEY_UNUSABLE, f"{where} does not parse as DER; Device OS needs {want} DER")
    if length > slot.size:
        return None, (DEVICE_KEY_UNUSABLE, f"{where} is {length} bytes, more than its {slot.size}-byte slot "
                                           f"(a PKCS#8 key?); Device OS needs {want} DER")
    found = formats.classify_der(raw[:length])
    wanted_kind = formats.PKCS1_PRIVATE if slot.alg == "rsa" else formats.SEC1_PRIVATE
    if found is None or found[0] != wanted_kind:
        what = found[0] if found else "not a key"
        return None, (DEVICE_KEY_UNUSABLE, f"{where} is {what}; Device OS needs {want} DER")
    info = formats.parse_device_slot(raw, slot.alg)
    if info is None:
        return None, (DEVICE_KEY_UNUSABLE, f"{where} is shaped like {want} but does not form a valid key")
    return info.key, None


def _declared_length(raw: bytes) -> Optional[int]:
    """The length a DER SEQUENCE's header claims, header included (the slot may cut the rest off)."""
    if len(raw) < 2 or raw[0] != 0x30:
        return None
    if raw[1] < 0x80:
        return 2 + raw[1]
    count = raw[1] & 0x7F
    if not 0 < count <= 3 or len(raw) < 2 + count:
        return None
    return 2 + count + int.from_bytes(raw[2:2 + count], "big")


def _server_from_blob(blob: bytes, slot, protocol: str, device_id: str) -> tuple[bytes, str, int, Optional[str]]:
    """(SPKI DER, host, port, why unusable) as Device OS reads the server-key slot."""
    from particle_py.keys import formats, server_blob
    length = formats.der_length(blob)
    limit = slot.address_offset if slot.address_offset is not None else 384
    if bytes(blob[:4]) == b"\xff" * 4:
        why = f"the server key slot (DCT {slot.address}) is empty"
    elif not length or length > limit or formats.classify_der(blob[:length]) is None:
        why = f"the server key at DCT {slot.address} is not a public key"
    else:
        why = None
    address = server_blob.parse_address(blob, slot, protocol)
    host = address.host
    offset = slot.address_offset if slot.address_offset is not None else 384
    if protocol == "udp" and blob[offset + 1] in (0, 0xFF):
        host = "$id.udp.particle.io"            # Device OS's default for DTLS, with the device id
    return (bytes(blob[:length]) if length else b""), host.replace("$id", device_id), address.port, why


def _key_from_file(path: str, protocol: Optional[str]):
    from particle_py.firmware.classify import KEY_FILE_MAX, parse_key_file, read_input_file
    info = parse_key_file(read_input_file(path, KEY_FILE_MAX, "key file"), path)
    if not info.private:
        raise ParticlePyError(f"{path} is a public key; the handshake needs the device's private key.",
                              "Give the private key file (.der or .pem) with --key, not the .pub.pem.", EX_DATAERR)
    if protocol and info.alg != PROTOCOL_ALG[protocol]:
        raise _wrong_type(path, info.alg, protocol, "device")
    return info


def _wrong_type(path: str, alg: str, protocol: str, what: str) -> ParticlePyError:
    want = "an RSA" if protocol == "tcp" else "an EC (P-256)"
    have = "an RSA" if alg == "rsa" else "an EC"
    return ParticlePyError(f"{path} is {have} key but the {protocol.upper()} handshake needs {want} {what} key.",
                           f"Give the {what} key of the device's protocol, or choose it with --protocol "
                           f"{'udp' if protocol == 'tcp' else 'tcp'}.", EX_DATAERR)


def _server_key_file(path: str, protocol: str) -> tuple[bytes, Optional[tuple[str, int]]]:
    """The server key of --server-key (a key file, or a formatted DCT blob with its address)."""
    from particle_py.firmware.classify import KEY_FILE_MAX, parse_key_file, read_input_file
    from particle_py.keys import formats, server_blob
    raw = read_input_file(path, max(KEY_FILE_MAX, 4096), "server key file")
    info = parse_key_file(raw, path)
    if info.alg != PROTOCOL_ALG[protocol]:
        raise _wrong_type(path, info.alg, protocol, "server")
    address = None
    if info.encoding == "der" and raw[len(info.der):len(info.der) + 4] == b"\xff" * 4:
        # where the address sits in a blob of this protocol: the platform table's server-key slots
        from particle_py.platforms import by_name, names
        slot = next(p.server_key[protocol] for p in map(by_name, names()) if protocol in p.server_key)
        if len(raw) >= slot.port_offset + 2 and raw[slot.address_offset + 1] not in (0, 0xFF):
            found = server_blob.parse_address(raw, slot, protocol)
            address = (found.host, found.port)
    return formats.public_der(info.public_key()), address


def read_held(device_id: Optional[str], *, key_file: Optional[str] = None, server_key_file: Optional[str] = None,
              protocol: Optional[str] = None, reporter: Reporter = QUIET) -> Held:
    """The keys and address: from the files given, the rest read from the device over DFU."""
    from particle_py.ops import keys as key_ops
    if protocol is not None:
        protocol = protocol.lower()
        if protocol not in DEFAULT_PORTS:
            raise ParticlePyError(f"Unknown protocol {protocol}.", "Use --protocol tcp or --protocol udp.", 2)
    key_info = _key_from_file(key_file, protocol) if key_file else None
    if key_info is not None and protocol is None and device_id and server_key_file:
        protocol = "tcp" if key_info.alg == "rsa" else "udp"
    offline = bool(key_file and server_key_file and key_ops.is_full_id(device_id) and protocol)
    if offline:
        held = Held(device_id.lower(), protocol, key_info.key)
    else:
        with key_ops._on_device(device_id, reporter, need_id=True) as device:
            key_ops._require_full_id(device)
            proto = key_ops.device_protocol(device, protocol)
            held = Held(device.device_id.lower(), proto)
            if key_info is not None and key_info.alg != PROTOCOL_ALG[proto]:
                raise _wrong_type(key_file, key_info.alg, proto, "device")
            if key_info is None:
                slot = key_ops._device_key_slot(device.platform, proto)
                held.device_key, held.local = _device_key_from_slot(
                    key_ops.read_key_slot(device, slot, "device key slot"), slot)
            if not server_key_file:
                slot = key_ops._server_slot(device.platform, proto)
                spki, held.host, held.port, why = _server_from_blob(
                    key_ops.read_key_slot(device, slot, "server key slot"), slot, proto, held.device_id)
                held.server_spki = spki
                if why and held.local is None:
                    held.local = (SERVER_KEY_UNUSABLE, why)
        if key_info is not None:
            held.device_key = key_info.key
    if server_key_file:
        held.server_spki, address = _server_key_file(server_key_file, held.protocol)
        if address:
            held.host, held.port = address
    if not held.host:
        held.host = "device.spark.io" if held.protocol == "tcp" else f"{held.device_id}.udp.particle.io"
        held.port = DEFAULT_PORTS[held.protocol]
    return held


# --- the handshake ------------------------------------------------------------------------------

def _parse_host(text: str, port: Optional[int]) -> tuple[str, Optional[int]]:
    host, colon, given = text.rpartition(":") if text.count(":") == 1 else (text, "", "")
    if colon:
        if not given.isdigit() or not 0 < int(given) < 65536:
            raise ParticlePyError(f"--host {text!r}: the port is not a number from 1 to 65535",
                                  "Give --host HOST or HOST:PORT.", 2)
        return host, port or int(given)
    return host, port


def predict(held: Held, *, host: Optional[str] = None, port: Optional[int] = None, timeout_s: float = 10.0,
            environ=None, reporter: Reporter = QUIET) -> Prediction:
    """Run the device's handshake with what it holds (or stop at what the keys alone tell)."""
    if host:
        held.host, given = _parse_host(host, port)
        held.port = given or DEFAULT_PORTS[held.protocol]
    elif port:
        held.port = port
    base = dict(device_id=held.device_id, protocol=held.protocol, host=held.host, port=held.port)
    if held.local is not None:
        return Prediction(held.local[0], detail=held.local[1], **base)
    unfit = _server_key_unfit(held.server_spki, held.protocol)
    if unfit:
        return Prediction(SERVER_KEY_UNUSABLE, detail=unfit, **base)
    points = cloud_hosts(environ)
    target = points.lookup(held.protocol, held.host, held.port, held.device_id) if points else None
    if points is not None and not points.subdomains and target is None:
        # a simulated cloud named by its folder: the device reaches that cloud or none at all
        if not points.hosts.get(held.protocol):
            return Prediction(Outcome.UNREACHABLE.value, detail=f"the simulated cloud serves no {held.protocol} "
                              f"handshake", **base)
        return Prediction(Outcome.SERVER_KEY_MISMATCH.value, detail=f"{held.protocol}://{held.host}:{held.port} "
                          f"is not an address the simulated cloud answers at", **base)
    connect_host, connect_port = target or (held.host, held.port)
    server_spki = held.server_spki
    alg = PROTOCOL_ALG[held.protocol]
    if points is not None and alg in points.stand_in:
        official, stand_in = points.stand_in[alg]
        if hashlib.sha256(server_spki).hexdigest() == official:
            server_spki = stand_in         # the simulated cloud's own pair stands in for Particle's
            reporter.detail(f"The device holds Particle's {held.protocol.upper()} server key; the simulated cloud "
                            f"answers with the key pair that stands in for it")
    reached = f"{connect_host}:{connect_port}" if target else ""
    try:
        socket.getaddrinfo(connect_host, connect_port, type=socket.SOCK_DGRAM if held.protocol == "udp"
                           else socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        return Prediction(Outcome.UNREACHABLE.value, detail=f"the server address {held.host} does not resolve "
                          f"({getattr(exc, 'strerror', None) or exc})", reached=reached, **base)
    reporter.detail(f"Handshake: {held.protocol} to {connect_host}:{connect_port} as device {held.device_id}")
    verdict = _probe(held, connect_host, connect_port, server_spki, timeout_s)
    if held.protocol == "tcp" and verdict.outcome is Outcome.DEVICE_KEY_REJECTED:
        # A device tries again at once, and a cloud that keeps a new device's first key (spark-protocol,
        # the simulated cloud) answers the second try; Particle's answers both alike.
        verdict = _probe(held, connect_host, connect_port, server_spki, timeout_s)
        if verdict.outcome is Outcome.DEVICE_KEY_REJECTED and not verdict.detail.count("decryption error") \
                and not _known_server_key(held, server_spki, points):
            # A close after the device's message is all TCP shows, for a key the cloud does not hold and
            # for a message it cannot read alike; a server key that is neither Particle's nor the named
            # cloud's stand-in is the one the device fails on first (3 orange bursts).
            verdict = Verdict(Outcome.SERVER_KEY_MISMATCH, verdict.protocol, verdict.host, verdict.port,
                              "the cloud closed the connection after the device's message, and the server key "
                              "the device holds is not Particle's")
    detail = verdict.detail
    if verdict.outcome is Outcome.UNREACHABLE:
        detail = f"{held.protocol.upper()} {held.host} port {held.port}" + (f": {detail}" if detail else "")
    return Prediction(verdict.outcome.value, detail=detail, reached=reached, handshake_ran=True, **base)


def _server_key_unfit(spki: bytes, protocol: str) -> Optional[str]:
    """Why no cloud can answer with this server key (the device fails on it first), or None."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    try:
        key = serialization.load_der_public_key(spki)
    except (ValueError, TypeError):
        return "the server key does not parse as a public key"
    if protocol == "tcp" and not (isinstance(key, rsa.RSAPublicKey) and key.key_size == 2048):
        what = f"a {key.key_size}-bit RSA key" if isinstance(key, rsa.RSAPublicKey) else "not an RSA key"
        return f"the server key is {what}; the TCP cloud's key is RSA-2048"
    if protocol == "udp" and not (isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1)):
        return "the server key is not a P-256 EC key, which the UDP cloud's key is"
    return None


def _known_server_key(held: Held, server_spki: bytes, points: Optional[CloudHosts]) -> bool:
    """The server key is Particle's, or the key pair the named simulated cloud answers with."""
    from particle_py.keys import server_blob
    if hashlib.sha256(held.server_spki).hexdigest() == server_blob.OFFICIAL_KEY_SHA256[held.protocol]:
        return True
    stand_in = points.stand_in.get(PROTOCOL_ALG[held.protocol]) if points else None
    return stand_in is not None and server_spki == stand_in[1]


def _probe(held: Held, host: str, port: int, server_spki: bytes, timeout_s: float) -> Verdict:
    from cryptography.hazmat.primitives import serialization
    try:
        if held.protocol == "tcp":
            from particle_py.handshake import tcp as client
        else:
            from particle_py.handshake import dtls as client
    except ImportError:
        raise ParticlePyError(f"This particle-py has no {held.protocol.upper()} handshake client.",
                              "Install a particle-py release that has `particle keys verify` for this protocol.",
                              EX_UNAVAILABLE) from None
    server_key = serialization.load_der_public_key(server_spki)
    return client.probe(host, port, held.device_id, held.device_key, server_key, timeout_s=timeout_s)


def verify(device_id: Optional[str] = None, *, key_file: Optional[str] = None, server_key_file: Optional[str] = None,
           host: Optional[str] = None, protocol: Optional[str] = None, port: Optional[int] = None,
           timeout_s: float = 10.0, reporter: Reporter = QUIET, environ=None) -> Prediction:
    """`particle keys verify`: the prediction; the front end prints it and exits by it."""
    if port is not None and not 0 < port < 65536:
        raise ParticlePyError(f"--port {port}: a port is 1 to 65535", "Give --port a number from 1 to 65535.", 2)
    if not 0 < timeout_s <= 600:
        raise ParticlePyError(f"--timeout {timeout_s}: give seconds from 1 to 600", exit_code=2)
    held = read_held(device_id, key_file=key_file, server_key_file=server_key_file, protocol=protocol,
                     reporter=reporter)
    return predict(held, host=host, port=port, timeout_s=timeout_s, environ=environ, reporter=reporter)


# --- keys doctor's proof ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Proof:
    """Whether the cloud accepts a new key, asked before it is written."""
    proven: bool
    refused: bool                # the cloud holds another key: the key must not be written
    text: str
    prediction: Optional[Prediction] = None


def new_key_prover(*, api_url: str, timeout_s: float = 10.0, environ=None):
    """The proof `keys doctor` runs after sending the new public key and before writing it:
    ``prove(device, protocol, private_key, reporter) -> Proof``, with the server key and address
    in the device's DCT (the ones it will use). Only where the cloud's handshake address is known:
    Particle's API means Particle's addresses; any other cloud needs PARTICLE_PY_CLOUD_HOSTS."""
    from particle_py.cloud.config import DEFAULT_API_URL

    def prove(device, protocol: str, private_key, reporter: Reporter = QUIET) -> Proof:
        points = cloud_hosts(environ)
        if points is None and api_url.rstrip("/") != DEFAULT_API_URL:
            return Proof(False, False, f"The new key was not proven: where the cloud at {api_url} answers devices "
                                       f"is not known (set {CLOUD_HOSTS_ENV}; docs/handshake.md).")
        slot = device.platform.server_key[protocol]
        blob = bytes(device.read(slot.alt, slot.address, slot.size))
        spki, host, port, why = _server_from_blob(blob, slot, protocol, device.device_id.lower())
        if why:
            return Proof(False, False, f"The new key was not proven: {why}.")
        held = Held(device.device_id.lower(), protocol, private_key, spki, host, port)
        found = predict(held, timeout_s=timeout_s, environ=environ, reporter=reporter)
        if found.accepted:
            return Proof(True, False, f"The cloud accepts the new key: the device's handshake with "
                                      f"{found.target()} succeeded.", found)
        if found.outcome == Outcome.DEVICE_KEY_REJECTED.value:
            return Proof(False, True, f"The cloud refused the new key: {found.words}.", found)
        return Proof(False, False, f"The new key was not proven: {found.words}.", found)

    return prove
