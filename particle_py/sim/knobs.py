"""Fault knobs: data, not code paths.

Every knob is one row: its name (without ``FAKE_``), how its value is parsed, the point in
the device model that consults it, what it does there, and what it means. The device calls
``active(knobs, point)`` at each point and applies the effects generically, so a new knob
is usually one new row (plus a point, if it needs a new place in the model).

Points: ``start`` (device creation), ``open``, ``transfer`` (every control transfer),
``request`` (a class/vendor request, matched on bRequest), ``dfuse_command`` (after a DfuSe
command on block 0), ``erase`` (an erase command), ``dnload_data`` / ``upload_data`` (data
blocks), ``write`` (after a data block is programmed), ``leave_status`` (the GETSTATUS that
follows a leave request), ``descriptor`` (descriptor contents), ``pending`` (any DFU operation
being carried out), ``reenumerate`` (the bus bringing a device back after it left); plain DFU
1.1 transfer ends: ``image`` (what the device holds), ``dnload_block`` (any DNLOAD, the
zero-length one included), ``manifest_status`` (the GETSTATUS after the zero-length DNLOAD),
``reset`` (a USB reset).

Effects: ``raise`` (the transfer fails with that libusb error code), ``error_status`` (the
operation ends in dfuERROR with that DFU status), ``state`` / ``status`` (a state or status
value to use), ``flag`` (a behaviour switch), ``value`` (a number the model uses),
``unplug_after`` (the device disappears after N transfers), ``stall_request`` /
``timeout_request`` (a request with that bRequest stalls / times out), ``short_at`` / ``raise_at``
(``'V@B'``: data block B is answered with V bytes / fails with libusb error V).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


def _int(text) -> int:
    return int(str(text), 0)


def _status_at(text) -> str:
    status, _, after = str(text).partition("@")
    return f"{_int(status)}@{_int(after or 0)}"


def status_at(text) -> tuple[int, int]:
    """'S@N' -> (S, N)."""
    status, _, after = str(text).partition("@")
    return _int(status), _int(after or 0)


@dataclass(frozen=True)
class Knob:
    name: str
    parse: Callable
    point: str
    effect: str
    doc: str


KNOBS: tuple[Knob, ...] = (
    Knob("OPEN_FAIL", _int, "open", "raise",
         "opening the device fails with that libusb error code (-3 = LIBUSB_ERROR_ACCESS)"),
    Knob("START_STATE", _int, "start", "state", "the DFU state the device reports before any request"),
    Knob("START_STATUS", _int, "start", "status", "the DFU status the device reports before any request"),
    Knob("WRITE_FAIL_STATUS", _int, "write", "error_status",
         "after the first data block the device goes to dfuERROR with that status (3 = errWRITE)"),
    Knob("ERASE_FAIL_STATUS", _int, "erase", "error_status",
         "after an erase command the device goes to dfuERROR with that status (4 = errERASE)"),
    Knob("NO_DNBUSY", _int, "dfuse_command", "flag",
         "the device never reports dfuDNBUSY after a DfuSe command"),
    Knob("DNLOAD_ERR", _int, "dnload_data", "raise",
         "DNLOAD data transfers fail with that libusb error (-9 = LIBUSB_ERROR_PIPE, a stall)"),
    Knob("UPLOAD_ERR", _int, "upload_data", "raise",
         "UPLOAD data transfers fail with that libusb error"),
    Knob("TSIZE", _int, "descriptor", "value", "the DFU functional descriptor reports that wTransferSize"),
    Knob("LEAVE_ERR", _int, "leave_status", "raise",
         "the GETSTATUS after a leave request fails with that error (-1 = LIBUSB_ERROR_IO: the device reset)"),
    Knob("LEAVE_STATE", _int, "leave_status", "state",
         "the device answers the leave request with that state (5 = dfuDNLOAD-IDLE)"),
    # beyond the recorded scenarios
    Knob("POLL_TIMEOUT", _int, "status", "value",
         "bwPollTimeout (ms) in every busy GETSTATUS (100 on a mass erase: dfu-util's 35 s quirk)"),
    Knob("BUSY_POLLS", _int, "status", "value",
         "after an operation the device answers dfuDNBUSY that many more times (0 timeouts x 100: "
         "dfu-util 0.10+ 'Device stuck')"),
    Knob("BUSY_STALLS", _int, "status", "value",
         "while busy with a DfuSe command, GETSTATUS stalls that many times before answering "
         "(STM32L4 erasing; dfu-util 0.10+ retries 3)"),
    Knob("UNPLUG_AFTER", _int, "transfer", "unplug_after",
         "the device disappears after that many control transfers (later ones fail with NO_DEVICE)"),
    Knob("STALL_REQUEST", _int, "request", "stall_request", "class/vendor requests with that bRequest stall"),
    Knob("TIMEOUT_REQUEST", _int, "request", "timeout_request",
         "class/vendor requests with that bRequest time out (LIBUSB_ERROR_TIMEOUT)"),
    # the fault matrix (tests/faults): one fault that starts at a chosen step of a run
    Knob("STALL_AFTER", _int, "transfer", "stall_after",
         "every class/vendor request after that many control transfers stalls"),
    Knob("TIMEOUT_AFTER", _int, "transfer", "timeout_after",
         "every class/vendor request after that many control transfers times out"),
    Knob("STATUS_AFTER", _status_at, "pending", "error_status_after",
         "'S@N': every DFU operation (command or data block) run after N control transfers ends in "
         "dfuERROR with status S"),
    Knob("SECOND_DEVICE_AFTER", _int, "transfer", "second_device_after",
         "after that many control transfers a second board of the same platform (new id) is plugged in"),
    # signals at an exact step (tests/signals)
    Knob("PAUSE_AFTER", _status_at, "transfer", "pause_after",
         "'R@K': once the K-th class request with bRequest R (1 = DNLOAD, 2 = UPLOAD, 3 = GETSTATUS) is carried "
         "out, its transfer waits in wall time while the file 'paused' it writes in the state folder exists"),
    Knob("REENUM_NEW_PORT", _int, "reenumerate", "flag",
         "a device that re-enumerates comes back on a new port (a new path as well as a new devnum)"),
    Knob("WEAK_CELL_AT", _int, "program", "value",
         "the flash byte at that address (of the alt being written) does not keep what is programmed: "
         "it reads back with bit 0 flipped, though the write reported success"),
    Knob("REENUM_DELAY_MS", _int, "reenumerate", "value",
         "a device that re-enumerates comes back only after that many ms of modelled host time"),
    # the ends of plain DFU 1.1 transfers (issue 15): what the device does with the last blocks
    Knob("IMAGE_SIZE", _int, "image", "value",
         "plain DFU: the bytes an UPLOAD returns on a fresh device (the profile's image size otherwise); "
         "a multiple of the transfer size ends the upload with a zero-length packet"),
    Knob("UPLOAD_MAX", _int, "upload_data", "value",
         "plain DFU: an UPLOAD is answered with at most that many bytes (the device's buffer), so a host "
         "asking for more (-t above wTransferSize) gets a short packet at once"),
    Knob("UPLOAD_SHORT", _status_at, "upload_data", "short_at",
         "'L@B': plain DFU UPLOAD block B is answered with only L bytes (a short packet mid-upload)"),
    Knob("UPLOAD_ERR_AT", _status_at, "upload_data", "raise_at",
         "'E@B': plain DFU UPLOAD block B fails with libusb error E (-8 = LIBUSB_ERROR_OVERFLOW: the "
         "device sent more than asked; -9 a stall)"),
    Knob("DNLOAD_ERR_AT", _status_at, "dnload_block", "raise_at",
         "'E@B': plain DFU DNLOAD block B fails with libusb error E (B = the number of data blocks: the "
         "zero-length completion packet)"),
    Knob("MANIFEST_ERR", _int, "manifest_status", "raise",
         "plain DFU: the GETSTATUS after the zero-length DNLOAD fails with that libusb error (-4, -1: the "
         "device has reset itself to run the new image and comes back; -9: a stall, dfuERROR)"),
    Knob("MANIFEST_STATUS", _int, "manifest_status", "error_status",
         "plain DFU: manifestation fails: the GETSTATUS after the zero-length DNLOAD reports dfuERROR "
         "with that status (7 = errVERIFY) and the image is not kept"),
    Knob("MANIFEST_SHORT", _int, "manifest_status", "value",
         "plain DFU: the GETSTATUS after the zero-length DNLOAD returns only that many bytes (of 6)"),
    Knob("RESET_REENUMERATES", _int, "reset", "flag",
         "a USB reset makes the DFU device re-enumerate (libusb_reset_device reports "
         "LIBUSB_ERROR_NOT_FOUND); it comes back as the same device"),
    # many devices at once (issue 27): the bus's shape, read by sim/bus.py when it attaches a device
    Knob("HUB_PORTS", _int, "attach", "value",
         "devices are plugged in through hubs of that many ports (paths 1-1.1 ... 1-1.N, then 1-2.1 ...)"),
    Knob("HUB_FULL", _int, "attach", "value",
         "the hub serves only that many devices: opening any device after them fails with "
         "LIBUSB_ERROR_NO_MEM (-11)"),
    # odd descriptors (issue 11): what the device reports, not what it holds
    Knob("SERIAL", str, "descriptor", "value", "the USB serial number string the device reports"),
    Knob("ALT0_NAME", str, "descriptor", "value", "the name (DfuSe layout string) alt setting 0 reports"),
    Knob("ALT1_NAME", str, "descriptor", "value", "the name (DfuSe layout string) alt setting 1 reports"),
)

BY_NAME = {k.name: k for k in KNOBS}


def normalize(knobs: dict) -> dict:
    """{'FAKE_X': '3'} or {'X': 3} -> {'X': 3}; unknown names raise ValueError."""
    out = {}
    for raw_name, raw_value in (knobs or {}).items():
        name = raw_name.upper()
        if name.startswith("FAKE_"):
            name = name[5:]
        if name == "PROFILES":          # the scenario header lists profiles among the knobs
            continue
        knob = BY_NAME.get(name)
        if knob is None:
            raise ValueError(f"unknown fault knob {raw_name!r} (known: {', '.join(sorted(BY_NAME))})")
        out[name] = knob.parse(raw_value)
    return out


def active(knobs: dict, point: str):
    """(knob, value) pairs set in ``knobs`` that act at ``point``."""
    return [(BY_NAME[name], value) for name, value in knobs.items() if BY_NAME[name].point == point]


def value(knobs: dict, name: str, default=None):
    return knobs.get(name, default)
