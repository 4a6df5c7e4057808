"""What a simulated device does when it boots: from what it holds, not from flags.

The checks follow Device OS's order: a valid Device OS (system modules present,
CRC good, dependencies met) or the bootloader stays in DFU mode; a valid user
application where that Device OS looks for one (platforms.UserSlots: on nRF52840 it moved
with 3.1) or safe mode; then the cloud handshake: a parseable device key, a
server key and address matching the cloud, and the cloud knowing the device's
public key (it locks to the first key it sees). Each outcome carries the LED
pattern in users' words and the reason.

Stdlib only (runs under the system Python beside umockdev).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Callable, Optional, Protocol

from particle_py import module_layout as layout
from particle_py.module_layout import ModuleFunction as F
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
Writer = Callable[[int, int, bytes], None]     # (alt, address, bytes): raw flash, no access rules

BOOTLOADER, SYSTEM_PART, USER_PART, RADIO_STACK = F.BOOTLOADER, F.SYSTEM_PART, F.USER_PART, F.RADIO_STACK
# The nRF52 SoftDevice describes itself at its base + 0x2000 (Nordic's SD info structure:
# magic at +4, firmware id at +0xC); Device OS reports that id as the radio stack's module
# version (202 for the S140 the Gen3 releases ship).
SD_INFO_OFFSET, SD_MAGIC, SD_FWID_OFFSET = 0x2000, 0x51B1E5DB, 0xC


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

    def accepts_server_key(self, spki_der: bytes) -> bool: ...
    def accepts_address(self, protocol: str, host: str, port: int, device_id: str) -> bool: ...
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
    # The prefix follows the vector table, except in modules without one (Electron's
    # system part 1 carries it at offset 0).
    for offset in dict.fromkeys((platform.module_info_offset, 0)):
        raw = read(0, address + offset, layout.PREFIX_SIZE)
        if raw == layout.ERASED_PREFIX:
            return None, "empty (erased flash)"
        prefix = layout.unpack_prefix(raw)
        if prefix is not None and prefix.plausible_at(address):
            break
    else:
        return None, "no valid module header"
    body = read(0, address, prefix.size)
    if len(body) < prefix.size or not layout.crc_matches(body):
        return None, "CRC check failed (incomplete or corrupt write)"
    if prefix.platform_id != platform.platform_id:
        return None, (f"built for platform {prefix.platform_id}, not {platform.display_name} "
                      f"({platform.platform_id})")
    return Module(address, prefix.function, prefix.index, prefix.version, prefix.platform_id,
                  prefix.dependencies), "ok"


KIND_NAMES = {BOOTLOADER: "bootloader", SYSTEM_PART: "system part", USER_PART: "user part",
              RADIO_STACK: "radio stack"}


def _unmet(module: Module, present: list[Module], only: Optional[int] = None) -> Optional[str]:
    for function, index, version in module.deps:
        if only is not None and function != only:
            continue
        if not any(m.function == function and m.index == index and m.version >= version for m in present):
            kind = KIND_NAMES.get(function, f"module {function}")
            held = [m.version for m in present if m.function == function and m.index == index]
            has = f" (it has version {held[0]})" if held else " (there is none)"
            return f"needs {kind} {index} version >= {version}{has}"
    return None


def device_os_version(read: Reader, platform: Platform) -> Optional[str]:
    """The Device OS version the flash holds (from system part 1's module version), or None."""
    if not platform.system_parts:
        return None
    module, _why = read_module(read, platform, platform.system_parts[0])
    if module is None or module.function != SYSTEM_PART:
        return None
    from particle_py.sim.contents import version_of_module
    return version_of_module(module.version, platform.name)


def bootloader_module(read: Reader, platform: Platform) -> Optional[Module]:
    if platform.bootloader is None:
        return None
    module, _why = read_module(read, platform, platform.bootloader)
    return module if module is not None and module.function == BOOTLOADER else None


def radio_stack_module(read: Reader, platform: Platform) -> Optional[Module]:
    """The SoftDevice, known by its own info structure (its module prefix is not kept in flash)."""
    if platform.radio_stack is None:
        return None
    info = read(0, platform.radio_stack + SD_INFO_OFFSET, 16)
    if len(info) < 16 or struct.unpack_from("<I", info, 4)[0] != SD_MAGIC:
        return None
    fwid = struct.unpack_from("<H", info, SD_FWID_OFFSET)[0]
    return Module(platform.radio_stack, RADIO_STACK, 0, fwid, platform.platform_id, ())


def _unmodelled(platform: Platform) -> list[Module]:
    """Stand-ins satisfying any version of a bootloader or radio stack the table has no address for."""
    return [Module(0, function, index, 0xFFFF, platform.platform_id, ())
            for function, address in ((BOOTLOADER, platform.bootloader), (RADIO_STACK, platform.radio_stack))
            if address is None for index in range(4)]


def platform_modules(read: Reader, platform: Platform) -> list[Module]:
    """The bootloader and radio stack Device OS finds, for dependency checks."""
    return [m for m in (bootloader_module(read, platform), radio_stack_module(read, platform)) if m]


def apply_staged(read: Reader, write: Writer, platform: Platform) -> Optional[str]:
    """Device OS at boot: a module staged in the OTA region with the DCT flag set to 0xA5 is
    copied to its own address if it is intact and for this platform; the flag is cleared
    either way. Returns what happened (None when nothing was staged)."""
    from particle_py.platforms import OTA_FLAG_APPLY, OTA_FLAG_SLOT

    region = platform.ota_region
    if region is None or read(OTA_FLAG_SLOT.alt, OTA_FLAG_SLOT.address, 1) != bytes([OTA_FLAG_APPLY]):
        return None
    write(OTA_FLAG_SLOT.alt, OTA_FLAG_SLOT.address, b"\xff")
    prefix = layout.unpack_prefix(read(region.alt, region.address + platform.module_info_offset, layout.PREFIX_SIZE))
    if (prefix is None or prefix.function != BOOTLOADER or prefix.platform_id != platform.platform_id
            or not prefix.plausible_at()):
        return "staged module ignored: not a bootloader for this platform"
    body = read(region.alt, region.address, prefix.size)
    if not layout.crc_matches(body):
        return "staged bootloader ignored: CRC check failed"
    write(0, prefix.start, body)
    return f"staged bootloader applied at 0x{prefix.start:08x}"


def check_firmware(read: Reader, platform: Platform) -> tuple[str, str]:
    """('normal' | 'safe' | 'dfu', reason)."""
    system: list[Module] = []
    for number, address in enumerate(platform.system_parts, 1):
        module, why = read_module(read, platform, address)
        if module is None or module.function != SYSTEM_PART:
            return "dfu", f"Device OS system part {number} at 0x{address:08x}: {why if module is None else 'not a system part'}"
        system.append(module)
    for module in system:
        unmet = _unmet(module, system, only=SYSTEM_PART)
        if unmet:
            return "dfu", f"Device OS system part {module.index} {unmet}"
    # A bootloader or radio stack older than the system parts need: Device OS starts in safe
    # mode (breathing magenta) and waits for the missing module.
    # A kind of module the platform table has no address for (the rtl872x bootloader) is not
    # modelled: a dependency on it counts as met.
    others = platform_modules(read, platform) + _unmodelled(platform)
    for module in system:
        unmet = _unmet(module, system + others)
        if unmet:
            return "safe", f"Device OS system part {module.index} {unmet}"
    if platform.user_part is None or not platform.system_parts:
        return "normal", "firmware not modelled for this platform beyond its keys"
    return run_user_app(read, platform, system)


def user_regions(read: Reader, platform: Platform) -> tuple:
    """The regions the Device OS in flash tries for the app, in its order (platforms.UserSlots). A
    region that grows left (rtl872x) is given at the start its module names, as Device OS updates
    its module_user bounds at boot (core_hal.c); with no module there it stays as it is."""
    from dataclasses import replace

    from particle_py.platforms import user_slots

    module, _why = read_module(read, platform, platform.system_parts[0]) if platform.system_parts else (None, "")
    regions = user_slots(platform, module.version if module is not None else None).tried
    located = []
    for region in regions:
        start, _code, _why = layout.user_part_start(read, region)
        located.append(replace(region, address=start, grows_left=False)
                       if region.grows_left and start is not None else region)
    return tuple(located)


def run_user_app(read: Reader, platform: Platform, system: list[Module]) -> tuple[str, str]:
    """Device OS's choice of app (user_hal.cpp hal_user_module_get_descriptor): the first region
    it tries that holds an intact module for this platform with its dependencies met; none:
    safe mode. An app where this Device OS does not look (an app for 3.1+ at 0xB4000 under an
    older Device OS) is named in the reason, as it is usually the app the user meant to run."""
    from particle_py.platforms import user_slots

    slots = user_slots(platform, system[0].version)
    notes = []
    for region in slots.tried:
        address, _code, why = layout.user_part_start(read, region)
        user = None
        if address is not None:
            user, why = read_module(read, platform, address)
        if user is None:
            where = f"at 0x{address:08x}" if address is not None else f"ending at 0x{region.address:08x}"
            notes.append(f"no valid user application {where}: {why}")
            continue
        unmet = _unmet(user, system)
        if unmet is None:
            return "normal", f"Device OS and user application valid (the app at 0x{address:08x})"
        notes.append(f"the user application {unmet}" if len(slots.tried) == 1
                     else f"the user application at 0x{address:08x} {unmet}")
    tried = {region.address for region in slots.tried}
    for address in dict.fromkeys(r.address for row in platform.user_slots for r in row.tried):
        if address in tried:
            continue
        user, _why = read_module(read, platform, address)
        if user is not None:
            unmet = _unmet(user, system)
            notes.append(f"the user application at 0x{address:08x} {unmet + ' and ' if unmet else ''}is where "
                         f"Device OS does not look before system part version {_since(platform, address)}")
    return "safe", "; ".join(notes)


def page_the_bootloader_invalidates(read: Reader, platform: Platform, address: int, data: bytes) -> Optional[int]:
    """The page the DFU bootloader erases after writing ``data`` at ``address``, or None. The
    nRF52840 bootloader of 3.1+ (usbd_dfu_mal.cpp InternalFlashMal::write) erases the first page of
    the 128 KB compat app when a write starts an app at the 256 KB part's address whose prefix is
    valid for this platform (FLASH_isUserModuleInfoValid: start address, end, platform id; no CRC),
    so the new app runs rather than an older compat one. The bootloader's age is read from the
    system part in flash, which needs a bootloader of its own release."""
    from particle_py.platforms import user_slots

    if not platform.user_slots or not platform.system_parts:
        return None
    # the prefix first: it rules out every block but a module's first, so the system part (read
    # whole and CRC-checked) is looked at once per module, not once per block
    head = layout.unpack_head(data, platform.module_info_offset)
    if head is None or head.start != address or head.end > 0x100000 or head.platform_id != platform.platform_id:
        return None
    system, _why = read_module(read, platform, platform.system_parts[0])
    slots = user_slots(platform, system.version if system is not None else None)
    if len(slots.tried) < 2 or address != slots.linked.address:
        return None
    return next(region.address for region in slots.tried if region.address != address)


def _since(platform: Platform, address: int) -> int:
    return min(row.since for row in platform.user_slots if any(r.address == address for r in row.tried))


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


# --- safe mode on request, and the setup-done flag ---------------------------------------------
# SAFE_MODE (60) writes ENTER_SAFE_MODE_APP_REQUEST to backup register 1 and resets; the
# bootloader reads it, clears it and starts Device OS in safe mode for that one boot
# (hal/src/*/core_hal.c HAL_Core_Enter_Safe_Mode, bootloader/src/main.c). The register survives
# a reset, not the loss of power: the simulator keeps it beside the board's flash, per board.
ENTER_SAFE_MODE_APP_REQUEST = 0x5AFE
SAFE_MODE_NOTE = "safe mode was requested over USB: Device OS runs, the application does not"

# Device OS before 4.0 on nRF52840 (HAL_PLATFORM_DCT_SETUP_DONE) reads the setup-done byte of
# the DCT at boot; 0x00 or 0xFF (never set) starts listening mode
# (system_network_manager_api.cpp testAndClearListeningModeFlag; dct.h setup_done at 8134).
# From 4.0 the flag is not read and SET_DEVICE_SETUP_DONE no longer writes it.
SETUP_DONE_DCT = (1, 8134)               # (alt, address)
SETUP_DONE_VALUE = 0x01
SETUP_DONE_MCUS = ("nrf52840",)
SETUP_DONE_SINCE = (0, 9, 0)            # the first Gen3 release; the simulator models nothing older
SETUP_DONE_UNTIL = (4, 0, 0)
SETUP_PENDING_NOTE = "setup is not done (the DCT's setup-done flag is not set: particle usb setup-done)"


def _version(text: Optional[str]) -> tuple:
    numbers = []
    for part in (text or "0").split("-", 1)[0].split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        numbers.append(int(digits or 0))
    return tuple(numbers + [0] * (3 - len(numbers)))


def keeps_setup_flag(platform: Platform, version: Optional[str]) -> bool:
    """Whether this Device OS reads and writes the DCT's setup-done flag."""
    return (platform.mcu in SETUP_DONE_MCUS and version is not None
            and SETUP_DONE_SINCE <= _version(version) < SETUP_DONE_UNTIL)


def setup_pending(read: Reader, platform: Platform, version: Optional[str] = None) -> bool:
    """A Device OS that keeps the flag finds it unset: it starts in listening mode."""
    version = version or device_os_version(read, platform)
    if not keeps_setup_flag(platform, version):
        return False
    alt, address = SETUP_DONE_DCT
    return read(alt, address, 1) in (b"\x00", b"\xff")


def _backup_path(state_dir, unit: int):
    import os
    return os.path.join(os.fspath(state_dir), f"unit{unit}-backup-register.txt")


def request_safe_mode(state_dir, unit: int) -> None:
    """SAFE_MODE's write to the backup register, kept for the board's next boot."""
    if state_dir:
        with open(_backup_path(state_dir, unit), "w", encoding="ascii") as f:
            f.write(f"{ENTER_SAFE_MODE_APP_REQUEST:#06x}\n")


def take_safe_mode_request(state_dir, unit: int) -> bool:
    """The bootloader at boot: whether safe mode was requested, the register cleared either way."""
    import os
    if not state_dir:
        return False
    path = _backup_path(state_dir, unit)
    try:
        with open(path, encoding="ascii") as f:
            value = f.read().strip()
        os.unlink(path)
    except OSError:
        return False
    return value == f"{ENTER_SAFE_MODE_APP_REQUEST:#06x}"


def boot(platform: Platform, read: Reader, device_id: str, cloud: Optional[CloudView], *,
         safe_requested: bool = False, setup_check: bool = True, version: Optional[str] = None) -> BootOutcome:
    """What the device shows after this boot. ``safe_requested``: the boot after SAFE_MODE;
    ``setup_check``: whether the setup-done flag still decides (false once the device has
    left the listening mode it started in); ``version``: the Device OS it runs, when the flash
    does not tell (a profile's fw=)."""
    mode, reason = check_firmware(read, platform)
    if mode == "dfu":
        return BootOutcome("dfu", "dfu", reason)
    if setup_check and setup_pending(read, platform, version):
        return BootOutcome("listening", "listening", SETUP_PENDING_NOTE)
    if safe_requested and mode == "normal":
        mode, reason = "safe", SAFE_MODE_NOTE
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
    try:
        held = blob[:der.der_length(blob)]
    except der.DerError:
        held = b""
    if not held or not cloud.accepts_server_key(held):
        return BootOutcome("bad_server_key", mode, f"the server key at DCT {server_slot.address} is not an "
                           f"{'RSA' if server_slot.alg == 'rsa' else 'EC'} server key the cloud answers with "
                           f"(Particle's, its own, or one it was given)")
    host, port = _server_address(blob, server_slot, protocol, device_id)
    if not cloud.accepts_address(protocol, host, port, device_id):
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
    """The simulated cloud (sim/cloud_db.py's SQLite state) as the device's handshake sees it.

    The simulated cloud stands in for Particle's: it takes Particle's official server keys
    and addresses as its own, besides its generated key and any it was given (sim/cloud.py).
    """

    def __init__(self, db):
        self.db = db

    def accepts_server_key(self, spki_der: bytes) -> bool:
        return self.db.accepts_server_key(spki_der)

    def accepts_address(self, protocol: str, host: str, port: int, device_id: str) -> bool:
        return self.db.accepts_address(protocol, host, port, device_id)

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
    from particle_py.sim.cloud_db import CloudDb
    return SimCloudView(CloudDb(db_path))
