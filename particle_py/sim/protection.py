"""Device Protection as Device OS 6 models it, for the simulated boards. Stdlib only
(``cryptography`` only inside the signing functions, as cloud_db.py does).

A board's protection is a record beside its flash, ``unit<N>-protection.json``: whether the
board is protected (its bootloader carries the protected security mode) and whether Service Mode
overrides that now, with the reboots and seconds the override has left. The record follows the
board through every mode, as Device OS keeps it in the bootloader's module extension and the
system flags. A board without a record is an Open Device.

What each side does with it (sources: Device OS bootloader/src/*/usbd_dfu.cpp, usbd_dfu_mal.*,
usbd_device.cpp, services/src/security_mode.cpp, system/src/control/config.cpp):
- DFU mode: the alt settings keep their names and show the attribute ``b`` (erasable only) on
  every segment; string 0xFA reads ``sm=p`` / ``sm=s`` / ``sm=o``; any read, erase or write ends
  in dfuERROR with errVENDOR ("Device is in protected mode"); the DfuSe commands 0xFA (enter
  safe mode) and 0xFB (clear the Service Mode override) are taken all the same. In Service Mode
  the bootloader still refuses a system part 1 older than 6.0.0.
- Normal mode: only GET/SET_PROTECTED_STATE, the device id and app requests are answered;
  every other request gets SYSTEM_ERROR_PROTECTED.
- Service Mode lasts 20 restarts or 24 hours of the board's modelled time.
"""
from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import asdict, dataclass, replace
from typing import Optional

from particle_py import control_codes as codes
from particle_py import platforms

from . import protobuf

RECORD_NAME = "unit{unit}-protection.json"
PROTECTED_MODE_ERROR = "Device is in protected mode"
# the segment attribute letter of a DfuSe layout: N*SIZE<multiplier><letter>
_SEGMENT = re.compile(r"(\d+\*\s*\d+\s*[BKM ])([a-g])")


@dataclass
class Record:
    protected: bool = True
    override: bool = False              # Service Mode: the protection is set aside for now
    reboots_left: int = 0
    seconds_left: float = 0.0
    # the board's time last counted: the enumeration (devnum) and its device time then; a new
    # enumeration's device time starts from 0
    clock_devnum: int = -1
    clock_us: int = 0

    @property
    def state(self) -> str:
        if not self.protected:
            return "open"
        return "service" if self.override else "protected"


def _path(state_dir: str, unit: int) -> str:
    return os.path.join(state_dir, RECORD_NAME.format(unit=unit))


def write_record(state_dir, unit: int, record: Optional[Record]) -> None:
    """Store (or, None, remove) board ``unit``'s record in a simulator folder."""
    path = _path(os.fspath(state_dir), unit)
    if record is None:
        if os.path.exists(path):
            os.remove(path)
        return
    from .private import write_private
    write_private(path, json.dumps(asdict(record), sort_keys=True).encode())


def read_record(state_dir, unit: int) -> Optional[Record]:
    path = _path(os.fspath(state_dir), unit)
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        return Record(bool(data["protected"]), bool(data["override"]), int(data["reboots_left"]),
                      float(data["seconds_left"]), int(data.get("clock_devnum", -1)), int(data.get("clock_us", 0)))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError):
        # a record we cannot read back: the board is treated as protected, as a bootloader
        # that cannot read its override flags falls back on its normal mode
        return Record()


def make(state_dir, unit: int, *, service_mode: bool = False, reboots: int = codes.SERVICE_MODE_REBOOTS,
         seconds: float = codes.SERVICE_MODE_SECONDS) -> Record:
    """Make board ``unit`` a Protected Device (in Service Mode with ``service_mode``)."""
    record = Record(True, service_mode, reboots if service_mode else 0, seconds if service_mode else 0.0)
    write_record(state_dir, unit, record)
    return record


def clear_folder(state_dir) -> None:
    """Forget every board's record (a new set of devices is being created)."""
    import glob

    for path in glob.glob(os.path.join(os.fspath(state_dir), RECORD_NAME.format(unit="*"))):
        os.remove(path)


# --- the record as one device sees it ------------------------------------------------------
def _platform(dev):
    return platforms.by_name(dev.profile.platform or "")


def capable(dev) -> bool:
    platform = _platform(dev)
    return platform is not None and platform.platform_id in codes.PROTECTION_PLATFORM_IDS


def record(dev) -> Optional[Record]:
    """The board's record with the time it has run since last looked at taken off Service Mode."""
    if not dev.state_dir or not capable(dev):
        return None
    rec = read_record(dev.state_dir, dev.unit)
    if rec is None:
        return None
    since = rec.clock_us if rec.clock_devnum == dev.devnum else 0
    if rec.override and dev.device_time_us > since:
        rec.seconds_left -= (dev.device_time_us - since) / 1e6
        rec.clock_devnum, rec.clock_us = dev.devnum, dev.device_time_us
        if rec.seconds_left <= 0:
            rec.override, rec.seconds_left, rec.reboots_left = False, 0.0, 0
        write_record(dev.state_dir, dev.unit, rec)
    return rec


def state(dev) -> str:
    rec = record(dev)
    return rec.state if rec is not None else "open"


def _store(dev, rec: Record) -> None:
    write_record(dev.state_dir, dev.unit, rec)


def on_restart(dev) -> None:
    """The board restarts (a reset, a mode change, a power cycle): one reboot less of Service
    Mode (security_mode_notify_system_reset), the override gone at zero."""
    rec = record(dev)
    if rec is None or not rec.override:
        return
    rec.reboots_left = max(0, rec.reboots_left - 1)
    if rec.reboots_left == 0:
        rec.override, rec.seconds_left = False, 0.0
    _store(dev, rec)


def override_to_none(dev) -> None:
    rec = record(dev)
    if rec is None or not rec.protected:
        return
    rec.override, rec.reboots_left, rec.seconds_left = True, codes.SERVICE_MODE_REBOOTS, float(codes.SERVICE_MODE_SECONDS)
    _store(dev, rec)


def clear_override(dev) -> None:
    rec = record(dev)
    if rec is None or not rec.override:
        return
    rec.override, rec.reboots_left, rec.seconds_left = False, 0, 0.0
    _store(dev, rec)


# --- DFU mode ---------------------------------------------------------------------------------
def protected_layout(name: str) -> str:
    """A DfuSe layout string with every segment erasable only (``b``), as the protected
    bootloader's *_IF_STRING_PROT strings are."""
    return _SEGMENT.sub(lambda m: m.group(1) + "b", name)


def described(dev, description):
    """The device's USB description as its bootloader shows it now."""
    rec = record(dev)
    if rec is None:
        return description
    alts = description.interfaces
    if rec.state == "protected":
        alts = tuple(replace(a, name=protected_layout(a.name)) if a.name and a.name.startswith("@") else a
                     for a in alts)
    strings = dict(description.extra_strings)
    strings[codes.DFU_STATE_STRING_INDEX] = {"open": "sm=o", "protected": "sm=p", "service": "sm=s"}[rec.state]
    return replace(description, interfaces=alts, extra_strings=strings)


def dfuse_commands(dev, commands: bytes) -> bytes:
    """GET_COMMAND's list: a Device OS 6 bootloader adds its two extensions."""
    if record(dev) is None:
        return commands
    return commands + bytes([codes.DFUSE_ENTER_SAFE_MODE, codes.DFUSE_CLEAR_SECURITY_MODE_OVERRIDE])


def dfu_refusal(dev, op: tuple) -> Optional[int]:
    """The DFU status a protected bootloader answers for this operation, or None to carry it out."""
    rec = record(dev)
    if rec is None or op[0] in ("safe_mode", "clear_override"):
        return None
    if rec.state == "protected":                # set_address too: every command but the two extensions
        return codes.DFU_PROTECTED_STATUS
    if rec.state == "service" and op[0] == "write" and getattr(dev, "alt", 0) == 0:
        return _old_system_part(dev, op[1], op[2])
    return None


def _old_system_part(dev, address: int, data: bytes) -> Optional[int]:
    """Service Mode still keeps system part 1 at 6.0.0 or newer (InternalFlashMal::write)."""
    platform = _platform(dev)
    if platform is None or not platform.system_parts:
        return None
    start = min(platform.system_parts)
    if address != start:
        return None
    offset = platform.module_info_offset
    if len(data) < offset + 12:
        return codes.DFU_PROTECTED_STATUS
    version = struct.unpack_from("<H", data, offset + 10)[0]
    return codes.DFU_PROTECTED_STATUS if version < codes.PROTECTED_MIN_SYSTEM_VERSION else None


# --- normal mode --------------------------------------------------------------------------------
def _runs_6(dev) -> bool:
    try:
        return int(dev.running_version().split(".")[0]) >= 6
    except (ValueError, AttributeError):
        return False


def refusal(dev, req_type: int) -> Optional[int]:
    """SYSTEM_ERROR_PROTECTED for a request a protected Device OS does not take over USB."""
    if req_type in codes.PROTECTED_ALLOWED:
        return None
    rec = record(dev)
    return codes.RESULT_PROTECTED if rec is not None and rec.state == "protected" else None


def protection_family(dev) -> dict:
    """GET_PROTECTED_STATE and SET_PROTECTED_STATE, on a protection-capable Device OS 6."""
    if not capable(dev) or not _runs_6(dev):
        return {}

    def get_state(payload):
        st = state(dev)
        return codes.RESULT_OK, protobuf.uint(1, int(st == "protected")) + protobuf.uint(2, int(st == "service"))

    def set_state(payload):
        try:
            fields = protobuf.decode(payload)
            action = fields.get(1, [codes.SET_PROTECTED_RESET])[-1]
        except ValueError:
            return codes.RESULT_INVALID_FORMAT, b""
        if action == codes.SET_PROTECTED_RESET:
            clear_override(dev)
            dev._protection_exchange = None
            return codes.RESULT_OK, b""
        if action == codes.SET_PROTECTED_PREPARE:
            return _prepare(dev, fields)
        if action == codes.SET_PROTECTED_CONFIRM:
            return _confirm(dev, fields)
        return codes.RESULT_INVALID_ARGUMENT, b""

    return {codes.GET_PROTECTED_STATE: get_state, codes.SET_PROTECTED_STATE: set_state}


def _sub(fields: dict, number: int) -> dict:
    try:
        return protobuf.decode(fields.get(number, [b""])[-1])
    except ValueError:
        return {}


def _delimited(data: bytes) -> bytes:
    return struct.pack("<I", len(data)) + data


def device_digest(device_id: str, device_nonce: bytes, server_nonce: bytes) -> bytes:
    """What the device signs: SHA-256("device" || id || len||device nonce || len||server nonce)."""
    import hashlib
    return hashlib.sha256(b"device" + bytes.fromhex(device_id) + _delimited(device_nonce)
                          + _delimited(server_nonce)).digest()


def server_digest(device_id: str, server_nonce: bytes, device_nonce: bytes, fingerprint: bytes) -> bytes:
    """What the cloud signs: SHA-256("server" || id || server nonce || device nonce || device key
    fingerprint), each delimited by its u32 little-endian length."""
    import hashlib
    return hashlib.sha256(b"server" + bytes.fromhex(device_id) + _delimited(server_nonce)
                          + _delimited(device_nonce) + _delimited(fingerprint)).digest()


def _dct_der(dev, slot) -> bytes:
    from . import der
    blob = dev._read_board(slot.alt, slot.address, slot.size)
    return blob[:der.der_length(blob)]


def _prepare(dev, fields: dict):
    nonce = _sub(fields, 2).get(1, [b""])[-1]
    if not isinstance(nonce, bytes) or len(nonce) != codes.PROTECTION_NONCE_SIZE:
        return codes.RESULT_INVALID_ARGUMENT, b""
    dev._protection_exchange = None
    if state(dev) == "open":
        return codes.RESULT_OK, b""             # not protected: no prepare in the reply
    import hashlib

    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    from . import der
    platform = _platform(dev)
    try:
        key = serialization.load_der_private_key(_dct_der(dev, platform.device_key["udp"]), None)
    except (ValueError, TypeError, der.DerError, KeyError):
        return codes.RESULT_INVALID_FORMAT, b""         # SYSTEM_ERROR_BAD_DATA's kin: no usable key
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return codes.RESULT_NOT_SUPPORTED, b""
    fingerprint = hashlib.sha256(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest()
    device_nonce = os.urandom(codes.PROTECTION_NONCE_SIZE)
    signature = key.sign(device_digest(dev.profile.device_id, device_nonce, nonce),
                         ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    dev._protection_exchange = (nonce, device_nonce, fingerprint)
    reply = protobuf.message(1, device_nonce) + protobuf.message(2, signature) + protobuf.message(3, fingerprint)
    return codes.RESULT_OK, protobuf.message(1, reply)


def _confirm(dev, fields: dict):
    exchange = getattr(dev, "_protection_exchange", None)
    if not exchange:
        return codes.RESULT_INVALID_STATE, b""
    confirm = _sub(fields, 3)
    signature = confirm.get(1, [b""])[-1]
    fingerprint = confirm.get(2, [b""])[-1]
    if not signature or not isinstance(signature, bytes) or len(fingerprint or b"") != 32:
        return codes.RESULT_INVALID_ARGUMENT, b""
    import hashlib

    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils

    from . import der
    try:
        spki = _dct_der(dev, _platform(dev).server_key["udp"])
        server = serialization.load_der_public_key(spki)
    except (ValueError, TypeError, der.DerError, KeyError):
        return codes.RESULT_INVALID_FORMAT, b""
    if hashlib.sha256(spki).digest() != fingerprint:
        return codes.RESULT_KEY_MISMATCH, b""
    server_nonce, device_nonce, device_fingerprint = exchange
    try:
        server.verify(signature, server_digest(dev.profile.device_id, server_nonce, device_nonce, device_fingerprint),
                      ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    except (InvalidSignature, ValueError, TypeError, AttributeError):
        return codes.RESULT_INVALID_SIGNATURE, b""
    dev._protection_exchange = None
    override_to_none(dev)
    return codes.RESULT_OK, b""
