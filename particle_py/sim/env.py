"""The simulated Device OS's env variables (ENV_GET 600, ENV_CLEAR 601; Device OS 6.4+ on Gen3
and Gen4, particle-usb device.js): the variables the application set and the cloud's snapshot.
The simulated apps (Tinker and the stand-ins) set none and the simulated cloud sends none, so
the list is empty; an older Device OS answers NOT_SUPPORTED. Stdlib only.
"""
from __future__ import annotations

from particle_py import control_codes as codes
from particle_py import platforms
from . import boot
from . import protobuf

SINCE = (6, 4, 0)
GENERATIONS = (3, 4)


def env_reply(variables: list) -> bytes:
    """GetEnvReply: vars (name 1, value 2, is_app 3)."""
    return b"".join(protobuf.message(1, protobuf.message(1, name.encode()) + protobuf.message(2, value.encode())
                                     + protobuf.uint(3, int(is_app)))
                    for name, value, is_app in variables)


def env_family(dev) -> dict:
    platform = platforms.by_name(dev.profile.platform or "")
    if platform is None:
        return {}

    def answers() -> bool:
        return platform.generation in GENERATIONS and boot._version(dev.running_version()) >= SINCE

    def get(payload):
        if not answers():
            return codes.RESULT_NOT_SUPPORTED, b""
        return codes.RESULT_OK, env_reply([])

    def clear(payload):
        if not answers():
            return codes.RESULT_NOT_SUPPORTED, b""
        return codes.RESULT_OK, b""          # need_reset false: nothing was set

    return {codes.ENV_GET: get, codes.ENV_CLEAR: clear}
