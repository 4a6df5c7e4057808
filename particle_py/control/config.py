"""The configuration family: the setup-done flag (SET_DEVICE_SETUP_DONE 73, IS_DEVICE_SETUP_DONE
74), safe mode (SAFE_MODE 60) and leaving listening mode (STOP_LISTENING 71).

Device OS below 4.0 keeps the flag in the DCT of nRF52840 devices (a Gen3 device without it
starts in listening mode); from 4.0 the request is a no-op that answers OK for ``done`` and
NOT_SUPPORTED for clearing it (system/src/control/config.cpp).
"""
from __future__ import annotations

from particle_py.control.protobuf import Message, number_field
from particle_py.control_codes import IS_DEVICE_SETUP_DONE, SAFE_MODE, SET_DEVICE_SETUP_DONE, STOP_LISTENING


def setup_done_request(done: bool) -> bytes:
    """SetDeviceSetupDoneRequest {bool done = 1} (proto3: false is the empty message)."""
    return number_field(1, 1 if done else 0)


def parse_setup_done(data: bytes) -> bool:
    """IsDeviceSetupDoneReply {bool done = 1}; ProtoError when unreadable."""
    return Message(data).uint(1) != 0


def set_setup_done(session, done: bool):
    """The reply to SET_DEVICE_SETUP_DONE (callers read ``result`` and ``supported``)."""
    return session.request(SET_DEVICE_SETUP_DONE, setup_done_request(done))


def is_setup_done(session) -> bool:
    return parse_setup_done(session.request(IS_DEVICE_SETUP_DONE).taken().data)


def enter_safe_mode(session) -> None:
    """Ask the device to restart in safe mode (the session follows the restart)."""
    session.request(SAFE_MODE).taken()


def stop_listening(session):
    return session.request(STOP_LISTENING).taken()
