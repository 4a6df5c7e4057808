"""The project's one error type, and the one place that turns it into output.

Operations raise ParticlePyError with what went wrong, what to do next and the
exit status. Front ends catch it at their top level and call ``report``; nothing
else prints errors.
"""
from __future__ import annotations

import sys
from typing import Optional, TextIO

# sysexits.h values, the vocabulary dfu-util uses
EX_OK = 0
EX_USAGE = 64
EX_DATAERR = 65
EX_NOINPUT = 66
EX_SOFTWARE = 70
EX_CANTCREAT = 73
EX_IOERR = 74
EX_PROTOCOL = 76


class ParticlePyError(Exception):
    """An error a user can act on: message, hint (the next step) and exit status."""

    def __init__(self, message: str, hint: Optional[str] = None, exit_code: int = 1):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n{self.hint}"


class UsbError(ParticlePyError):
    """A USB-level failure; ``errno_name`` is libusb's name for it (LIBUSB_ERROR_PIPE ...)."""

    def __init__(self, message: str, errno_name: str = "LIBUSB_ERROR_IO", hint: Optional[str] = None,
                 exit_code: int = EX_IOERR, libusb_code: Optional[int] = None):
        super().__init__(message, hint, exit_code)
        self.errno_name = errno_name
        self.libusb_code = libusb_code


def report(err: ParticlePyError, stream: Optional[TextIO] = None, prefix: str = "") -> int:
    """Print an error the way every front end does; return its exit status."""
    stream = stream or sys.stderr
    stream.write(f"{prefix}{err.message}\n")
    if err.hint:
        stream.write(f"{err.hint}\n")
    stream.flush()
    return err.exit_code
