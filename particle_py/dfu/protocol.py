"""DFU 1.1 / DfuSe wire facts: requests, states, status texts, descriptors, libusb error names.

Pure data and tiny decoders; no USB access here. Texts are dfu-util's (dfu.c), since the
dfu-util front end prints them verbatim.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Optional

# Class requests (bmRequestType 0x21 OUT / 0xA1 IN, wIndex = interface number)
DETACH, DNLOAD, UPLOAD, GETSTATUS, CLRSTATUS, GETSTATE, ABORT = range(7)
REQ_OUT = 0x21
REQ_IN = 0xA1
TIMEOUT_MS = 5000              # dfu-util's timeout for class requests
DFUSE_VERSION = 0x011A
DESC_FUNCTIONAL = 0x21

# States
APP_IDLE, APP_DETACH, DFU_IDLE, DFU_DNLOAD_SYNC, DFU_DNBUSY, DFU_DNLOAD_IDLE, DFU_MANIFEST_SYNC, \
    DFU_MANIFEST, DFU_MANIFEST_WAIT_RESET, DFU_UPLOAD_IDLE, DFU_ERROR = range(11)

STATE_NAMES = (
    "appIDLE", "appDETACH", "dfuIDLE", "dfuDNLOAD-SYNC", "dfuDNBUSY", "dfuDNLOAD-IDLE",
    "dfuMANIFEST-SYNC", "dfuMANIFEST", "dfuMANIFEST-WAIT-RESET", "dfuUPLOAD-IDLE", "dfuERROR",
)

STATUS_OK = 0
STATUS_TEXTS = (
    "No error condition is present",
    "File is not targeted for use by this device",
    "File is for this device but fails some vendor-specific test",
    "Device is unable to write memory",
    "Memory erase function failed",
    "Memory erase check failed",
    "Program memory function failed",
    "Programmed memory failed verification",
    "Cannot program memory due to received address that is out of range",
    "Received DFU_DNLOAD with wLength = 0, but device does not think that it has all data yet",
    "Device's firmware is corrupt. It cannot return to run-time (non-DFU) operations",
    "iString indicates a vendor specific error",
    "Device detected unexpected USB reset signalling",
    "Device detected unexpected power on reset",
    "Something went wrong, but the device does not know what it was",
    "Device stalled an unexpected request",
)

# DfuSe special commands: (name dfu-util prints, command byte)
SET_ADDRESS = "SET_ADDRESS"
ERASE_PAGE = "ERASE_PAGE"
MASS_ERASE = "MASS_ERASE"
READ_UNPROTECT = "READ_UNPROTECT"

# bmAttributes bits of the functional descriptor, in dfu-util's print order
ATTRIBUTE_NAMES = ((0x01, "bitCanDnload"), (0x02, "bitCanUpload"), (0x04, "bitManifestationTolerant"),
                   (0x08, "bitWillDetach"))
ATTR_WILL_DETACH = 0x08


def state_name(state: int) -> str:
    # dfu-util passes NULL to printf for unknown states; glibc prints "(null)"
    return STATE_NAMES[state] if 0 <= state < len(STATE_NAMES) else "(null)"


def status_text(status: int) -> str:
    return STATUS_TEXTS[status] if 0 <= status < len(STATUS_TEXTS) else "INVALID"


@dataclass(frozen=True)
class DfuStatus:
    status: int
    poll_timeout: int          # ms
    state: int
    istring: int = 0

    @property
    def state_name(self) -> str:
        return state_name(self.state)

    @property
    def status_text(self) -> str:
        return status_text(self.status)


# What dfu-util reports for a GETSTATUS answer that is not 6 bytes long: dfu_get_status (dfu.c,
# all releases) fills the status with errUNKNOWN / dfuERROR first and overwrites it only when
# libusb_control_transfer returned exactly 6.
SHORT_STATUS = DfuStatus(14, 0, 10, 0)


def parse_status(data: bytes) -> DfuStatus:
    """GETSTATUS payload (6 bytes); any other length reads as dfuERROR, errUNKNOWN (dfu.c)."""
    data = bytes(data)
    if len(data) != 6:
        return SHORT_STATUS
    return DfuStatus(data[0], data[1] | data[2] << 8 | data[3] << 16, data[4], data[5])


@dataclass(frozen=True)
class FunctionalDescriptor:
    length: int = 9
    attributes: int = 0
    detach_timeout: int = 0
    transfer_size: int = 0
    dfu_version: int = 0x0100

    @classmethod
    def parse(cls, raw: bytes) -> "FunctionalDescriptor":
        """As dfu-util copies it: at most 9 bytes, missing bytes stay zero."""
        raw = bytes(raw[:9])
        length = raw[0] if raw else 0
        padded = raw.ljust(9, b"\0")
        _, _, attributes, detach, tsize, version = struct.unpack("<BBBHHH", padded)
        return cls(length, attributes, detach, tsize, version)


def find_functional(extra: bytes) -> Optional[bytes]:
    """The first DFU functional descriptor in a block of extra descriptors (dfu-util find_descriptor)."""
    extra = bytes(extra)
    i = 0
    while i + 1 < len(extra):
        length = extra[i]
        if length < 2:
            return None
        if extra[i + 1] == DESC_FUNCTIONAL:
            return extra[i:i + length]
        i += length
    return None


# libusb error codes and names (libusb_error_name)
LIBUSB_ERRORS = {
    0: "LIBUSB_SUCCESS", -1: "LIBUSB_ERROR_IO", -2: "LIBUSB_ERROR_INVALID_PARAM", -3: "LIBUSB_ERROR_ACCESS",
    -4: "LIBUSB_ERROR_NO_DEVICE", -5: "LIBUSB_ERROR_NOT_FOUND", -6: "LIBUSB_ERROR_BUSY",
    -7: "LIBUSB_ERROR_TIMEOUT", -8: "LIBUSB_ERROR_OVERFLOW", -9: "LIBUSB_ERROR_PIPE",
    -10: "LIBUSB_ERROR_INTERRUPTED", -11: "LIBUSB_ERROR_NO_MEM", -12: "LIBUSB_ERROR_NOT_SUPPORTED",
    -99: "LIBUSB_ERROR_OTHER",
}
# errno values pyusb reports, back to libusb codes (pyusb's libusb1 backend mapping, reversed)
_ERRNO_TO_LIBUSB = {5: -1, 22: -2, 13: -3, 19: -4, 2: -5, 16: -6, 110: -7, 75: -8, 32: -9, 4: -10, 12: -11,
                    38: -12, 40: -12, 95: -12}
LIBUSB_ERROR_IO = -1
LIBUSB_ERROR_NOT_FOUND = -5
LIBUSB_ERROR_PIPE = -9


def libusb_error_name(code: int) -> str:
    return LIBUSB_ERRORS.get(code, "**UNKNOWN**")


def libusb_code(exc: BaseException) -> int:
    """The libusb error code behind a pyusb USBError (or our UsbError)."""
    code = getattr(exc, "libusb_code", None)
    if isinstance(code, int) and code < 0:
        return code
    code = getattr(exc, "backend_error_code", None)
    if isinstance(code, int) and code in LIBUSB_ERRORS and code < 0:
        return code
    errno = getattr(exc, "errno", None)
    if isinstance(errno, int):
        return _ERRNO_TO_LIBUSB.get(errno, LIBUSB_ERROR_IO)
    return LIBUSB_ERROR_IO


# Device quirks dfu-util applies by USB IDs (quirks.c): data, looked up by ``quirks_for``.
QUIRK_POLLTIMEOUT = "polltimeout"    # the device's bwPollTimeout is wrong: always wait 5 ms
QUIRK_FORCE_DFU11 = "force_dfu11"    # reports DFU 1.0 but speaks DFU 1.1
DEFAULT_POLLTIMEOUT_MS = 5
_OPENMOKO = tuple(range(0x5117, 0x5127))
_QUIRK_TABLE = (
    # (vendor, products, bcdDevice or None for any, quirk)
    (0x1D50, _OPENMOKO, None, QUIRK_POLLTIMEOUT),
    (0x1457, _OPENMOKO, None, QUIRK_POLLTIMEOUT),
    (0x16C0, (0x076B, 0x0762, 0x076C), None, QUIRK_POLLTIMEOUT),
    (0x0908, (0x02C4, 0x02C5), 0x0000, QUIRK_POLLTIMEOUT),
    (0x0763, (0x2806,), None, QUIRK_POLLTIMEOUT),
    (0x1EAF, (0x0003,), 0x0200, QUIRK_FORCE_DFU11),
)


def quirks_for(vendor: int, product: int, bcd_device: int) -> frozenset:
    return frozenset(quirk for vid, pids, bcd, quirk in _QUIRK_TABLE
                     if vid == vendor and product in pids and (bcd is None or bcd == bcd_device))
