"""Every Particle control request the simulated Device OS answers: request number -> handler.

``handlers(dev)`` is the one table ``NormalModeDevice`` asks (a request it does not list is
answered NOT_SUPPORTED); it is made of one function per request family, each giving
``{request number: handler(payload) -> (result, reply)}`` for one device. Request numbers,
results and modes are ``particle_py.control_codes``, shared with the client. What a family
answers lives beside it: module reports, interfaces and ids in device_info.py, the firmware
update session in fwupdate.py.

Stdlib only.
"""
from __future__ import annotations

from typing import Callable

from particle_py import control_codes as codes
from particle_py import platforms
from . import device_info, fwupdate
from .app import app_family
from .cloud_status import cloud_family
from .env import env_family
from .system_config import config_family
from . import wifi as wifi_mod
from . import profiles as profiles_mod
from . import protobuf

Handler = Callable[[bytes], "tuple[int, bytes]"]


def _restart(dev) -> Callable[[bytes], tuple]:
    def handler(payload):
        dev.after_reply = dev.boot_successor(profiles_mod.successor_spec(dev.profile, dev.profile.spec),
                                             profiles_mod.successor_spec(dev.profile, dev.profile.dfu_profile))
        return codes.RESULT_OK, b""
    return handler


def device_family(dev) -> dict:
    """Ids, restarts and modes."""
    device_id = dev.profile.device_id or ""

    def dfu_mode(payload):
        dev.after_reply = profiles_mod.successor_spec(dev.profile, dev.profile.dfu_profile)
        return codes.RESULT_OK, b""

    def set_mode(mode):
        def handler(payload):
            dev.mode = mode
            return codes.RESULT_OK, b""
        return handler

    restart = _restart(dev)
    return {
        codes.GET_DEVICE_ID: lambda payload: (codes.RESULT_OK, protobuf.message(1, device_id.encode())),
        codes.GET_SERIAL_NUMBER: lambda payload: (codes.RESULT_OK,
                                                  protobuf.message(1, device_id.upper()[:15].encode())),
        codes.RESET: restart,
        codes.DFU_MODE: dfu_mode,
        codes.SAFE_MODE: restart,          # both reboot the device (safe mode looks
        codes.FACTORY_RESET: restart,      # the same on USB)
        codes.START_LISTENING: set_mode(codes.MODE_LISTENING),
        codes.STOP_LISTENING: set_mode(codes.MODE_NORMAL),
        codes.GET_DEVICE_MODE: lambda payload: (codes.RESULT_OK, protobuf.uint(1, dev.mode)),
    }


def module_info_family(dev) -> dict:
    """GetModuleInfo, in the format of the Device OS the device runs."""
    platform = platforms.by_name(dev.profile.platform)
    fw = dev.running_version()

    def module_info(payload):
        if not device_info.answers("module_info", platform, fw):
            return codes.RESULT_NOT_SUPPORTED, b""
        reports = device_info.scan(dev._read_board, platform)
        new_format = device_info.answers("module_info_v2", platform, fw)
        return codes.RESULT_OK, device_info.module_info_reply(reports, new_format)

    return {codes.GET_MODULE_INFO: module_info}


def network_family(dev) -> dict:
    """Network interfaces and cellular ids."""
    platform = platforms.by_name(dev.profile.platform)
    fw = dev.running_version()
    device_id = dev.profile.device_id or ""

    def interface_list(payload):
        if not device_info.answers("interfaces", platform, fw):
            return codes.RESULT_NOT_SUPPORTED, b""
        return codes.RESULT_OK, device_info.interface_list_reply(platform)

    def interface(payload):
        if not device_info.answers("interfaces", platform, fw):
            return codes.RESULT_NOT_SUPPORTED, b""
        reply = device_info.interface_reply(platform, device_id, device_info.request_index(payload))
        return (codes.RESULT_NOT_FOUND, b"") if reply is None else (codes.RESULT_OK, reply)

    def cellular(payload):
        if "cellular" not in device_info.NETWORKS.get(platform.name, ()) or \
                not device_info.answers("cellular_ids", platform, fw):
            return codes.RESULT_NOT_SUPPORTED, b""
        return codes.RESULT_OK, device_info.cellular_reply(device_id)

    return {codes.NETWORK_GET_INTERFACE_LIST: interface_list, codes.NETWORK_GET_INTERFACE: interface,
            codes.CELLULAR_GET_ICCID: cellular}


def firmware_update_family(dev) -> dict:
    """Firmware updates over control requests (fwupdate.py), for a Device OS the simulator models
    (a platform with system parts)."""
    platform = platforms.by_name(dev.profile.platform or "")
    if platform is None or not platform.system_parts:
        return {}
    if not hasattr(dev, "fw_session"):
        dev.fw_session = fwupdate.UpdateSession()
    session = dev.fw_session
    restart = _restart(dev)

    def finish(payload):
        result, restarts = session.finish(payload, platform, dev._read_board, dev._write_board)
        if restarts:
            restart(b"")
        return result, b""

    return {
        codes.START_FIRMWARE_UPDATE: lambda payload: session.start(payload, platform),
        codes.FIRMWARE_UPDATE_DATA: session.add,
        codes.CANCEL_FIRMWARE_UPDATE: lambda payload: session.cancel(),
        codes.FINISH_FIRMWARE_UPDATE: finish,
    }


# One row a family; a new family is one function above and its row here.
FAMILIES = (module_info_family, network_family, device_family, firmware_update_family)
FAMILIES += (config_family, cloud_family, env_family, app_family)   # after device_family: SAFE_MODE is config's
FAMILIES += (wifi_mod.wifi_family,)            # sim/wifi.py: Wi-Fi credentials (500-507)


def handlers(dev) -> dict:
    """Request number -> handler(payload) -> (result, reply), for this device as it is now."""
    table: dict = {}
    for family in FAMILIES:
        table.update(family(dev))
    return table
