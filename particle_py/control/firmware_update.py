"""The firmware update family: Device OS installs a module it is sent over USB control requests.

Request numbers and messages: particle-usb request.js, device-os-protobuf control/storage.proto
(StartFirmwareUpdate 250, FinishFirmwareUpdate 251, CancelFirmwareUpdate 252, FirmwareUpdateData
253). The update is particle-usb's ``updateFirmware``: start with the size, send chunks of the
size the device asks for, finish; Device OS checks the module and restarts to install it.
Device OS's own view of its modules (90) is module_info.py's.
"""
from __future__ import annotations

from typing import Callable, Optional

from particle_py.control import protobuf
from particle_py.control_codes import (CANCEL_FIRMWARE_UPDATE, FINISH_FIRMWARE_UPDATE, FIRMWARE_UPDATE_DATA,
                                       RESULT_TEXT, START_FIRMWARE_UPDATE)
from particle_py.errors import ParticlePyError

DEFAULT_CHUNK_SIZE = 4096


def _refused(name: str, step: str, result: int) -> ParticlePyError:
    text = RESULT_TEXT.get(result, f"error {result}")
    return ParticlePyError(f"The device refused {name} ({step}: {text})",
                           "Device OS checked the module and did not install it. Check that the file is for this "
                           "device and that its dependencies are on the device (particle update installs a whole "
                           "release in order).")


def update_firmware(session, name: str, data: bytes,
                    progress: Optional[Callable[[int, int], None]] = None) -> None:
    """Send one module for Device OS to install (it restarts to do so) over a ``ControlSession``."""
    reply = session.request(START_FIRMWARE_UPDATE, protobuf.number_field(1, len(data))).taken()
    if reply.result != 0:
        raise _refused(name, "start", reply.result)
    try:
        chunk = protobuf.Message(reply.data).uint(1) or DEFAULT_CHUNK_SIZE
    except ParticlePyError:
        chunk = DEFAULT_CHUNK_SIZE
    sent = 0
    try:
        while sent < len(data):
            piece = data[sent:sent + chunk]
            result = session.request(FIRMWARE_UPDATE_DATA, protobuf.bytes_field(1, piece)).taken().result
            if result != 0:
                raise _refused(name, "data", result)
            sent += len(piece)
            if progress:
                progress(sent, len(data))
        result = session.request(FINISH_FIRMWARE_UPDATE, b"").taken().result
    except ParticlePyError:
        try:
            session.request(CANCEL_FIRMWARE_UPDATE).taken()
        except ParticlePyError:
            pass
        raise
    if result != 0:
        raise _refused(name, "finish", result)
