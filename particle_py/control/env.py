"""The env family (Device OS 6.4+): ENV_GET (600) answers GetEnvReply (control/config.proto):
``repeated Var vars = 1`` (name 1, value 2, is_app 3) and an optional ``snapshot_hash = 2``.
Older Device OS answers NOT_SUPPORTED.
"""
from __future__ import annotations

from dataclasses import dataclass

from particle_py.control.protobuf import Message, ProtoError
from particle_py.control_codes import ENV_GET

MAX_NAME = 128              # nanopb max_length of Var.name: a longer one is not Device OS's


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str
    is_app: bool            # set by the firmware (else by the cloud)


@dataclass(frozen=True)
class EnvReply:
    variables: tuple
    snapshot_hash: bytes = b""


def parse_env(data: bytes) -> EnvReply:
    reply = Message(data)
    found = []
    for var in reply.messages(1):
        name = var.text(1)
        if not name or len(name) > MAX_NAME:
            raise ProtoError("an env variable with no name or a name over 128 characters")
        found.append(EnvVar(name, var.text(2), var.uint(3) != 0))
    return EnvReply(tuple(found), reply.bytes(2))


def get_env(session):
    """The raw reply (callers check ``supported``), for ``parse_env``."""
    return session.request(ENV_GET).taken()
