"""The cloud family: CLOUD_GET_CONNECTION_STATUS (300), whose GetConnectionStatusReply holds one
ConnectionStatus (control/cloud.proto): DISCONNECTED, CONNECTING, CONNECTED, DISCONNECTING.
"""
from __future__ import annotations

from particle_py.control.protobuf import Message
from particle_py.control_codes import CLOUD_GET_CONNECTION_STATUS, CLOUD_STATUS_NAMES

__all__ = ["CLOUD_GET_CONNECTION_STATUS", "UNKNOWN_STATUS", "parse_connection_status"]

UNKNOWN_STATUS = "UNKNOWN"          # particle-usb's name for a number the enum does not have


def parse_connection_status(data: bytes) -> str:
    """The status name of a GetConnectionStatusReply (UNKNOWN for a number Device OS may add
    later); ProtoError when the reply is not a message with a number in field 1."""
    return CLOUD_STATUS_NAMES.get(Message(data).uint(1), UNKNOWN_STATUS)

