"""`particle keys` as operations: new, load, save, send, doctor, server, address, protocol.

Each flow reports its lines as Step events to ``reporter`` (the front end prints them,
particle-cli's wording) and raises ParticlePyError on failure. Rules kept by every
flow: key files are checked before the device is touched; a key slot is backed
up (``backup.save_slot``) before any write; every write is read back and
compared; private key files are created 0600 and never overwritten (an older file
is renamed aside).
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from particle_py.errors import Interrupted, ParticlePyError, deferred_interrupts
from particle_py.events import QUIET, Reporter
from particle_py.firmware.classify import KEY_FILE_MAX, classify, parse_key_file, read_input_file
from particle_py.keys import backup
from particle_py.platforms import ELECTRON_TRANSPORT_SLOT, Platform, by_name, names
from particle_py.private_files import write_public_file, write_secret_file

SHORT_ID_WARNING = (
    "***************************************************************\n"
    "   Warning! - device id was shorter than 24 characters - did you use something other than an id?\n"
    "   use particle identify to find your device id\n"
    "***************************************************************")

# Particle's default server public keys (particle-cli assets, device-behaviour.md §5).
DEFAULT_SERVER_KEYS = {
    "tcp": ("assets/keys/rsa.pub.der", "2a1c82fb5f28fe1ba95b4af966aca326eb22398b977fa2540233dbe703fddb16"),
    "udp": ("assets/keys/ec.pub.der", "8bf15949f650e70f7a575b15585084ac12af597642427a5ca00a427d421affa4"),
}
OLD_DEFAULT_KEY_NAME = "device"     # `keys new` with no name, particle-cli 1.x-3.15 (docs/eras.md)
TRANSPORT_DEFAULT = 0xFF        # cloud_transport byte: platform default protocol
TRANSPORT_ALTERNATIVE = 0x00    # the platform's other protocol (tcp on the Electron)
DEVICE_ALGORITHM = {"rsa": "rsa", "ec": "ecc"}     # our alg name -> the provisioning API's


def filename_no_ext(name: str) -> str:
    """particle-cli's filenameNoExt: strip the last extension of the last path component."""
    head, tail = os.path.split(name)
    stem, dot, _ = tail.rpartition(".")
    return os.path.join(head, stem) if dot and stem else name


def _device_key_slot(platform: Platform, protocol: str):
    slot = platform.device_key.get(protocol)
    if slot is None:
        raise _unsupported_protocol(platform, protocol)
    return slot


def _unsupported_protocol(platform: Platform, protocol: str) -> ParticlePyError:
    return ParticlePyError(f"The device does not support the protocol {protocol}. It has support for "
                           f"{', '.join(platform.protocols)}",
                           f"Run the command without --protocol, or with --protocol {platform.default_protocol}.")


def has_transport_byte(platform: Platform) -> bool:
    # A platform that speaks more than one protocol keeps its choice in the DCT transport byte.
    return len(platform.protocols) > 1


def offline_alg(protocol: str) -> str:
    if protocol not in ("tcp", "udp"):
        raise ParticlePyError(f"Unknown protocol {protocol}.", "Use --protocol tcp or --protocol udp.")
    return "ec" if protocol == "udp" else "rsa"


# --- the device ---------------------------------------------------------------------------

def open_device(device_id: Optional[str] = None, *, need_dfu: bool = True, reporter: Reporter = QUIET,
                need_id: bool = False):
    # The target is resolved before any device changes mode (ops.device.resolve_target): a
    # mistyped id or a name changes nothing. A bootloader that shows no id (2015 Gen2, Core) has
    # the id confirmed by the device itself first (ops.device.confirm_identity); ``need_id``: also
    # when none was given (backups and cloud calls use the device's own id only).
    from particle_py.ops import protection
    from particle_py.ops.device import open_entry
    from particle_py.ops.discovery import release_entry, resolve_target

    entry = resolve_target(device_id, need_dfu=need_dfu)
    try:
        # a Protected Device refuses the DCT's reads and writes: said before it changes mode
        protection.check(entry)
    except BaseException:
        release_entry(entry)
        raise
    return open_entry(entry, need_dfu=need_dfu, reporter=reporter, need_id=need_id)


def _id_for_file_name(device_id: str) -> str:
    """The device id as the default file name; refused when the device shows none (a USB serial
    that is not an id never becomes part of a path: ops.device keeps only letters and digits)."""
    if not device_id or not device_id.isalnum():
        raise ParticlePyError("The device shows no device ID over USB, so there is no default file name.",
                              "Give a file name on the command line.")
    return device_id


def is_full_id(text: Optional[str]) -> bool:
    return bool(text) and len(text) == 24 and all(c in "0123456789abcdef" for c in text.lower())


def _require_full_id(device) -> None:
    """Cloud calls need the real 24-hex id; old bootloaders show a short serial in DFU mode."""
    if not is_full_id(device.device_id):
        from particle_py.ops.device import NO_ID_HINT

        raise ParticlePyError(f"The device shows {device.device_id or 'no id'} over USB, not its 24-character "
                              f"device ID, and it has no firmware it can start to show it.", NO_ID_HINT)


def device_protocol(device, requested: Optional[str] = None) -> str:
    """--protocol when given (checked), else the Electron's transport byte, else the platform default."""
    platform = device.platform
    if requested:
        requested = requested.lower()
        if requested not in platform.protocols:
            raise _unsupported_protocol(platform, requested)
        return requested
    if has_transport_byte(platform):
        value = read_slot(device, ELECTRON_TRANSPORT_SLOT)[0]
        return platform.protocols[0] if value == TRANSPORT_DEFAULT else platform.protocols[1]
    return platform.default_protocol


def read_slot(device, slot) -> bytes:
    """Read a DCT slot; particle-cli retries a failed read once, and so do we."""
    try:
        return bytes(device.read(slot.alt, slot.address, slot.size))
    except ParticlePyError:
        return bytes(device.read(slot.alt, slot.address, slot.size))


class SlotUnreadable(ParticlePyError):
    """A key slot outside the memory the device's DFU mode lets us read: not a connection problem."""


def read_key_slot(device, slot, what: str) -> bytes:
    """``read_slot``, but a slot the device's memory map does not let us read is SlotUnreadable,
    with the next step (the device is connected; reading again cannot help)."""
    try:
        gap = device.memory_map(slot.alt).first_gap(slot.address, slot.address + slot.size, "readable")
    except (AttributeError, ParticlePyError):
        gap = None                      # no map to go by: the read itself will tell
    if gap is not None:
        platform = device.platform
        raise SlotUnreadable(
            f"The {what} (DCT address {slot.address}, {slot.size} bytes) cannot be read: the device's DFU "
            f"mode reports no readable memory at 0x{gap:08x} on alt {slot.alt}",
            f"Check that this is a {platform.display_name} (`particle usb list` names what particle-py "
            f"takes it for); if it is, its bootloader describes its memory wrongly: update it "
            f"(`particle update`), then run the command again.", 74)     # EX_IOERR, as the read said
    return read_slot(device, slot)


def _is_emulated_dct(platform: Platform, alt: int) -> bool:
    # The bootloader emulates the DCT alt (writes replace bytes; Gen3's cannot even be erased), so
    # keys go there without an erase, as particle-cli writes them. The Core keeps its keys in raw
    # SPI flash, where a page must be erased before it can take new bytes.
    return alt < len(platform.dfu_layouts) and platform.dfu_layouts[alt].startswith("@DCT")


def write_verified(device, slot, data: bytes) -> None:
    """Write (no erase on the emulated DCT), then read back and compare."""
    erase = False if _is_emulated_dct(device.platform, slot.alt) else None
    device.write(slot.alt, slot.address, data, erase=erase, verify=True)
    back = bytes(device.read(slot.alt, slot.address, len(data)))
    if back != data:
        raise ParticlePyError(f"The device reads back different bytes at DCT address {slot.address} than were "
                              f"written ({sum(a != b for a, b in zip(back, data))} of {len(data)} differ).")


def _close(device) -> None:
    try:
        with deferred_interrupts(drop=True):    # a signal while closing up changes no outcome
            device.close()
    except Exception:       # closing a device that vanished must not hide the real outcome
        pass


# --- key files ----------------------------------------------------------------------------

@dataclass
class KeyFiles:
    der: Path
    pem: Path
    pub_pem: Path
    moved_aside: list = field(default_factory=list)


CONNECT_PREFIX = "Make sure your device is connected to your computer: "


@contextlib.contextmanager
def _on_device(device_id: Optional[str], reporter: Reporter, prefix: str = CONNECT_PREFIX, *,
               need_id: bool = False):
    """The opened device; every error (opening included) carries particle-cli's prefix, and the
    device is always closed."""
    try:
        device = open_device(device_id, reporter=reporter, need_id=need_id)
    except ParticlePyError as err:
        raise ParticlePyError(prefix + err.message, err.hint, err.exit_code)
    try:
        yield device
    except SlotUnreadable:
        raise                           # the device is connected: "make sure it is" would mislead
    except ParticlePyError as err:
        raise ParticlePyError(prefix + err.message, err.hint, err.exit_code)
    finally:
        _close(device)


def _server_slot(platform: Platform, protocol: str):
    slot = platform.server_key.get(protocol)
    if slot is None:
        raise _unsupported_protocol(platform, protocol)
    return slot


def write_key_files(base: str, private_key) -> KeyFiles:
    """<base>.pem, <base>.pub.pem, <base>.der as particle-cli's OpenSSL chain names them.

    An existing private key file with other bytes is renamed aside, never overwritten.
    """
    from particle_py.keys import formats

    files = KeyFiles(Path(base + ".der"), Path(base + ".pem"), Path(base + ".pub.pem"))
    for path in (files.der, files.pem, files.pub_pem):
        backup.existing_bytes(path)          # a folder in the way is refused before any file is written
    contents = {files.pem: formats.private_pem(private_key), files.der: formats.device_der(private_key)}
    with deferred_interrupts():         # the three files of one key, never a .der without its .pem
        for path, data in contents.items():
            if backup.existing_bytes(path) not in (None, data):
                files.moved_aside.append(backup.move_aside(path))
            write_secret_file(path, data)
        write_public_file(files.pub_pem, formats.public_pem(private_key))
    return files


def _report_aside(reporter: Reporter, moved: list) -> None:
    for path in moved:
        reporter.step(f"Kept the previous file as {path}")


def _find_key_file(filename: str, extra_suffixes=(".der",)) -> Optional[Path]:
    if os.path.isfile(filename):
        return Path(filename)
    if os.path.exists(filename):             # a folder, FIFO or device: say what it is
        _read_file(Path(filename))
    for suffix in extra_suffixes:
        candidate = filename_no_ext(filename) + suffix
        if os.path.isfile(candidate):
            return Path(candidate)
    return None


def _read_file(path: Path) -> bytes:
    return read_input_file(path, KEY_FILE_MAX, "key file")


def _require_server_public_key(filename: str) -> None:
    """Refuse anything but a public key for the server-key slot, before any device is touched:
    a device's private key there (a common mix-up) stops the device reaching the cloud."""
    kind = classify(_read_file(Path(filename)))
    if kind.kind != "public-key":
        raise ParticlePyError(f"{filename} is {kind}; `keys server` needs the server's public key (DER or PEM).",
                              "Nothing was changed on the device. Run `particle keys server` without a file for "
                              "the Particle cloud's key, or give your own cloud's public key. A device's private "
                              "key goes to the device with `particle keys load`.")


def _backup_device_key(device, slot, name: str, reporter: Reporter) -> backup.Backup:
    from particle_py.keys import formats

    current = read_slot(device, slot)
    info = formats.parse_device_slot(current, slot.alg)
    pub = formats.public_pem(info.key) if info else None
    # particle-cli's name for it, always .der: it holds the slot's DER bytes whatever the input file was
    local_name = f"backup_{slot.alg}_{os.path.basename(filename_no_ext(name))}.der"
    saved = backup.save_slot(device.device_id, "device-key", slot.alg, current, local_name=local_name,
                             public_pem=pub)
    _report_aside(reporter, saved.moved_aside)
    reporter.step(f"Saved existing key to {saved.local}")
    reporter.step(f"A copy is kept in {saved.archive}")
    if info is None and current.count(0xFF) == len(current):
        reporter.step("The device had no key (its key slot was empty).")
    elif info is None:
        reporter.step("The key on the device was not a valid key; its raw bytes were saved as they were.")
    return saved


def _restore_hint(saved: backup.Backup) -> str:
    return (f"To put the previous key back, reconnect the device and run: particle keys load {saved.local}\n"
            f"(a copy is also in {saved.archive})")


def _write_device_key(device, slot, der: bytes, saved: backup.Backup) -> None:
    """Write a device key; on failure, put the saved key back when the device still answers.

    The write, its check and any write-back are one step a signal cannot cut (it takes a moment):
    the device ends with the old key or the new one, never neither. A signal that arrived during
    the step is raised after it, marked ``key_written``."""
    try:
        with deferred_interrupts():
            _write_or_restore(device, slot, der, saved)
    except Interrupted as sig:
        sig.key_written = True
        raise


def _write_or_restore(device, slot, der: bytes, saved: backup.Backup) -> None:
    try:
        write_verified(device, slot, der)
    except ParticlePyError as err:
        restored = False
        try:
            write_verified(device, slot, saved.slot_bytes[:len(der)] if len(saved.slot_bytes) >= len(der)
                           else saved.slot_bytes)
            restored = read_slot(device, slot)[:len(der)] == saved.slot_bytes[:len(der)]
        except Exception:
            restored = False
        if restored:
            raise ParticlePyError(f"{err.message}\nThe device still has its previous key (it was written back).",
                                  "Check the USB connection and run the command again.")
        raise ParticlePyError(f"{err.message}\nThe device's key slot may hold a partly written key.",
                              _restore_hint(saved))


# --- keys new -----------------------------------------------------------------------------

def new(filename: Optional[str] = None, *, protocol: Optional[str] = None, device_id: Optional[str] = None,
        reporter: Reporter = QUIET) -> KeyFiles:
    from particle_py.keys import formats

    try:
        if protocol:
            # As in particle-cli 2.x: with --protocol no device is needed, the protocol sets the key type.
            alg = offline_alg(protocol.lower())
            base = filename_no_ext(filename or OLD_DEFAULT_KEY_NAME)
            files = write_key_files(base, formats.generate(alg))
            _report_aside(reporter, files.moved_aside)
            reporter.step(f"New key {files.der} created")
            return files
        device = open_device(device_id, reporter=reporter, need_id=filename is None)
        try:
            proto = device_protocol(device)
            alg = _device_key_slot(device.platform, proto).alg
            ident = device.device_id
        finally:
            _close(device)
        base = filename_no_ext(filename or _id_for_file_name(ident))
        private_key = formats.generate(alg)
        files = write_key_files(base, private_key)
        _report_aside(reporter, files.moved_aside)
        reporter.step(f"New key {files.der} created for device {ident}")
        if not filename and base != OLD_DEFAULT_KEY_NAME:
            # particle-cli before 3.16 named them device.*; guides of that era go on with
            # `dfu-util ... -D device.der` or `keys send <id> device.pub.pem` (docs/eras.md)
            old = write_key_files(OLD_DEFAULT_KEY_NAME, private_key)
            _report_aside(reporter, old.moved_aside)
            reporter.step(f"The same key is also in {old.der}, {old.pem} and {old.pub_pem} (the names particle-cli "
                f"used before 3.16)")
        return files
    except ParticlePyError as err:
        raise ParticlePyError(f"Error creating keys: {err.message}", err.hint, err.exit_code)


DEVICE_RETRY_HINT = ("Check the USB cable and port (plug the device in directly, not through a hub), make sure "
                     "the device is still in DFU mode (blinking yellow), then run the command again.")


def _with_retry_hint(err: ParticlePyError) -> Optional[str]:
    """A USB or DFU failure that brings no fix of its own gets the generic next step."""
    from particle_py.dfu.engine import DfuError
    from particle_py.errors import UsbError

    if err.hint or not isinstance(err, (UsbError, DfuError)):
        return err.hint
    return DEVICE_RETRY_HINT


# --- keys load ----------------------------------------------------------------------------

def load(filename: Optional[str] = None, *, device_id: Optional[str] = None, protocol: Optional[str] = None,
         reporter: Reporter = QUIET) -> backup.Backup:
    from particle_py.keys import formats

    def fail(err: ParticlePyError):
        return ParticlePyError(f"Error writing key to device.: {err.message}", _with_retry_hint(err),
                               err.exit_code)

    info = None
    if filename:
        # Check the file before the device is touched.
        path = _find_key_file(filename, (".der", ".pem"))
        if path is None:
            raise fail(ParticlePyError(f"I couldn't find the file: {filename_no_ext(filename)}.der",
                                       "Give the path of a key file, e.g. one written by `particle keys new`."))
        try:
            info = parse_key_file(_read_file(path), str(path))
        except ParticlePyError as err:
            raise fail(err)
        refusal = formats.server_key_refusal(info, str(path), "Nothing was written to the device.")
        if refusal is not None:
            raise fail(refusal)
        if not info.private:
            raise fail(formats.key_error(f"{path} is a public key; the device needs its private key.",
                                         "Load the private key file (.der or .pem), not the .pub.pem."))
    try:
        device = open_device(device_id, reporter=reporter, need_id=True)      # the backup is filed by id
    except ParticlePyError as err:
        raise fail(err)
    saved = None
    written = told = False
    try:
        if info is None:
            path = _find_key_file(_id_for_file_name(device.device_id), (".der", ".pem"))
            if path is None:
                raise ParticlePyError(f"I couldn't find the file: {device.device_id}.der",
                                      "Give the key file to load.")
            info = parse_key_file(_read_file(path), str(path))
            refusal = formats.server_key_refusal(info, str(path), "Nothing was written to the device.")
            if refusal is not None:
                raise refusal
        proto = device_protocol(device, protocol)
        slot = _device_key_slot(device.platform, proto)
        der = formats.check_device_key(info, slot, str(path))
        reporter.step("Writing key to device")
        reporter.step(f"Writing key {path} to device {device.device_id}")
        saved = _backup_device_key(device, slot, str(path), reporter)
        _write_device_key(device, slot, der, saved)
        written = True
        with deferred_interrupts(drop=True):    # the success line whole; a signal from here changes nothing
            told = True
            reporter.step(f"Key {path} written to device")
        return saved
    except ParticlePyError as err:
        raise fail(err)
    except Interrupted as sig:
        if told:
            return saved        # done and said so: a signal now changes no outcome (exit 0)
        if written or getattr(sig, "key_written", False):
            raise ParticlePyError(f"{sig.label} after the key was written: the device holds the key "
                                  f"from {path} (written and read back).", _restore_hint(saved),
                                  sig.exit_code) from None
        kept = "The device still has its previous key" + (f" (saved to {saved.local})." if saved else ".")
        raise ParticlePyError(f"{sig.label} before the key was written. {kept}",
                              "Run the command again to load the key.", sig.exit_code) from None
    finally:
        _close(device)


# --- keys save ----------------------------------------------------------------------------

def save(filename: Optional[str] = None, *, force: bool = False, device_id: Optional[str] = None,
         protocol: Optional[str] = None, reporter: Reporter = QUIET) -> Path:
    from particle_py.keys import formats

    def exists_error(target: str):
        return ParticlePyError(f"The file {target} already exists, please specify a different file, or use the "
                               f"--force flag.")
    def refuse_existing(target: str):
        # the .pub.pem written beside it is refused the same way (it was silently replaced)
        for path in (target, filename_no_ext(target) + ".pub.pem"):
            if os.path.exists(path) and not force:
                raise exists_error(path)
    target = None
    if filename:
        target = filename_no_ext(filename) + ".der"
        refuse_existing(target)
    try:
        device = open_device(device_id, reporter=reporter, need_id=target is None)
    except ParticlePyError as err:
        raise ParticlePyError(f"Error saving key from device: {err.message}", _with_retry_hint(err), err.exit_code)
    try:
        if target is None:
            target = _id_for_file_name(device.device_id) + ".der"
            refuse_existing(target)
        proto = device_protocol(device, protocol)
        slot = _device_key_slot(device.platform, proto)
        data = read_key_slot(device, slot, "device key slot")
    except SlotUnreadable as err:       # its own next step, not the cable-and-port one
        raise SlotUnreadable(f"Error saving key from device: {err.message}", err.hint, err.exit_code) from None
    except ParticlePyError as err:
        raise ParticlePyError(f"Error saving key from device: {err.message}", _with_retry_hint(err), err.exit_code)
    except Interrupted as sig:
        raise ParticlePyError(f"{sig.label} while reading the key: no file was written.",
                              "The device was only read; nothing on it changed.", sig.exit_code) from None
    finally:
        _close(device)
    with deferred_interrupts():         # the .der and its .pub.pem: both written, or the error says which
        out = write_secret_file(target, data)
        pub_path = Path(filename_no_ext(target) + ".pub.pem")
        info = formats.parse_device_slot(data, slot.alg)
        if info is None:
            if force and pub_path.exists():
                pub_path.unlink()
            raise ParticlePyError("Unable to generate a public key from the key downloaded from the device. This "
                                  "usually means you had a corrupt key on the device.",
                                  f"The slot's raw bytes were saved to {out}. Run `particle keys doctor` to give "
                                  f"the device a new key.")
        write_public_file(pub_path, formats.public_pem(info.key))
        reporter.step(f"Saved existing key to {out}")
    return out


# --- keys send ----------------------------------------------------------------------------

def _looks_like_id(text: str) -> bool:
    return all(c in "0123456789abcdefABCDEF" for c in text) and 0 < len(text) <= 24


def send(device_id: Optional[str] = None, filename: Optional[str] = None, *, product_id: Optional[int] = None,
         reporter: Reporter = QUIET, settings=None) -> dict:
    from particle_py.cloud.api import client_from_config
    from particle_py.cloud.config import Settings
    from particle_py.keys import formats

    def fail(err: ParticlePyError):
        return ParticlePyError(f"Error sending public key to server: {err.message}", err.hint, err.exit_code)

    # `keys send photon.pub.pem` (one argument that is a file, not an id): take the id from USB.
    if device_id and filename is None and not _looks_like_id(device_id) and os.path.isfile(device_id):
        device_id, filename = None, device_id
    settings = settings or Settings()
    if not settings.access_token:
        from particle_py.cloud.api import not_logged_in
        raise fail(not_logged_in())
    wanted_alg = None           # known when the device is the connected one: its protocol's key type
    if device_id is None:
        try:
            device = open_device(None, need_dfu=False, reporter=reporter, need_id=True)
        except ParticlePyError as err:
            raise fail(err)
        device_id = device.device_id
        if len(device.platform.protocols) == 1:     # an Electron may use either (its DCT says which)
            wanted_alg = device.platform.device_key[device.platform.default_protocol].alg
        _close(device)
        if not is_full_id(device_id):
            raise fail(ParticlePyError(f"The device shows {device_id or 'no id'} over USB, not its 24-character "
                                       f"device ID.", "Give the id: particle keys send <deviceID> <filename>"))
    device_id = device_id.lower()
    if len(device_id) < 24:
        reporter.step(SHORT_ID_WARNING)
    wanted = filename or device_id
    path = _find_key_file(wanted, (".pub.pem",))
    if path is None:
        raise fail(ParticlePyError(f"Couldn't find {wanted}",
                                   "Give the key file: particle keys send <deviceID> <file.pub.pem or .der>"))
    info = parse_key_file(_read_file(path), str(path))
    try:
        formats.check_public_device_key(info, str(path), wanted_alg)
    except ParticlePyError as err:
        raise fail(err)
    api = client_from_config(settings)
    try:
        api.require_fresh_token()
        reporter.step(f"attempting to add a new public key for device {device_id}")
        body = api.provision_key(device_id, formats.public_pem(info.key).decode(), DEVICE_ALGORITHM[info.alg],
                                 product_id)
    except ParticlePyError as err:
        raise fail(err)
    reporter.step("submitting public key succeeded!")
    return body


# --- keys doctor --------------------------------------------------------------------------

def doctor(device_id: Optional[str] = None, *, protocol: Optional[str] = None, reporter: Reporter = QUIET,
           settings=None, prove=None) -> KeyFiles:
    """New key, backup of the old one, cloud update, proof, verified write, then restart.

    The cloud is checked before the device is touched. The new public key goes to the cloud
    first; ``prove(device, protocol, private_key, reporter) -> Proof`` (ops/verify.py's
    new_key_prover, given by the front end; None: --no-verify) then runs the device's handshake
    with the new key, and a cloud that refuses it leaves the device unwritten. If anything fails
    after the new key is written, it stays on the device (its files are on disk) and the error
    says how to finish (`keys send`) or roll back (`keys load <backup>`).
    """
    from particle_py.cloud.api import client_from_config, not_logged_in
    from particle_py.cloud.config import Settings
    from particle_py.keys import formats

    prefix = "Make sure your device is connected to your computer, and that your computer is online: "

    def fail(err: ParticlePyError, extra_hint: Optional[str] = None):
        hint = "\n".join(h for h in (err.hint, extra_hint) if h)
        return ParticlePyError(prefix + err.message, hint or None, err.exit_code)

    if device_id:
        device_id = device_id.lower()
        if len(device_id) < 24:
            reporter.step(SHORT_ID_WARNING)
    settings = settings or Settings()
    api = client_from_config(settings)
    nothing_changed = "Nothing was changed on the device."
    try:
        if not settings.access_token:
            raise not_logged_in()
        api.require_fresh_token()
    except ParticlePyError as err:
        if getattr(err, "status", None) != 401:
            raise fail(err, nothing_changed)            # the network, the cloud: particle-cli's prefix
        # the login is the cause, not the device or the network: no "Make sure your device ..."
        hint = "\n".join(h for h in (err.hint, nothing_changed) if h)
        raise ParticlePyError(err.message, hint, err.exit_code) from None

    try:
        device = open_device(device_id, reporter=reporter, need_id=True)
    except ParticlePyError as err:
        raise fail(err, nothing_changed)
    files = saved = None
    written = sent = writing = False
    try:
        _require_full_id(device)
        ident = device.device_id
        proto = device_protocol(device, protocol)
        slot = _device_key_slot(device.platform, proto)
        if protocol and has_transport_byte(device.platform) and device_protocol(device) != proto:
            reporter.step(f"Note: the device is set to use {device_protocol(device)}; run `particle keys protocol "
                f"--protocol {proto}` so it uses the key written now.")
        base = f"{ident}_{slot.alg}_new"
        new_key = formats.generate(slot.alg)
        files = write_key_files(base, new_key)
        _report_aside(reporter, files.moved_aside)
        reporter.step(f"New key {files.der} created for device {ident}")
        # the same check as `keys load`: what goes to the slot is a device key of its protocol's type and size
        der = formats.check_device_key(parse_key_file(files.der.read_bytes(), str(files.der)), slot, str(files.der))
        saved = _backup_device_key(device, slot, str(files.der), reporter)
        # The cloud first, then the proof, then the device: a key the cloud does not take is never written.
        try:
            reporter.step(f"attempting to add a new public key for device {ident}")
            api.provision_key(ident, files.pub_pem.read_text(), DEVICE_ALGORITHM[slot.alg])
        except ParticlePyError as err:
            raise ParticlePyError(f"Error sending public key to server: {err.message}", err.hint, err.exit_code)
        sent = True
        reporter.step("submitting public key succeeded!")
        proof = prove(device, proto, new_key, reporter) if prove is not None else None
        if proof is None:
            reporter.step("The new key was not proven (--no-verify): the LED after the reset will tell.")
        else:
            reporter.step(proof.text)
        if proof is not None and proof.refused:
            raise _Refused(
                proof.text + " Nothing was written to the device.",
                f"The cloud now holds the new public key, the device its previous key. {proof.prediction.fix}\n"
                f"To give the cloud the device's previous key back: particle keys send {ident} {saved.local}",
                1)
        reporter.step("Writing key to device")
        reporter.step(f"Writing key {files.der} to device {ident}")
        writing = True
        _write_device_key(device, slot, der, saved)
        written = True
        reporter.step(f"Key {files.der} written to device")
        # a proven handshake used the server key the device holds: nothing to warn about
        server_problem = None if proof is not None and proof.proven else _server_key_problem(device, proto, settings)
        try:
            device.reset(leave=True)
        except ParticlePyError:
            reporter.step("The device did not restart by itself; press its RESET button.")
        # particle-cli's words, which scripts and guides look for, only when the handshake proved
        # the key (docs/handshake.md): an unproven write is not reported as a sure one
        if proof is not None and proof.proven:
            reporter.step("Okay!  New keys in place, your device should restart.")
        else:
            reporter.step(f"New keys in place, your device should restart; not proven, so breathing cyan after "
                          f"the reset is the proof (or ask the cloud now: particle keys verify {ident}).")
        if server_problem:
            reporter.step(server_problem)
        return files
    except _Refused:
        raise                       # the cloud's answer, not the device's connection or the network
    except ParticlePyError as err:
        if written:
            raise fail(err)
        if writing:
            raise fail(err)         # _write_device_key already said whether the old key is back
        raise fail(err, nothing_changed)
    except (KeyboardInterrupt, Interrupted) as sig:
        # A signal: say where things stand, as for any other interruption. The key write itself
        # cannot be cut (see _write_device_key): the device has the old key or the new one.
        code, label = getattr(sig, "exit_code", 130), getattr(sig, "label", "Interrupted")
        if written or getattr(sig, "key_written", False):
            raise ParticlePyError(f"{label} after the new key was written and the cloud has it.",
                                  "Press the device's RESET button so it uses the new key.\n"
                                  f"(The previous key is saved in {saved.local} and {saved.archive}.)",
                                  code) from None
        if sent:
            raise ParticlePyError(f"{label} after the cloud took the new key, before it was written: the device "
                                  f"still has its previous key.",
                                  f"To finish: particle keys load {files.der}, then reset the device\n"
                                  f"To give the cloud the previous key back instead: particle keys send {ident} "
                                  f"{saved.local}", code) from None
        if saved is not None:
            raise ParticlePyError(f"{label} before the new key was written: the device still has "
                                  f"its previous key (saved to {saved.local}).",
                                  "Run `particle keys doctor` again to give it a new key.", code) from None
        raise ParticlePyError(f"{label}. " + nothing_changed, None, code) from None
    finally:
        _close(device)


class _Refused(ParticlePyError):
    """The handshake showed the cloud refusing the new key: nothing was written."""


def _server_key_problem(device, protocol: str, settings) -> Optional[str]:
    """A warning when the server key the device holds will still keep it off the cloud (the key
    doctor fixes the device key only; a bad server key shows as 3 orange bursts)."""
    from particle_py.cloud.config import DEFAULT_API_URL
    from particle_py.keys import server_blob

    slot = _server_slot(device.platform, protocol)
    try:
        blob = read_slot(device, slot)
    except ParticlePyError:
        return None                 # the device key is done; a failed extra look is not an error
    particle_cloud = settings.api_url.rstrip("/") == DEFAULT_API_URL
    problem = server_blob.connect_problem(blob, slot, protocol, particle_cloud)
    if problem:
        return (f"Warning: {problem}: the device will still not connect (blinking cyan with 3 orange "
                f"bursts).\nTo fix it: particle keys server   (puts Particle's server key back), then reset "
                f"the device.")
    if not particle_cloud and not server_blob.is_official_key(blob, protocol):
        return ("Note: the device's server key is not Particle's; it connects only to a cloud that holds "
                "that key (a local server). If it blinks cyan with 3 orange bursts, run: particle keys server")
    return None


# --- keys server --------------------------------------------------------------------------

def _server_key_bytes(filename: str, alg: str) -> bytes:
    """The server key as it goes at the start of the slot: the DER file as is, or converted to SPKI DER."""
    from particle_py.keys import formats

    path = Path(filename)
    raw = _read_file(path)
    info = parse_key_file(raw, filename)
    if info.alg != alg:
        want = "an RSA" if alg == "rsa" else "an EC (P-256)"
        raise ParticlePyError(f"{filename} is {'an RSA' if info.alg == 'rsa' else 'an EC'} key but this "
                              f"device's protocol needs {want} server key.",
                              "Use the server public key that matches the device's protocol.")
    if info.encoding == "der" and info.kind == formats.SPKI_PUBLIC:
        return raw          # may already be a formatted blob (TLV and port kept)
    return formats.public_der(info.key)


def default_server_key(protocol: str) -> bytes:
    from particle_py import assets

    path, sha256 = DEFAULT_SERVER_KEYS[protocol]
    return assets.fetch(path, sha256)


def _resolve_device_type(name: str) -> Platform:
    platform = by_name(name)
    if platform is None:
        for candidate in (by_name(n) for n in names()):
            if candidate.display_name.lower() == name.strip().lower():
                platform = candidate
    if platform is None:
        raise ParticlePyError(f"Unknown device type {name}. Use one of {', '.join(names())}")
    return platform


def server(filename: Optional[str] = None, output: Optional[str] = None, *, host: Optional[str] = None,
           port: Optional[int] = None, device_type: Optional[str] = None, protocol: Optional[str] = None,
           device_id: Optional[str] = None, reporter: Reporter = QUIET) -> Optional[Path]:
    from particle_py.keys import server_blob

    if device_type and not filename:
        raise ParticlePyError("`filename` parameter is required when `--deviceType` is set",
                              "Usage: particle keys server [options] [filename] [outputFilename]")
    if filename and os.path.exists(filename) and not os.path.isfile(filename):
        _read_file(Path(filename))           # a folder or FIFO: say what it is
    if filename and not os.path.isfile(filename):
        raise ParticlePyError("Please specify a server key in DER format.",
                              f"{filename} does not exist. Give the server's public key (DER or PEM).")
    if filename:
        _require_server_public_key(filename)
    if device_type:
        platform = _resolve_device_type(device_type)
        proto = (protocol or platform.default_protocol).lower()
        slot = _server_slot(platform, proto)
        blob = server_blob.build(_server_key_bytes(filename, slot.alg), slot, host, port)
        out = Path(output or _server_output_name(filename, host, slot.alg))
        if backup.existing_bytes(out) not in (None, blob):      # never replaced silently: kept aside
            _report_aside(reporter, [backup.move_aside(out)])
        write_public_file(out, blob)
        reporter.step("Okay!  Formatted server key file generated for this type of device.")
        reporter.step(f"Written to {out}")
        return out
    if filename:
        _check_key_type_before_dfu(filename, device_id, protocol)
    done: dict = {}         # what is on the device so far, for the report of a signal
    try:
        return _server_on_device(device_id, filename, protocol, host, port, output, reporter, done)
    except Interrupted as sig:      # outside the slot write (reading, saving the backup, closing)
        if done.get("told"):
            return done.get("out")  # done and said so: a signal now changes no outcome (exit 0)
        if "saved" in done and done.get("written"):
            raise ParticlePyError(f"{sig.label} after the new server key was written and read back.",
                                  f"The previous server key is saved in {done['saved']}.", sig.exit_code) from None
        kept = f" (saved to {done['saved']})" if "saved" in done else ""
        raise ParticlePyError(f"{sig.label} before the new server key was written.",
                              f"The device still has its previous server key{kept}. Run the command again to "
                              "write it.", sig.exit_code) from None


def _server_on_device(device_id, filename, protocol, host, port, output, reporter, done: dict):
    from particle_py.keys import server_blob

    with _on_device(device_id, reporter, need_id=True) as device:     # the backup is filed by id
        proto = device_protocol(device, protocol)
        slot = _server_slot(device.platform, proto)
        key_bytes = _server_key_bytes(filename, slot.alg) if filename else default_server_key(proto)
        blob = server_blob.build(key_bytes, slot, host, port)
        out = None
        if output:
            if backup.existing_bytes(output) not in (None, blob):
                _report_aside(reporter, [backup.move_aside(output)])
            out = write_public_file(Path(output), blob)
        current = read_slot(device, slot)
        saved = backup.save_slot(device.device_id, "server-key", slot.alg, current,
                                 local_name=f"backup_server_{slot.alg}_{device.device_id}.der")
        _report_aside(reporter, saved.moved_aside)
        reporter.step(f"Saved the previous server key to {saved.local} (a copy is kept in {saved.archive})")
        done["saved"] = saved.local
        try:
            with deferred_interrupts():     # a signal waits for the slot to be whole
                write_verified(device, slot, blob)
        except ParticlePyError as err:
            raise ParticlePyError(f"{err.message}\nThe server key slot may be partly written.",
                                  f"Run the same `particle keys server` command again, or restore the previous "
                                  f"server key with: particle keys server {saved.local}")
        except Interrupted as sig:
            raise ParticlePyError(f"{sig.label} after the new server key was written and read back.",
                                  f"The previous server key is saved in {saved.local}.", sig.exit_code) from None
        done["written"], done["out"] = True, out
        with deferred_interrupts(drop=True):    # the success line whole; a signal from here changes nothing
            done["told"] = True
            reporter.step("Okay!  New keys in place, your device will not restart.")
        return out


def _check_key_type_before_dfu(filename: str, device_id: Optional[str], protocol: Optional[str]) -> None:
    """Where the device's platform fixes the key type (all but the Electron's transport byte, or
    --protocol given), a key of the other type is refused before the device changes mode."""
    from particle_py.ops.discovery import release_entry, resolve_target

    try:
        entry = resolve_target(device_id, need_dfu=True)
    except ParticlePyError:
        return                                  # opening the device says what is wrong
    release_entry(entry)
    platform = entry.platform
    if not protocol and has_transport_byte(platform):
        return
    proto = (protocol or platform.default_protocol).lower()
    slot = platform.server_key.get(proto)
    if slot is not None:
        try:
            _server_key_bytes(filename, slot.alg)
        except ParticlePyError as err:
            raise ParticlePyError(CONNECT_PREFIX + err.message,
                                  (err.hint + " " if err.hint else "") + "Nothing was changed on the device.",
                                  err.exit_code) from None


def _server_output_name(filename: str, host: Optional[str], alg: str) -> str:
    base = filename_no_ext(filename)
    if host:
        return f"{base}-{host.replace('.', '_')}-{alg}.der"
    return f"{base}-padded.der"


# --- keys address / protocol --------------------------------------------------------------

def address(*, protocol: Optional[str] = None, device_id: Optional[str] = None, reporter: Reporter = QUIET):
    from particle_py.keys import server_blob

    with _on_device(device_id, reporter) as device:
        proto = device_protocol(device, protocol)
        slot = _server_slot(device.platform, proto)
        result = server_blob.parse_address(read_key_slot(device, slot, "server key slot"), slot, proto)
    reporter.step("")
    reporter.step(result.url())
    return result


def transport(protocol: Optional[str] = None, *, device_id: Optional[str] = None, reporter: Reporter = QUIET) -> str:
    """`keys protocol`: show the protocol, or with ``protocol`` switch the Electron's transport byte."""
    if protocol is not None and protocol.lower() not in ("tcp", "udp"):
        raise ParticlePyError("Could not change device transport protocol: Invalid protocol",
                              "Use --protocol tcp or --protocol udp.")
    verb = "change" if protocol else "fetch"
    try:
        device = open_device(device_id, reporter=reporter)
    except ParticlePyError as err:
        raise ParticlePyError(f"Could not {verb} device transport protocol: {err.message}",
                              _with_retry_hint(err), err.exit_code)
    try:
        platform = device.platform
        if protocol is None:
            current = device_protocol(device)
            reporter.step(f"Device protocol is set to {current}")
            return current
        protocol = protocol.lower()
        if not has_transport_byte(platform):
            raise ParticlePyError("Protocol cannot be changed for this device",
                                  f"The {platform.display_name} always uses {platform.default_protocol}.")
        value = TRANSPORT_DEFAULT if protocol == platform.default_protocol else TRANSPORT_ALTERNATIVE
        write_verified(device, ELECTRON_TRANSPORT_SLOT, bytes([value]))
        reporter.step(f"Protocol changed to {protocol}")
        return protocol
    except ParticlePyError as err:
        if err.message.startswith("Could not"):
            raise
        raise ParticlePyError(f"Could not {verb} device transport protocol: {err.message}",
                              _with_retry_hint(err), err.exit_code)
    finally:
        _close(device)
