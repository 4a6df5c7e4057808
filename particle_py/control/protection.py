"""The device-protection family: GET_PROTECTED_STATE (76) and SET_PROTECTED_STATE (77) of
Device OS 6 (control/config.proto), and the DFU bootloader's own account of it.

Replies are outside input: a malformed one raises ProtoError, nothing else. A Device OS before 6
answers NOT_SUPPORTED (the caller then knows protection cannot be on).

DFU mode tells it two ways (particle-usb dfu.js getProtectionState): string descriptor 0xFA
``sm=o|p|s`` (bootloaders of 6.1.2 and newer), else every segment of the internal flash
``b`` (erasable, neither readable nor writable), which cannot tell Open from Service Mode.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from particle_py.control.protobuf import Message, ProtoError, bytes_field, number_field
from particle_py.control_codes import (GET_PROTECTED_STATE, PROTECTION_NONCE_SIZE, SET_PROTECTED_CONFIRM,
                                       SET_PROTECTED_PREPARE, SET_PROTECTED_RESET, SET_PROTECTED_STATE)

__all__ = ["GET_PROTECTED_STATE", "SET_PROTECTED_STATE", "ProtectionState", "Prepared", "parse_state",
           "parse_prepare", "prepare_request", "confirm_request", "reset_request", "from_dfu_string",
           "from_layouts"]

OPEN, PROTECTED, SERVICE = "open", "protected", "service"


@dataclass(frozen=True)
class ProtectionState:
    protected: bool
    overridden: Optional[bool]          # None: the device cannot say (an older DFU bootloader)

    @property
    def name(self) -> str:
        if self.overridden:
            return SERVICE
        return PROTECTED if self.protected else OPEN

    @property
    def refuses_writes(self) -> bool:
        return self.protected and not self.overridden


@dataclass(frozen=True)
class Prepared:
    device_nonce: bytes
    device_signature: bytes
    device_key_fingerprint: bytes


def _flag(reply: Message, number: int) -> bool:
    value = reply.uint(number)
    if value > 1:
        raise ProtoError(f"field {number} of the protection state is {value}, not a bool")
    return bool(value)


def parse_state(data: bytes) -> ProtectionState:
    """GetProtectedStateReply: state (1) and overridden (2)."""
    reply = Message(data)
    return ProtectionState(_flag(reply, 1), _flag(reply, 2))


def parse_prepare(data: bytes) -> Optional[Prepared]:
    """SetProtectedStateReply to PREPARE: None when the device is not protected (no prepare)."""
    body = Message(data).bytes(1)
    if not body:
        return None
    prep = Message(body)
    nonce, signature, fingerprint = prep.bytes(1), prep.bytes(2), prep.bytes(3)
    if len(nonce) != PROTECTION_NONCE_SIZE:
        raise ProtoError(f"the device nonce is {len(nonce)} bytes, not {PROTECTION_NONCE_SIZE}")
    if len(fingerprint) != 32:
        raise ProtoError(f"the device key fingerprint is {len(fingerprint)} bytes, not 32")
    if not 8 <= len(signature) <= 80:
        raise ProtoError(f"the device signature is {len(signature)} bytes long")
    return Prepared(nonce, signature, fingerprint)


def prepare_request(server_nonce: bytes) -> bytes:
    return number_field(1, SET_PROTECTED_PREPARE) + bytes_field(2, bytes_field(1, server_nonce))


def confirm_request(server_signature: bytes, server_key_fingerprint: bytes) -> bytes:
    return number_field(1, SET_PROTECTED_CONFIRM) + bytes_field(
        3, bytes_field(1, server_signature) + bytes_field(2, server_key_fingerprint))


def reset_request() -> bytes:
    return number_field(1, SET_PROTECTED_RESET)


def from_dfu_string(text: Optional[str]) -> Optional[ProtectionState]:
    """String 0xFA of a DFU bootloader (``sm=p;...``); None when it says nothing we know."""
    if not text:
        return None
    for item in text.split(";"):
        key, _, value = item.strip().partition("=")
        if key == "sm" and value[:1] in ("o", "p", "s"):
            return {"o": ProtectionState(False, False), "p": ProtectionState(True, False),
                    "s": ProtectionState(True, True)}[value[:1]]
    return None


def from_layouts(internal_segments) -> ProtectionState:
    """From the internal flash's segments: all erasable and none readable or writable is protected."""
    segments = list(internal_segments)
    locked = bool(segments) and all(s.erasable and not s.readable and not s.writeable for s in segments)
    return ProtectionState(locked, None if locked else False)
