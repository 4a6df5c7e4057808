"""``ControlSession``: a normal-mode device opened for Particle control requests.

The session is the one owner of the device's pyusb handle while it is open (``with`` releases it
through ``particle_py.usb.release_device``). ``request`` answers with a ``Reply``: a Device OS
that does not know the request says so as a value (``reply.supported`` is False), so callers can
fall back on the serial protocol; after a request that restarts the device (``control_codes.
RESTARTING``) a reply lost to the restart is success when the device really left the bus, and
an error when it is still there.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

from particle_py.control import exchange
from particle_py.control_codes import RESTARTING, RESULT_NOT_SUPPORTED, RESULT_OK
from particle_py.errors import ParticlePyError, UsbError

VANISH_TIMEOUT_MS = 5000
VANISH_POLL_MS = 250


@dataclass(frozen=True)
class Reply:
    result: int
    data: bytes = b""
    # set when the device did not take the request at all: a Device OS from before it stalls
    # the request or refuses its type (the reply then says "not supported")
    refusal: Optional[ParticlePyError] = None

    @property
    def ok(self) -> bool:
        return self.result == RESULT_OK and self.refusal is None

    @property
    def supported(self) -> bool:
        return self.result != RESULT_NOT_SUPPORTED

    def taken(self) -> "Reply":
        """This reply; the refusal raised for callers that have nothing to fall back on."""
        if self.refusal is not None:
            raise self.refusal
        return self


def _refused_type(err: ParticlePyError) -> bool:
    return (isinstance(err, UsbError) and err.errno_name == "LIBUSB_ERROR_PIPE") or \
        err.message.startswith("The device refused control request")


class ControlSession:
    """Control requests to one normal-mode device; ``with`` releases the handle at the end."""

    def __init__(self, usb_device, *, sleep_ms: Optional[Callable[[int], None]] = None):
        self.usb_device = usb_device
        self._sleep_ms = sleep_ms

    def __enter__(self) -> "ControlSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        from particle_py.usb import release_device

        release_device(self.usb_device)

    def request(self, req_type: int, payload: bytes = b"") -> Reply:
        try:
            result, data = exchange.request(self.usb_device, req_type, payload, sleep_ms=self._sleep_ms)
        except UsbError as err:
            # only a device that accepted the request may vanish: a request that failed before
            # (stall, timeout, no access) never reached it, and "done" would be a false success
            if req_type in RESTARTING and getattr(err, "request_accepted", False):
                if self.still_attached():
                    raise ParticlePyError(f"The device did not confirm the request ({err.message}) and did not "
                                          "restart", "Check the USB cable (no hub), or press its RESET button, "
                                          "then run the command again.", err.exit_code) from None
                return Reply(RESULT_OK)
            if not err.hint:
                err.hint = ("The device did not take the request: check the USB cable (no hub), or press its "
                            "RESET button, then run the command again.")
            if _refused_type(err):
                return Reply(RESULT_NOT_SUPPORTED, refusal=err)
            raise
        except ParticlePyError as err:
            if _refused_type(err):
                return Reply(RESULT_NOT_SUPPORTED, refusal=err)
            raise
        return Reply(result, data)

    def firmware_version(self) -> str:
        return exchange.firmware_version(self.usb_device)

    def still_attached(self) -> bool:
        """Whether the device is still at its bus address after a request that should restart it
        (a restarted device comes back with a new address). Lets go of the handle."""
        from particle_py import platforms, usb as transport

        dev = self.usb_device
        where = (getattr(dev, "bus", None), getattr(dev, "address", None))
        transport.release_device(dev)
        waited = 0
        while waited < VANISH_TIMEOUT_MS:
            transport.sleep_ms(VANISH_POLL_MS)
            waited += VANISH_POLL_MS
            present = False
            for other in transport.find_devices():
                if platforms.by_usb(other.idVendor, other.idProduct) is not None:
                    present = present or (other.bus, other.address) == where
                transport.release_device(other)
            if not present:
                return False
        return True
