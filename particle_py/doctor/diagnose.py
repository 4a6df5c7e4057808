"""Read-only diagnosis: what the device holds, read through the same USB/DFU transport as every
other command, judged the way Device OS judges it while booting, and what the cloud says.

Nothing here writes to the device or the cloud. The device is switched to DFU mode to be read
(as the keys commands do) and, unless it was in DFU mode to begin with, sent back to its
firmware at the end of a dry run.
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, field
from typing import Callable, Optional

from particle_py import events
from particle_py import module_layout as layout
from particle_py.doctor.findings import LED, Finding, led_after_boot
from particle_py.errors import ParticlePyError
from particle_py.module_layout import ModuleFunction as F
from particle_py.platforms import Platform

BOOTLOADER, SYSTEM_PART, USER_PART = F.BOOTLOADER, F.SYSTEM_PART, F.USER_PART
KEY_READ_EXTRA = 64          # read past a key slot to tell how long an overlong key is
# Particle's own cloud, per protocol: the host the official server-key blobs name (or the
# erased address field, which Device OS reads as the default) and the port.
PARTICLE_SERVER = {
    "tcp": {"hosts": ("device.spark.io",), "port": 5683},
    "udp": {"hosts": ("udp.particle.io", "$id.udp.particle.io"), "port": 5684},
}
FUNCTION_NAMES = {BOOTLOADER: "bootloader", SYSTEM_PART: "system part", USER_PART: "user part"}
ID_UNKNOWN_HINT = ("Press the device's RESET button so it runs its firmware (particle-py learns the id there), then "
                   "run `particle doctor` again.")


def is_device_id(text: Optional[str]) -> bool:
    """A Particle device id: 24 hex digits. A bootloader's DFU serial such as 00000000010c (2015
    Photon bootloaders, the Core) is not one, and is the same on every such device."""
    return bool(text) and len(text) == 24 and all(c in "0123456789abcdefABCDEF" for c in text)


@dataclass
class Diagnosis:
    device_id: str
    platform: Platform
    start_mode: str                      # NORMAL, LISTENING, SAFE, DFU, UNKNOWN
    protocol: Optional[str] = None
    findings: list = field(default_factory=list)
    logged_in: bool = False
    needs_login: list = field(default_factory=list)   # what could not be checked without a login
    usb_serial: Optional[str] = None     # the DFU serial, when it is not the id (device_id is then "")

    @property
    def id_known(self) -> bool:
        return is_device_id(self.device_id)

    def name(self) -> str:
        """The device id, or in words why it is not known."""
        return self.device_id if self.id_known else f"(id unknown: {self.why_no_id()})"

    def why_no_id(self) -> str:
        if self.start_mode != "DFU":
            return f"it reports no device id over USB (its USB serial: {self.usb_serial or 'none'})"
        return (f"its bootloader reports the USB serial {self.usb_serial or '(none)'} in DFU mode, which is not a "
                f"device id")

    @property
    def problems(self) -> list:
        return [f for f in self.findings if f.problem]

    def led_now(self) -> str:
        if self.start_mode == "DFU":
            return LED["dfu"]
        if self.start_mode == "LISTENING":
            return LED["listening"]
        return self.led_after_boot()

    def led_after_boot(self) -> str:
        led = led_after_boot(self.findings)
        if led == "connected":
            # the device side is fine, but what the cloud takes is not known: both outcomes
            codes = {f.code for f in self.findings}
            if "server_key_unchecked" in codes and CLOUD_KEY_UNKNOWN in codes:
                return (f"{LED['connected']} if its server key is that cloud's and the cloud holds the device's "
                        f"public key, else {LED['bad_server_key']} or {LED['decryption_error']}")
            if "server_key_unchecked" in codes:
                return f"{LED['connected']} if its server key is that cloud's, else {LED['bad_server_key']}"
            if CLOUD_KEY_UNKNOWN in codes:
                return (f"{LED['connected']} if the cloud holds the device's public key, else "
                        f"{LED['decryption_error']}")
        return LED[led]

    def as_json(self) -> dict:
        return {"device_id": self.device_id if self.id_known else None, "usb_serial": self.usb_serial,
                "platform": self.platform.name,
                "platform_name": self.platform.display_name, "mode": self.start_mode,
                "protocol": self.protocol, "logged_in": self.logged_in,
                "led_now": self.led_now(), "led_after_reset": self.led_after_boot(),
                "findings": [f.as_json() for f in self.findings], "needs_login": self.needs_login}


# --- firmware ------------------------------------------------------------------------------

@dataclass
class Module:
    address: int
    function: int
    index: int
    version: int
    deps: tuple


def _read_module(device, platform: Platform, address: int) -> tuple[Optional[Module], str, str]:
    """(module, code, why): code 'ok', 'missing' or 'invalid'."""
    raw = device.read(0, address + platform.module_info_offset, layout.PREFIX_SIZE)
    if platform.module_info_offset and struct.unpack_from("<I", device.read(0, address, 4))[0] == address:
        raw = device.read(0, address, layout.PREFIX_SIZE)   # user modules carry their prefix at offset 0 (Tinker does)
    if raw == layout.ERASED_PREFIX:
        return None, "missing", "empty (erased flash)"
    prefix = layout.unpack_prefix(raw)
    if prefix is None or not prefix.plausible_at(address):
        return None, "invalid", "no valid module header"
    size = prefix.size
    if device.memory_map(0).first_gap(address, address + size, "readable") is not None:
        return None, "invalid", f"its header names an end (0x{prefix.end:08x}) outside readable memory"
    body = device.read(0, address, size)
    if not layout.crc_matches(body):
        return None, "invalid", f"its CRC does not match ({size} bytes: a corrupt or cut-short write)"
    if prefix.platform_id != platform.platform_id:
        return None, "invalid", (f"built for platform {prefix.platform_id}, not the {platform.display_name} "
                                 f"({platform.platform_id})")
    return Module(address, prefix.function, prefix.index, prefix.version, prefix.dependencies), "ok", "ok"


def _unmet(module: Module, present: list, only: Optional[int] = None) -> Optional[str]:
    for function, index, version in module.deps:
        if only is not None and function != only:
            continue
        if not any(m.function == function and m.index == index and m.version >= version for m in present):
            held = [m.version for m in present if m.function == function and m.index == index]
            has = f" (it has version {held[0]})" if held else ""
            return f"needs {FUNCTION_NAMES.get(function, f'module {function}')} {index} version >= {version}{has}"
    return None


def _bootloader(device, platform: Platform) -> list:
    """The bootloader module, when it is intact ([] otherwise)."""
    if platform.bootloader is None:
        return []
    module, _code, _why = _read_module(device, platform, platform.bootloader)
    return [module] if module is not None and module.function == BOOTLOADER else []


def check_firmware(device, platform: Platform) -> list[Finding]:
    if not platform.system_parts or platform.user_part is None:
        return [Finding("firmware", "firmware_not_checked",
                        f"Device OS modules: not checked (the {platform.display_name}'s module locations are not "
                        f"in particle-py's platform table)")]
    out: list[Finding] = []
    system: list[Module] = []
    for number, address in enumerate(platform.system_parts, 1):
        module, code, why = _read_module(device, platform, address)
        if module is not None and module.function != SYSTEM_PART:
            module, code, why = None, "invalid", "it holds another kind of module, not a system part"
        where = f"Device OS system part {number} at 0x{address:08x}"
        if module is None:
            out.append(Finding("firmware", "device_os_missing" if code == "missing" else "device_os_invalid",
                               f"{where}: {why}; the bootloader stays in DFU mode", True,
                               {"part": number, "address": address}))
            return out
        system.append(module)
    for module in system:
        unmet = _unmet(module, system, only=SYSTEM_PART)
        if unmet:
            out.append(Finding("firmware", "device_os_dependency",
                               f"Device OS system part {module.index} (version {module.version}) {unmet}; the "
                               f"bootloader stays in DFU mode", True, {"part": module.index}))
            return out
    # A bootloader older than the system parts need: Device OS starts in safe mode and waits for
    # it (a release's bootloader comes with it: `particle update`). The SoftDevice keeps no
    # Particle module header, so a radio-stack dependency is not checked here.
    # Where the platform table has no bootloader address (rtl872x), it is not checked.
    for module in system if platform.bootloader is not None else ():
        unmet = _unmet(module, system + _bootloader(device, platform), only=BOOTLOADER)
        if unmet:
            out.append(Finding("firmware", "device_os_needs_bootloader",
                               f"Device OS system part {module.index} (version {module.version}) {unmet}; "
                               f"Device OS runs in safe mode until the bootloader is updated", True,
                               {"part": module.index}))
            return out
    versions = ", ".join(str(m.version) for m in system)
    out.append(Finding("firmware", "device_os_ok", f"Device OS: {len(system)} system part(s) present, CRC good, "
                       f"dependencies met (module versions {versions})",
                       facts={"versions": [m.version for m in system]}))
    out.append(check_app(device, platform, system))
    return out


def check_app(device, platform: Platform, system: list) -> Finding:
    """The app Device OS runs: the first region it tries (per its version, the platform table's
    user_slots) holding an intact module for this platform with its dependencies met."""
    from particle_py.platforms import user_slots

    slots = user_slots(platform, system[0].version)
    single = len(slots.tried) == 1
    broken, needs_newer = [], []
    for region in slots.tried:
        address, code, why = layout.user_part_start(device.read, region)
        at = f" at 0x{address:08x}" if address is not None else (
            f" ending at 0x{region.address:08x}" if region.grows_left else f" at 0x{region.address:08x}")
        app = None
        if address is not None:
            app, code, why = _read_module(device, platform, address)
        if app is None:
            broken.append((code, f"user application{at}: {why}"))
            continue
        unmet = _unmet(app, system)
        if unmet is None:
            return Finding("firmware", "app_ok", f"user application{'' if single else at}: present, CRC good, its "
                           f"Device OS is there", facts={"address": address})
        needs_newer.append(f"the user application{'' if single else at} {unmet}, newer than the Device OS on the "
                           f"device")
    # An app where this Device OS does not look: built for a newer Device OS's layout (an app
    # for 3.1+ at 0xB4000 under 1.5.2) is usually the one the user meant to run.
    tried = {region.address for region in slots.tried}
    for row in platform.user_slots:
        for region in row.tried:
            if region.address in tried:
                continue
            tried.add(region.address)
            app, _code, _why = _read_module(device, platform, region.address)
            if app is not None:
                unmet = _unmet(app, system)
                needs_newer.append(f"the user application at 0x{region.address:08x} {unmet + ', and ' if unmet else ''}"
                                   f"this Device OS does not look there (it runs apps from "
                                   f"{_addresses(slots.tried)}; 0x{region.address:08x} from system part version "
                                   f"{row.since} on)")
    if needs_newer:
        return Finding("firmware", "app_needs_newer_device_os",
                       "; ".join(needs_newer + [text for _c, text in broken]) + "; Device OS runs in safe mode", True)
    code = "app_invalid" if any(c == "invalid" for c, _ in broken) else "app_missing"
    return Finding("firmware", code, "; ".join(text for _c, text in broken) + "; Device OS runs in safe mode", True)


def _addresses(regions) -> str:
    return " and ".join(f"0x{r.address:08x}" for r in regions)


# --- keys ------------------------------------------------------------------------------------

def _key_kind_words(kind: str) -> str:
    from particle_py.keys import formats
    return {formats.PKCS8_PRIVATE: "PKCS#8", formats.PKCS1_PRIVATE: "PKCS#1 RSAPrivateKey",
            formats.SEC1_PRIVATE: "SEC1 ECPrivateKey", formats.SPKI_PUBLIC: "a public key (SubjectPublicKeyInfo)",
            formats.PKCS1_PUBLIC: "a PKCS#1 public key"}.get(kind, kind)


def check_device_key(raw: bytes, slot) -> tuple[Finding, Optional[object]]:
    """The device key as Device OS reads it: ``slot.size`` bytes, PKCS#1 (RSA) or SEC1 (EC) DER."""
    from particle_py.keys import formats

    where = f"the device key in the DCT at {slot.address}"
    want = "PKCS#1 RSAPrivateKey" if slot.alg == "rsa" else "SEC1 ECPrivateKey"
    if raw[:slot.size].count(0xFF) == slot.size:
        return Finding("device-key", "device_key_empty",
                       f"{where} is empty; Device OS makes a new key, which the cloud does not know", True), None
    length = _der_total(raw)
    if length is not None and length > len(raw):
        return Finding("device-key", "device_key_unusable",
                       f"{where} starts a {length}-byte DER object, far longer than its {slot.size}-byte slot; "
                       f"Device OS reads {slot.size} bytes and cannot parse it (it needs {want} DER)", True,
                       {"bytes": length, "slot_bytes": slot.size}), None
    found = formats.classify_der(raw[:length]) if length else None
    if found is None:
        return Finding("device-key", "device_key_unusable",
                       f"{where} is not a key ({slot.size} bytes that do not parse as DER); Device OS cannot use "
                       f"it", True), None
    kind, alg = found
    facts = {"kind": _key_kind_words(kind), "bytes": length, "slot_bytes": slot.size}
    if kind == formats.PKCS8_PRIVATE:
        return Finding("device-key", "device_key_unusable",
                       f"{where} is {length} bytes of PKCS#8, as OpenSSL 3 writes it; Device OS reads {slot.size} "
                       f"bytes and cannot parse it (it needs {want} DER)", True, facts), None
    if kind not in (formats.PKCS1_PRIVATE, formats.SEC1_PRIVATE):
        return Finding("device-key", "device_key_unusable",
                       f"{where} is {_key_kind_words(kind)}, not a private key; Device OS needs {want} DER",
                       True, facts), None
    if alg != slot.alg:
        return Finding("device-key", "device_key_unusable",
                       f"{where} is an {'RSA' if alg == 'rsa' else 'EC'} key; this protocol needs {want} DER",
                       True, facts), None
    if length > slot.size:
        return Finding("device-key", "device_key_unusable",
                       f"{where} is {length} bytes of {want}; its slot holds {slot.size}, so Device OS reads a "
                       f"cut-off key", True, facts), None
    info = formats.parse_device_slot(raw[:slot.size], slot.alg)
    if info is None:
        return Finding("device-key", "device_key_unusable",
                       f"{where} is shaped like {want} but its numbers do not form a valid key", True, facts), None
    if slot.alg == "rsa" and info.key.key_size != formats.DEVICE_RSA_BITS:
        facts["bits"] = info.key.key_size
        return Finding("device-key", "device_key_unusable",
                       f"{where} is a {info.key.key_size}-bit RSA key; Device OS uses 1024-bit keys", True,
                       facts), None
    spki = formats.public_der(info.key)
    facts["public_key_sha256"] = hashlib.sha256(spki).hexdigest()
    return Finding("device-key", "device_key_ok", f"device key: {want} DER, {length} bytes, fits its "
                   f"{slot.size}-byte slot", facts=facts), info


def _der_total(raw: bytes) -> Optional[int]:
    """Length the DER SEQUENCE at the start of raw claims, even past what was read (None: no SEQUENCE)."""
    if len(raw) < 2 or raw[0] != 0x30:
        return None
    first = raw[1]
    if first < 0x80:
        return 2 + first
    count = first & 0x7F
    if count == 0 or count > 2 or len(raw) < 2 + count:
        return None
    return 2 + count + int.from_bytes(raw[2:2 + count], "big")


@dataclass
class ExpectedServer:
    """The server the device should talk to: Particle's (from the official key files) or a custom one."""
    spki: Optional[bytes]
    hosts: tuple
    port: int
    custom: bool
    source: str                 # what the key was compared with, in words
    unavailable: Optional[str] = None     # why Particle's key could not be had
    also: tuple = ()            # (spki, words) of other keys that cloud takes (the simulated cloud's own)


def particle_server(protocol: str) -> ExpectedServer:
    from particle_py.keys import formats
    from particle_py.ops import keys as key_ops

    table = PARTICLE_SERVER[protocol]
    try:
        blob = key_ops.default_server_key(protocol)
    except ParticlePyError as err:
        return ExpectedServer(None, table["hosts"], table["port"], False, "Particle's server key",
                              unavailable=err.message)
    return ExpectedServer(formats.trim_der(blob), table["hosts"], table["port"], False,
                          f"Particle's {protocol.upper()} server key")


PARTICLE_API_HOSTS = ("api.particle.io",)
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def logged_in_server(protocol: str, settings) -> ExpectedServer:
    """The server the cloud in the user's config (apiUrl) has its devices talk to: Particle's for
    Particle's cloud; on loopback (the simulated cloud, which takes Particle's key, or a local
    one) Particle's key or, with its folder in $PARTICLE_PY_SIM, the simulated cloud's own; for
    any other cloud nothing particle-py can know (--server-key tells it)."""
    import os
    import urllib.parse
    from pathlib import Path

    url = settings.api_url if settings is not None else "https://" + PARTICLE_API_HOSTS[0]
    host = (urllib.parse.urlsplit(url).hostname or "").lower()
    if host in PARTICLE_API_HOSTS:
        return particle_server(protocol)
    sim = os.environ.get("PARTICLE_PY_SIM")
    alg = "rsa" if protocol == "tcp" else "ec"
    own = Path(sim) / "cloud" / f"server_{alg}.pub.der" if sim else None
    if host in LOOPBACK_HOSTS:
        from particle_py.keys import formats

        expected = particle_server(protocol)
        try:
            spki = formats.trim_der(own.read_bytes()) if own is not None and own.is_file() else b""
        except OSError:
            spki = b""
        if spki:
            expected.also = ((spki, f"the simulated cloud's own {protocol.upper()} server key ({own})"),)
        expected.hosts = tuple(expected.hosts) + LOOPBACK_HOSTS
        return expected
    table = PARTICLE_SERVER[protocol]
    return ExpectedServer(None, table["hosts"], table["port"], False, f"the server key of the cloud at {url}",
                          unavailable=f"particle-py knows only the keys of Particle's cloud and of the simulated "
                                      f"one; give that cloud's key with `particle doctor --server-key <file>` "
                                      f"(and --host, --port)")


def custom_server(path: str, protocol: str, host: Optional[str], port: Optional[int]) -> ExpectedServer:
    from particle_py.firmware.classify import parse_key_file
    from particle_py.keys import formats

    try:
        info = parse_key_file(open(path, "rb").read(), path)
    except OSError as exc:
        raise ParticlePyError(f"Could not read {path}: {exc.strerror or exc}") from None
    table = PARTICLE_SERVER[protocol]
    return ExpectedServer(formats.public_der(info.key), (host,) if host else table["hosts"],
                          port or table["port"], True, f"the server key in {path}")


def check_server_key(raw: bytes, slot, protocol: str, device_id: str, expected: ExpectedServer) -> Finding:
    from particle_py.keys import formats, server_blob

    where = f"the server key in the DCT at {slot.address}"
    if raw[:16] == b"\xff" * 16:
        return Finding("server-key", "server_key_wrong", f"{where} is empty", True)
    held = formats.trim_der(raw)
    found = formats.classify_der(held) if held else None
    if found is None or found[0] != formats.SPKI_PUBLIC:
        return Finding("server-key", "server_key_wrong", f"{where} is not a public key", True)
    if found[1] != slot.alg:
        want = "an RSA" if slot.alg == "rsa" else "an EC (P-256)"
        return Finding("server-key", "server_key_wrong", f"{where} is {'an RSA' if found[1] == 'rsa' else 'an EC'} "
                       f"key; the {protocol.upper()} protocol needs {want} server key", True)
    facts = {"server_key_sha256": hashlib.sha256(held).hexdigest()}
    address = server_blob.parse_address(raw, slot, protocol)
    facts["address"] = address.url()
    source, spki = expected.source, expected.spki
    for other, words in expected.also:
        if held == other and held != expected.spki:
            source, spki = words, other
            break
    if spki is None:
        return Finding("server-key", "server_key_unchecked",
                       f"{where} is a valid {slot.alg.upper()} key, but it could not be compared with "
                       f"{expected.source}: {expected.unavailable}", facts=facts)
    if held != spki:
        return Finding("server-key", "server_key_wrong",
                       f"{where} is a valid {slot.alg.upper()} key, but not {expected.source} (so the device "
                       f"cannot reach the cloud, or talks to another server)", True, facts)
    host = address.host.replace(device_id, "$id")
    if host not in expected.hosts or address.port != expected.port:
        return Finding("server-key", "server_address_wrong",
                       f"the server address in that slot is {address.url()}, not "
                       f"{protocol}://{expected.hosts[0]}:{expected.port}", True, facts)
    return Finding("server-key", "server_key_ok", f"server key: {source}, address {address.url()}",
                   facts=facts)


# --- the device ------------------------------------------------------------------------------

def open_for_reading(device_id: Optional[str], reporter: events.Reporter = events.QUIET,
                     on_found: Optional[Callable[[str], None]] = None):
    """(opened DFU device, mode it was in): the one device attached, or the one with this id.
    ``on_found(device_id)`` runs once the device is known, before it is switched to DFU mode."""
    from particle_py.ops import device as dev_ops
    from particle_py.ops import discovery
    from particle_py.ops import usb_commands

    try:
        # an id given for the one device attached, in DFU mode behind a bootloader that shows no
        # id (2015 Gen2, Core), is taken as meant and confirmed below before anything is read
        entry = discovery.resolve_target(device_id, need_dfu=False)
    except ParticlePyError as err:
        if err.message.startswith("Multiple devices found"):
            hint = f"Choose one: particle doctor <id>. {err.hint or ''}".strip()
            raise ParticlePyError("Several Particle devices are connected.", hint, err.exit_code) from None
        if device_id and err.message.startswith("Device not found"):
            _refuse_unconfirmed(device_id)
        raise
    mode = usb_commands.device_mode(entry)
    usb_serial = entry.device_id
    if not entry.id_known:
        # The id comes from the device, never from a DFU serial that is not the id: it is
        # restarted into its firmware, which shows the id, and switched back (ops.device). One
        # that cannot show it is read with no id (a given id is then refused: nothing read).
        entry = dev_ops.confirm_identity(entry, device_id, reporter, required=False)
    # The id comes from the running device; across the switch it is carried, since some
    # bootloaders report another serial in DFU mode. A DFU serial that is no id is no id.
    known_id = entry.device_id.lower() if entry.id_known and is_device_id(entry.device_id) else None
    if on_found is not None and known_id:
        on_found(known_id)
    if not entry.in_dfu:
        entry = dev_ops.switch_to_dfu(entry, reporter)
    device = dev_ops.ParticleDfuDevice(entry, reporter)
    device.usb_serial = None if known_id else (usb_serial or "")
    device.device_id = known_id or ""
    return device, mode


def _refuse_unconfirmed(device_id: str) -> None:
    """An id was given and no device reports it, but one in DFU mode reports no id at all (a
    2015 Photon bootloader, a Core): it may be that device or not, and nothing is read or
    written on a guess."""
    from particle_py.ops import discovery

    entries = discovery.list_devices()
    unknown = [e for e in entries if e.in_dfu and not is_device_id(e.device_id)]
    serials = ", ".join(sorted({e.device_id or "(none)" for e in unknown}))
    for entry in entries:
        discovery.release_entry(entry)
    if unknown:
        raise ParticlePyError(f"No connected device reports the id {device_id}; a device in DFU mode reports the USB "
                              f"serial {serials}, which is not a device id, so particle-py cannot tell whether it is "
                              f"{device_id}.",
                              "Nothing was read or written. Press the device's RESET button so it runs its firmware "
                              f"(particle-py learns the id there), then run `particle doctor {device_id}` again.")


def read_device(device, mode: str, *, expected_server: Optional[ExpectedServer] = None,
                server_key_file: Optional[str] = None, host: Optional[str] = None,
                port: Optional[int] = None, settings=None) -> tuple[Diagnosis, Optional[object]]:
    """Diagnose an opened device; returns the diagnosis and the parsed device key (or None)."""
    from particle_py.ops import keys as key_ops
    from particle_py.platforms import ELECTRON_TRANSPORT_SLOT

    platform = device.platform
    diagnosis = Diagnosis(device.device_id, platform, mode, usb_serial=getattr(device, "usb_serial", None))
    if mode == "LISTENING":
        diagnosis.findings.append(Finding("mode", "listening_mode",
                                          "the device is in listening mode (waiting for Wi-Fi credentials, or its "
                                          "MODE button was held); a restart leaves it", True))
    diagnosis.findings.extend(check_firmware(device, platform))
    protocol = key_ops.device_protocol(device)
    diagnosis.protocol = protocol
    if key_ops.has_transport_byte(platform):
        value = key_ops.read_slot(device, ELECTRON_TRANSPORT_SLOT)[0]
        setting = "the platform default" if value == key_ops.TRANSPORT_DEFAULT else f"0x{value:02x}"
        diagnosis.findings.append(Finding("transport", "transport", f"transport byte (DCT "
                                          f"{ELECTRON_TRANSPORT_SLOT.address}): {setting}, so the device uses "
                                          f"{protocol.upper()} and the keys for {protocol.upper()}",
                                          facts={"byte": value, "protocol": protocol}))
    key_slot = platform.device_key[protocol]
    raw_key = bytes(device.read(key_slot.alt, key_slot.address, key_slot.size + KEY_READ_EXTRA))
    key_finding, key_info = check_device_key(raw_key, key_slot)
    diagnosis.findings.append(key_finding)
    server_slot = platform.server_key[protocol]
    raw_server = key_ops.read_slot(device, server_slot)
    if expected_server is None:
        expected_server = (custom_server(server_key_file, protocol, host, port) if server_key_file
                           else logged_in_server(protocol, settings))
    diagnosis.findings.append(check_server_key(raw_server, server_slot, protocol, device.device_id,
                                               expected_server))
    return diagnosis, key_info


# --- the cloud -------------------------------------------------------------------------------

def ask_cloud(device_id: str, settings) -> tuple[Optional[dict], Optional[ParticlePyError]]:
    """The cloud's record of the device (body, None), or (None, the error); (None, None) without
    a login. Asked while the device still runs its firmware: once the doctor has switched it to
    DFU mode the cloud sees it offline whatever its keys are."""
    from particle_py.cloud.api import ApiClient

    if not settings.access_token:
        return None, None
    try:
        return ApiClient(settings.api_url, settings.access_token).device_record(device_id), None
    except ParticlePyError as err:
        return None, err


CLOUD_KEY_UNKNOWN = "cloud_key_unknown"
CLOUD_KEY_UNKNOWN_TEXT = ("whether the cloud holds the device's public key: unknown (the cloud shows it to no one; it "
                          "is known once the device connects: breathing cyan means yes, blinking cyan with 1 orange "
                          "burst means no, and `particle keys doctor <id>` then sends a new key)")


def check_cloud(diagnosis: Diagnosis, key_info, settings=None, reply=None, handshake=None) -> None:
    """Ownership and, for a device with usable keys, whether the cloud sees it online. ``reply``
    is ask_cloud's answer when it was asked before the device left its firmware; ``handshake``
    the device's own handshake (device_handshake), which answers for devices the API does not show."""
    from particle_py.cloud.config import Settings

    settings = settings or Settings()
    if not settings.access_token:
        diagnosis.needs_login = ["whether the device is claimed to your account",
                                 "whether the cloud holds the device's current public key"]
        diagnosis.findings.append(Finding("cloud", "not_logged_in", "cloud: not checked (not logged in: "
                                          "`particle login` lets the doctor check ownership and the cloud's copy "
                                          "of the device key, and send a new key)"))
        return
    diagnosis.logged_in = True
    if not diagnosis.id_known:
        diagnosis.findings.append(Finding("cloud", "cloud_not_asked", "cloud: not asked (the device id is not "
                                          "known, and the cloud knows devices by id). " + ID_UNKNOWN_HINT))
        return
    body, err = reply if reply is not None else ask_cloud(diagnosis.device_id, settings)
    if err is not None:
        status = getattr(err, "status", 0)
        if status in (403, 404):
            account = settings.username or "the account logged in"
            diagnosis.findings.append(Finding("cloud", "not_claimed",
                                              f"the device is not claimed to your account ({account}); "
                                              f"the cloud answered: {err.message}", True, {"status": status}))
            if handshake is not None and handshake.refused:
                diagnosis.findings.append(Finding("cloud", "cloud_key_mismatch",
                                                  "the device's own handshake shows the cloud holds another public "
                                                  "key for it (so it cannot come online, and cannot be claimed)",
                                                  True, {"handshake": handshake.prediction.outcome}))
            elif handshake is not None and handshake.proven:
                diagnosis.findings.append(Finding("cloud", "cloud_key_accepted",
                                                  "the device's own handshake: the cloud accepts its keys",
                                                  facts={"handshake": handshake.prediction.outcome}))
            elif key_info is not None:
                diagnosis.findings.append(Finding("cloud", CLOUD_KEY_UNKNOWN, CLOUD_KEY_UNKNOWN_TEXT))
            return
        diagnosis.findings.append(Finding("cloud", "cloud_unreachable", f"cloud: not checked ({err.message})",
                                          facts={"status": status}))
        if key_info is not None:
            diagnosis.findings.append(Finding("cloud", CLOUD_KEY_UNKNOWN, CLOUD_KEY_UNKNOWN_TEXT))
        return
    connected = body["connected"]          # a boolean: ApiClient.device_record checked the record
    diagnosis.findings.append(Finding("cloud", "claimed", f"cloud: the device is claimed to your account"
                                      f"{' and online' if connected else ', offline'}",
                                      facts={"connected": connected}))
    # with Device OS or the server key broken, the device is offline for that reason
    keys_fine = key_info is not None and not any(f.problem and f.code.startswith(("device_os", "server"))
                                                 for f in diagnosis.findings)
    # A device in DFU or listening mode is offline anyway; only a running one tells something.
    running = diagnosis.start_mode in ("NORMAL", "SAFE", "UNKNOWN")
    if not connected and keys_fine and running:
        diagnosis.findings.append(Finding("cloud", "cloud_key_mismatch",
                                          "the device's keys are valid but the cloud sees it offline: the cloud "
                                          "most likely holds another public key for it (the cloud keeps the "
                                          "first key it saw until the new one is sent)", True))
    elif not connected and key_info is not None:
        # offline in DFU or listening mode, or for a problem found above: the cloud's copy of
        # the key is not seen until the device connects
        diagnosis.findings.append(Finding("cloud", CLOUD_KEY_UNKNOWN, CLOUD_KEY_UNKNOWN_TEXT))


def diagnose(device_id: Optional[str] = None, *, reporter: events.Reporter = events.QUIET,
             server_key_file: Optional[str] = None,
             host: Optional[str] = None, port: Optional[int] = None, settings=None,
             leave_dfu: bool = True) -> Diagnosis:
    """Read the device and the cloud; nothing is written. With ``leave_dfu`` a device that was
    running is sent back to its firmware afterwards."""
    from particle_py.cloud.config import Settings

    settings = settings or Settings()
    cloud = {}

    def on_found(found_id: str) -> None:
        cloud["reply"] = ask_cloud(found_id, settings)

    device, mode = open_for_reading(device_id, reporter, on_found)
    try:
        try:
            diagnosis, key_info = read_device(device, mode, server_key_file=server_key_file, host=host, port=port,
                                              settings=settings)
        except ParticlePyError as err:
            raise ParticlePyError(f"Could not read the device: {err.message}",
                                  "\n".join(h for h in (err.hint, "Nothing was written. The device is in DFU mode "
                                                         "(blinking yellow): press RESET to restart it, then run "
                                                         "the doctor again.") if h), err.exit_code) from None
        handshake = device_handshake(device, diagnosis, key_info, settings, reporter)
        if leave_dfu and mode != "DFU":
            device.reset(leave=True)
    finally:
        device.close()
    check_cloud(diagnosis, key_info, settings, cloud.get("reply"), handshake=handshake)
    return diagnosis


def device_handshake(device, diagnosis: Diagnosis, key_info, settings, reporter=events.QUIET):
    """The device's own handshake (ops/verify.py), where the API cannot tell whether the cloud holds
    the device's key (a device that is not the account's): a Proof, or None when it was not run
    (no usable keys, no login, or no known handshake address for this cloud)."""
    if key_info is None or not settings.access_token or not diagnosis.id_known or diagnosis.protocol is None:
        return None
    if any(f.problem and f.code.startswith(("device_os", "server")) for f in diagnosis.findings):
        return None
    from particle_py.ops import verify as verify_ops
    try:
        proof = verify_ops.new_key_prover(api_url=settings.api_url)(device, diagnosis.protocol, key_info.key,
                                                                    reporter)
    except ParticlePyError:
        return None                 # a handshake that cannot run leaves the question open, as before
    return proof if proof.prediction is not None and proof.prediction.handshake_ran else None
