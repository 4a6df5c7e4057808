"""Administering simulated Particle devices: make them with chosen contents, show what
they hold and what their LED says, press their buttons.

The device model itself stays stdlib-only; making keys here uses `cryptography`
(imported only by ``create``), since a "good key" must be a real key.
"""
from __future__ import annotations

import random
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from particle_py import platforms
from particle_py.control_codes import MODE_LISTENING
from particle_py.sim import boot as boot_mod
from particle_py.sim import contents, der
from particle_py.sim.bus import SimBus
from particle_py.sim.state import create_state

BUTTONS = ("reset", "dfu", "listen")


@dataclass(frozen=True)
class Recipe:
    """What a new simulated device holds."""
    mode: str = "normal"              # 'normal' or 'dfu'
    key: str = "good"                 # good | corrupt | missing | pkcs8
    server_key: str = "cloud"         # cloud | wrong | missing
    cloud_key: str = "registered"     # registered | other | none
    device_os: Optional[str] = "default"  # a version, None (none), or "default": contents.default_device_os
    user_app: bool = True
    owner: Optional[str] = None
    bootloader: Optional[str] = None  # a profiles.BOOTLOADERS version; None = the platform's default


def _spec(platform: platforms.Platform, mode: str, device_id: Optional[str], bootloader: Optional[str] = None) -> str:
    # real=1: a platform's realistic bootloader, never the dfu-util transcripts' "photon" test profile
    options = ["real=1"] if mode != "normal" else []
    if device_id:
        options.append(f"id={device_id.lower()}")
    if bootloader:
        options.append(f"bl={bootloader}")
    name = platform.name + ("-normal" if mode == "normal" else "")
    return name + (":" + ",".join(options) if options else "")


def cloud_db(folder: Path):
    from particle_py.sim.cloud_db import CloudDb
    db = CloudDb(Path(folder) / "cloud" / "cloud.sqlite")
    db.ensure_server_keys()
    return db


def reader(dev):
    """(alt, address, length) -> bytes of a simulated device's flash; 0xFF past its end."""
    def read(alt: int, address: int, length: int) -> bytes:
        try:
            memory = dev.memory(alt)
        except IndexError:
            return b"\xff" * length
        start = max(address, memory.layout.base)
        end = min(address + length, memory.layout.end)
        if end <= start:
            return b"\xff" * length
        return (b"\xff" * (start - address) + memory.peek(start, end - start) + b"\xff" * (address + length - end))
    return read


def _module_start(platform: platforms.Platform, module: bytes) -> int:
    offset = platform.module_info_offset
    return struct.unpack_from("<I", module, offset)[0]


def _make_key(alg: str, pkcs8: bool = False):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    key = rsa.generate_private_key(65537, 1024) if alg == "rsa" else ec.generate_private_key(ec.SECP256R1())
    fmt = serialization.PrivateFormat.PKCS8 if pkcs8 else serialization.PrivateFormat.TraditionalOpenSSL
    private = key.private_bytes(serialization.Encoding.DER, fmt, serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def _fill(dev, platform: platforms.Platform, recipe: Recipe, db, seed: int) -> None:
    flash = dev.memory(0)
    version = contents.default_device_os(platform) if recipe.device_os == "default" else recipe.device_os
    if version and platform.system_parts:
        for address, module in contents.device_os(platform, version):
            flash.poke(address, module)
    if recipe.user_app and platform.user_part is not None:
        app = contents.user_app(platform, version or contents.default_device_os(platform))
        flash.poke(_module_start(platform, app), app)
    protocol = platform.default_protocol
    key_slot, server_slot = platform.device_key[protocol], platform.server_key[protocol]
    dct = dev.memory(key_slot.alt)
    public = None
    if recipe.key in ("good", "pkcs8"):
        private, public = _make_key(key_slot.alg, pkcs8=recipe.key == "pkcs8")
        dct.poke(key_slot.address, private)          # PKCS#8 overflows its slot, as dfu-util would write it
    elif recipe.key == "corrupt":
        dct.poke(key_slot.address, random.Random(seed).randbytes(key_slot.size))
    if recipe.server_key != "missing":
        if recipe.server_key == "cloud":
            server = (db.server_keys_dir() / f"server_{server_slot.alg}.pub.der").read_bytes()
        else:
            server = _make_key(server_slot.alg)[1]
        dct.poke(server_slot.address, server + b"\xff" * (server_slot.size - len(server)))
    if platform.mcu in boot_mod.SETUP_DONE_MCUS:     # a made device has been set up by its owner
        alt, address = boot_mod.SETUP_DONE_DCT
        dev.memory(alt).poke(address, bytes([boot_mod.SETUP_DONE_VALUE]))
    registered = None
    if recipe.cloud_key == "registered":
        registered = public if public is not None else _make_key(key_slot.alg)[1]
    elif recipe.cloud_key == "other":
        registered = _make_key(key_slot.alg)[1]
    db.add_device(dev.profile.device_id, recipe.owner, public_key=registered)


def create(folder: Path, names: Iterable[str], recipe: Recipe, knobs: Optional[dict] = None,
           first_id: Optional[str] = None) -> list[str]:
    """Replace the folder's devices with new ones; returns one line per device."""
    folder = Path(folder)
    specs, plats = [], []
    for number, name in enumerate(names):
        platform = platforms.by_name(name)
        plats.append(platform)
        device_id = first_id if number == 0 else None
        # With no Device OS the bootloader has nothing to start: the device is in DFU mode, as its
        # LED says, whatever mode was asked for.
        mode = "dfu" if platform and not recipe.device_os and platform.system_parts else recipe.mode
        specs.append(_spec(platform, mode, device_id, recipe.bootloader) if platform else name)
    bus = create_state(folder, specs, knobs or {})
    _save_unplugged(folder, [])
    db = cloud_db(folder) if any(plats) else None
    lines = []
    for number, (dev, platform) in enumerate(zip(bus.devices(), plats)):
        if platform is not None:
            _fill(dev, platform, recipe, db, seed=number)
        lines.append(f"Created {describe(dev)}")
    bus.save()
    if db is not None:
        db.close()
    return lines


def describe(dev) -> str:
    platform = platforms.by_name(dev.profile.platform or "")
    what = platform.display_name if platform else dev.profile.name
    mode = "DFU mode" if dev.profile.is_dfu_mode else ("listening mode" if getattr(dev, "mode", 0) == MODE_LISTENING
                                                       else "normal mode")
    ident = dev.profile.device_id or dev.profile.serial or "-"
    return f"{what} {ident} [{dev.vid:04x}:{dev.pid:04x}] on {dev.path}, {mode}"


def outcome(dev, folder: Path, view=None) -> Optional[boot_mod.BootOutcome]:
    """What the device shows now (DFU and listening mode) or would show if it booted now."""
    platform = platforms.by_name(dev.profile.platform or "")
    if platform is None or not dev.profile.device_id:
        return None
    if dev.profile.is_dfu_mode:
        return boot_mod.BootOutcome("dfu", "dfu", "in the DFU bootloader")
    if getattr(dev, "mode", 0) == MODE_LISTENING:
        pending = getattr(dev, "setup_pending", lambda: False)()
        return boot_mod.BootOutcome("listening", "listening",
                                    boot_mod.SETUP_PENDING_NOTE if pending else "the MODE button was held")
    if view is None:
        view = boot_mod.open_cloud_view(folder)
    # a running device has left any listening mode it started in; safe mode lasts this boot
    return boot_mod.boot(platform, reader(dev), dev.profile.device_id, view,
                         safe_requested=getattr(dev, "safe_mode", False), setup_check=False)


def _key_summary(dev, platform: platforms.Platform) -> list[str]:
    read = reader(dev)
    protocol = boot_mod.cloud_protocol(read, platform)
    slot, server = platform.device_key[protocol], platform.server_key[protocol]
    blob = read(slot.alt, slot.address, slot.size)
    if blob == b"\xff" * slot.size:
        key = "empty"
    else:
        try:
            length = der.der_length(blob)
            kind = "PKCS#1 RSA" if slot.alg == "rsa" else "SEC1 EC"
            (der.parse_pkcs1_private if slot.alg == "rsa" else der.parse_sec1_private)(blob)
            key = f"{kind} DER, {length} bytes" + (" (too long for the slot)" if length > slot.size else "")
        except der.DerError as exc:
            key = f"not usable ({exc})"
    server_blob = read(server.alt, server.address, server.size)
    server_text = "empty" if server_blob[:4] == b"\xff" * 4 else f"{server.size}-byte blob"
    return [f"  protocol: {protocol}; device key at DCT {slot.address}: {key}; "
            f"server key at DCT {server.address}: {server_text}"]


def _device_os_text(dev, platform: platforms.Platform) -> str:
    if not platform.system_parts:
        return "not modelled for this platform (identify reports " + dev._firmware_version() + ")"
    found = boot_mod.device_os_version(reader(dev), platform)
    return found or "none (no valid system part 1)"


def status(folder: Path) -> list[str]:
    bus = SimBus.load(folder)
    lines = []
    for dev in bus.devices():
        lines.append(describe(dev))
        shown = outcome(dev, folder)
        platform = platforms.by_name(dev.profile.platform or "")
        if shown is not None:
            lines.append(f"  LED: {shown.led} ({shown.meaning})")
            lines.append(f"  why: {shown.reason}")
            if dev.profile.is_dfu_mode:
                after = boot_mod.boot(platform, reader(dev), dev.profile.device_id, boot_mod.open_cloud_view(folder))
                lines.append(f"  after a reset: {after.led} ({after.reason})")
        if platform is not None and dev.profile.device_id:
            lines.append(f"  Device OS: {_device_os_text(dev, platform)}")
            lines.extend(_key_summary(dev, platform))
    bus.save()           # booting may have locked a key in the cloud; keep the bus as it was
    lines += [f"{r['description'].split(' [')[0]}: unplugged (particle-sim plug)" for r in _unplugged(folder)]
    return lines or ["No simulated devices attached."]


def listing(folder: Path) -> list[str]:
    bus = SimBus.load(folder)
    lines = [describe(dev) for dev in bus.devices()]
    lines += [f"{r['description'].split(' [')[0]}: unplugged (particle-sim plug)" for r in _unplugged(folder)]
    return lines or ["No simulated devices attached."]


def _pick(bus: SimBus, device: Optional[str]):
    candidates = [d for d in bus.devices() if d.profile.platform and d.profile.device_id]
    if device:
        wanted = device.lower()
        candidates = [d for d in candidates if d.path == wanted or d.profile.device_id.startswith(wanted)]
    if len(candidates) != 1:
        from particle_py.errors import ParticlePyError
        raise ParticlePyError("No simulated Particle device matches." if not candidates else
                              "More than one simulated Particle device: choose one with --device ID.", exit_code=2)
    return candidates[0]


def successor_after_boot(dev, folder) -> str:
    """The profile a Particle device comes back as when it boots from what it holds."""
    platform = platforms.by_name(dev.profile.platform)
    result = boot_mod.boot(platform, reader(dev), dev.profile.device_id, boot_mod.open_cloud_view(folder))
    return _spec(platform, "dfu" if result.mode == "dfu" else "normal", dev.profile.device_id,
                 dev.profile.bootloader)


def press(folder: Path, action: str, device: Optional[str]) -> str:
    bus = SimBus.load(folder)
    dev = _pick(bus, device)
    platform = platforms.by_name(dev.profile.platform)
    dev.save_memories()
    if action == "reset":
        if boot_mod.check_firmware(reader(dev), platform)[0] != "dfu":        # Device OS applies staged modules
            boot_mod.apply_staged(reader(dev), lambda alt, address, data: dev.memory(alt).poke(address, data),
                                  platform)
        target = successor_after_boot(dev, folder)
    else:
        target = _spec(platform, "dfu" if action == "dfu" else "normal", dev.profile.device_id,
                       dev.profile.bootloader)
    dev.leave_bus(target)
    new = next(d for d in bus.devices() if d.profile.device_id == dev.profile.device_id)
    if action == "listen" and hasattr(new, "mode"):
        new.mode = MODE_LISTENING
    shown = outcome(new, folder)
    bus.save()
    return f"{describe(new)}: {shown.led} ({shown.meaning}; {shown.reason})"


# --- unplugging and plugging back -----------------------------------------------------------
UNPLUGGED_FILE = "unplugged.json"


def _unplugged(folder: Path) -> list:
    import json
    path = Path(folder) / UNPLUGGED_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []


def _save_unplugged(folder: Path, records: list) -> None:
    import json
    path = Path(folder) / UNPLUGGED_FILE
    if records:
        from particle_py.sim.private import write_private
        write_private(str(path), json.dumps(records, indent=1).encode("utf-8"))     # boards' keys, as state.json
    elif path.exists():
        path.unlink()


def unplug(folder: Path, device: Optional[str]) -> str:
    """Pull the USB cable: the device leaves the bus and keeps what its flash holds."""
    with SimBus.session(folder) as bus:
        dev = _pick(bus, device)
        dev.save_memories()
        record = {"platform": dev.profile.platform, "id": dev.profile.device_id, "unit": dev.unit,
                  "bootloader": dev.profile.bootloader,
                  "port": dev.port_numbers[0], "description": describe(dev)}
        dev.leave_bus(None)
        bus.devices()
    _save_unplugged(folder, _unplugged(folder) + [record])
    return f"Unplugged {record['description'].split(' [')[0]} (plug it back in: particle-sim plug)"


def plug(folder: Path, device: Optional[str], dfu: bool = False) -> str:
    """Plug an unplugged device back in: it boots from what it holds (or, holding MODE, stays in
    DFU mode)."""
    records = _unplugged(folder)
    wanted = [r for r in records if not device or r["id"].startswith(device.lower())]
    if len(wanted) != 1:
        from particle_py.errors import ParticlePyError
        raise ParticlePyError("No unplugged simulated device matches." if not wanted else
                              "More than one device is unplugged: choose one with --device ID.",
                              "particle-sim list shows the devices on the bus.", 2)
    record = wanted[0]
    platform = platforms.by_name(record["platform"])
    with SimBus.session(folder) as bus:
        new = bus.attach(_spec(platform, "dfu", record["id"], record.get("bootloader")), unit=record["unit"],
                         port=record["port"])
        if not dfu:
            target = successor_after_boot(new, folder)
            if target != new.profile.spec:
                new.leave_bus(target)
                new = next(d for d in bus.devices() if d.profile.device_id == record["id"])
        shown = outcome(new, folder)
        line = f"{describe(new)}: {shown.led} ({shown.meaning}; {shown.reason})"
    _save_unplugged(folder, [r for r in records if r is not record])
    return line
