"""The device family: what a normal-mode device is and does (its mode, listening mode, restarts).

GET_DEVICE_MODE (72) answers a GetDeviceModeReply whose field 1 is a DeviceMode
(``control_codes.DEVICE_MODES``); START_LISTENING (70) puts the device in listening mode; RESET
(40) and DFU_MODE (50) restart it, which ``ControlSession`` follows by itself.
"""
from __future__ import annotations

from particle_py.control.protobuf import Message, ProtoError
from particle_py.control_codes import DEVICE_MODES, DFU_MODE, GET_DEVICE_MODE, RESET, START_LISTENING
from particle_py.errors import ParticlePyError

UNKNOWN_MODE = "UNKNOWN"


def parse_device_mode(payload: bytes) -> str:
    """NORMAL, LISTENING, SAFE or DFU from a GetDeviceModeReply; UNKNOWN if it cannot be read."""
    try:
        reply = Message(payload)
    except ProtoError:
        return UNKNOWN_MODE
    if reply.pairs and reply.pairs[0][0] != 1:      # the one field it has comes first
        return UNKNOWN_MODE
    try:
        return DEVICE_MODES.get(reply.uint(1), UNKNOWN_MODE)
    except ProtoError:
        return UNKNOWN_MODE


def device_mode(session) -> str:
    try:
        reply = session.request(GET_DEVICE_MODE).taken()
    except ParticlePyError:
        return UNKNOWN_MODE
    return parse_device_mode(reply.data)


def start_listening(session) -> None:
    result = session.request(START_LISTENING).taken().result
    if result != 0:
        raise ParticlePyError(f"The device refused to enter listening mode (result {result})")


def enter_dfu_mode(session) -> None:
    """Ask the device to restart in DFU mode (finding it again is the caller's)."""
    session.request(DFU_MODE).taken()


def reset(session) -> None:
    session.request(RESET).taken()
