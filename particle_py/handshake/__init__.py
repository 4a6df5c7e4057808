"""The device's own cloud handshake, run from the computer, to prove keys before a reset.

Two protocols, one per module: `tcp` (Gen2 and the Core: RSA on TCP 5683) and `dtls` (Gen3,
Gen4 and the Electron: DTLS 1.2 on UDP 5684 with raw public keys). Each has
``probe(host, port, device_id, device_key, server_key, timeout_s) -> Verdict`` and stops as soon
as the answer is known, saying no more to the cloud than the device would.

The private key never leaves the process and is never put into a Verdict, an exception or a log
line; only the public half and what the protocol itself sends go out. `cryptography` is imported
by the protocol modules, never here, so importing this room costs nothing.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass


class Outcome(str, enum.Enum):
    """What the handshake showed, in the order a device meets them."""
    ACCEPTED = "accepted"                        # the cloud took the device key: breathing cyan
    DEVICE_KEY_REJECTED = "device-key-rejected"  # the cloud holds another key for this device
    SERVER_KEY_MISMATCH = "server-key-mismatch"  # the server did not prove the key the device holds
    UNREACHABLE = "unreachable"                  # no connection, or no answer in time
    PROTOCOL_ERROR = "protocol-error"            # the server answered something the device rejects


@dataclass(frozen=True)
class Verdict:
    outcome: Outcome
    protocol: str          # "tcp" or "udp"
    host: str
    port: int
    detail: str = ""       # what was seen, in words (never key material)

    @property
    def accepted(self) -> bool:
        return self.outcome is Outcome.ACCEPTED
