"""The exchange of Particle's USB vendor control protocol (normal-mode devices, 2b04:c0xx).

A request is INIT (type, payload size) -> SEND payload -> CHECK until not pending -> RECV
reply payload, each a vendor control transfer (particle-usb's usb-protocol.js). Replies to
INIT/CHECK are ``u32 field flags, u16 status[, u16 id][, u32 size][, i32 result]``. The numbers
are ``particle_py.control_codes``; callers use this through ``ControlSession`` (session.py).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Optional

from particle_py.control_codes import (DEVICE_TO_HOST, FIELD_ID, FIELD_RESULT, FIELD_SIZE, FIELD_STATUS,
                                       HOST_TO_DEVICE, LEGACY_BREQUEST, LEGACY_GET_SYSTEM_VERSION, SERVICE_CHECK,
                                       SERVICE_INIT, SERVICE_RECV, SERVICE_SEND, STATUS_BUSY, STATUS_NAMES,
                                       STATUS_OK, STATUS_PENDING)
from particle_py.errors import ParticlePyError, UsbError

MIN_WLENGTH = 64

# Linux usbfs refuses a control transfer of more than a page of data (EINVAL): particle-usb
# sends and receives payloads in pieces of this size (usb-device-node.js).
MAX_CONTROL_TRANSFER_DATA_SIZE = 4096
POLL_INTERVAL_MS = 50
MAX_POLLS = 200


@dataclass(frozen=True)
class ServiceReply:
    status: int
    id: Optional[int] = None
    size: Optional[int] = None
    result: Optional[int] = None


def parse_reply(data: bytes) -> ServiceReply:
    data = bytes(data)
    try:
        flags = struct.unpack_from("<I", data, 0)[0]
        if not flags & FIELD_STATUS:
            raise ValueError("missing status")
        status = struct.unpack_from("<H", data, 4)[0]
        pos = 6
        rid = size = result = None
        if flags & FIELD_ID:
            rid = struct.unpack_from("<H", data, pos)[0]
            pos += 2
        if flags & FIELD_SIZE:
            size = struct.unpack_from("<I", data, pos)[0]
            pos += 4
        if flags & FIELD_RESULT:
            result = struct.unpack_from("<i", data, pos)[0]
    except (struct.error, ValueError):
        raise ParticlePyError("The device sent a control reply particle-py does not understand",
                              "Update Device OS, or put the device in DFU mode by hand.") from None
    return ServiceReply(status, rid, size, result)


def _ctrl(dev, bm, breq, wvalue, windex, data_or_len, timeout=2000):
    import usb.core

    try:
        return dev.ctrl_transfer(bm, breq, wvalue, windex, data_or_len, timeout)
    except (usb.core.USBError, NotImplementedError) as exc:
        from particle_py import usb as transport

        raise transport.error_from(exc, "send a control request to", dev.idVendor, dev.idProduct) from None


def request(dev, req_type: int, payload: bytes = b"", *, sleep_ms=None) -> tuple[int, bytes]:
    """Send one control request; returns (result code, reply payload)."""
    from particle_py import usb as transport

    sleep = sleep_ms or transport.sleep_ms
    rep = parse_reply(_ctrl(dev, DEVICE_TO_HOST, SERVICE_INIT, len(payload), req_type, MIN_WLENGTH))
    for _ in range(MAX_POLLS):
        if rep.status != STATUS_BUSY:
            break
        sleep(POLL_INTERVAL_MS)
        rep = parse_reply(_ctrl(dev, DEVICE_TO_HOST, SERVICE_INIT, len(payload), req_type, MIN_WLENGTH))
    if rep.status not in (STATUS_OK, STATUS_PENDING) or rep.id is None:
        raise ParticlePyError(f"The device refused control request {req_type} "
                              f"({STATUS_NAMES.get(rep.status, rep.status)})")
    rid = rep.id
    try:
        for offset in range(0, len(payload), MAX_CONTROL_TRANSFER_DATA_SIZE):
            _ctrl(dev, HOST_TO_DEVICE, SERVICE_SEND, 0, rid, payload[offset:offset + MAX_CONTROL_TRANSFER_DATA_SIZE])
        for _ in range(MAX_POLLS):
            rep = parse_reply(_ctrl(dev, DEVICE_TO_HOST, SERVICE_CHECK, 0, rid, MIN_WLENGTH))
            if rep.status != STATUS_PENDING:
                break
            sleep(POLL_INTERVAL_MS)
    except UsbError as err:
        err.request_accepted = True     # the device took the request: a reset may have cut the reply
        raise
    if rep.status != STATUS_OK:
        raise ParticlePyError(f"Control request {req_type} failed "
                              f"({STATUS_NAMES.get(rep.status, rep.status)})")
    data = b""
    if rep.size:
        data = bytes(_ctrl(dev, DEVICE_TO_HOST, SERVICE_RECV, 0, rid, rep.size))
    return (rep.result or 0), data


def firmware_version(dev) -> str:
    raw = bytes(_ctrl(dev, DEVICE_TO_HOST, LEGACY_BREQUEST, 0, LEGACY_GET_SYSTEM_VERSION, 64))
    return raw.split(b"\0", 1)[0].decode("ascii", "replace").strip()
