"""The simulated Device OS's configuration requests: safe mode on request (SAFE_MODE 60) and the
setup-done flag (SET_DEVICE_SETUP_DONE 73, IS_DEVICE_SETUP_DONE 74), as system/src/control/
config.cpp and the HAL do them; the boot side (what the flag and the request change at the
next boot) is sim/boot.py's. Stdlib only.
"""
from __future__ import annotations

from particle_py import control_codes as codes
from particle_py import platforms
from . import boot
from . import profiles as profiles_mod
from . import protobuf


def _restart_after_reply(dev) -> None:
    dev.after_reply = dev.boot_successor(profiles_mod.successor_spec(dev.profile, dev.profile.spec),
                                         profiles_mod.successor_spec(dev.profile, dev.profile.dfu_profile))


def config_family(dev) -> dict:
    platform = platforms.by_name(dev.profile.platform or "")
    if platform is None:
        return {}
    version = dev.running_version()
    keeps_flag = boot.keeps_setup_flag(platform, version)
    modern = boot._version(version) >= boot.SETUP_DONE_UNTIL

    def safe_mode(payload):
        boot.request_safe_mode(dev.state_dir, dev.unit)      # the backup register, then a reset
        _restart_after_reply(dev)
        return codes.RESULT_OK, b""

    def set_setup_done(payload):
        try:
            done = protobuf.first(protobuf.decode(payload), 1) != 0
        except ValueError:
            return codes.RESULT_INVALID_FORMAT, b""
        if keeps_flag:
            alt, address = boot.SETUP_DONE_DCT
            dev._write_board(alt, address, bytes([boot.SETUP_DONE_VALUE if done else 0xFF]))
            return codes.RESULT_OK, b""
        if modern:               # 4.0+: deprecated, nothing stored; clearing is refused
            return (codes.RESULT_OK if done else codes.RESULT_NOT_SUPPORTED), b""
        return codes.RESULT_NOT_SUPPORTED, b""      # a platform without the flag before 4.0

    def is_setup_done(payload):
        if keeps_flag:
            alt, address = boot.SETUP_DONE_DCT
            done = dev._read_board(alt, address, 1) == bytes([boot.SETUP_DONE_VALUE])
            return codes.RESULT_OK, protobuf.uint(1, int(done))
        if modern:
            return codes.RESULT_OK, protobuf.uint(1, 1)
        return codes.RESULT_NOT_SUPPORTED, b""

    return {codes.SAFE_MODE: safe_mode, codes.SET_DEVICE_SETUP_DONE: set_setup_done,
            codes.IS_DEVICE_SETUP_DONE: is_setup_done}
