"""The project's one error type, and the one place that turns it into output.

Operations raise ParticlePyError with what went wrong, what to do next and the
exit status. Front ends catch it at their top level and call ``report``; nothing
else prints errors.

Signals are the other way work stops: ``particle_py.cli.runner`` turns SIGINT,
SIGTERM and SIGHUP into ``Interrupted``, which code that writes to a device
catches to say what the device now holds. ``deferred_interrupts`` marks the steps
that must not be cut in half (one USB request and its status, a key write).
"""
from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:       # typing costs milliseconds at start-up, before the signal handlers are in place
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


# --- interruption -----------------------------------------------------------------------------

SIGNAL_NAMES = {1: "SIGHUP", 2: "SIGINT", 13: "SIGPIPE", 15: "SIGTERM"}


class Interrupted(BaseException):
    """A signal asked the program to stop. A BaseException, like KeyboardInterrupt, so that
    ``except Exception`` around a step does not swallow it; ``finally`` blocks still run.
    ``exit_code`` is the shell's 128 + signal number (130 for SIGINT)."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum
        self.exit_code = 128 + signum
        self.name = SIGNAL_NAMES.get(signum, f"signal {signum}")

    @property
    def label(self) -> str:
        """'Interrupted' for Ctrl-C (the user knows what they pressed), 'Interrupted (SIGTERM)' else."""
        return "Interrupted" if self.signum == 2 else f"Interrupted ({self.name})"

    def __str__(self) -> str:
        return self.label


_defer_depth = 0
_pending: Optional[int] = None      # a signal that arrived while deferred
_stopping = False                   # Interrupted was raised once: later signals do not cut cleanup short


def signal_arrived(signum: int) -> None:
    """Called by the front end's signal handler: raise Interrupted now, or at the end of the
    deferred step in progress. Only the first signal interrupts: what runs after it (closing the
    device, saving the simulator, putting a key back) must finish, or the report would lie."""
    global _pending, _stopping
    if _stopping:
        return
    if _defer_depth:
        if _pending is None:
            _pending = signum
        return
    _stopping = True
    raise Interrupted(signum)


class deferred_interrupts:
    """A step that must finish once started: a signal arriving inside it is raised after it.
    A context manager (``with deferred_interrupts():``) or a decorator (``@deferred_interrupts()``).
    A step that fails raises its own error; the signal then stays pending for the next step.
    ``drop=True`` is for closing up after the work: a signal then changes nothing (the work is
    done, or its failure is being reported), so it is forgotten instead of raised."""

    def __init__(self, drop: bool = False):
        self.drop = drop

    def __enter__(self) -> None:
        global _defer_depth
        _defer_depth += 1

    def __exit__(self, exc_type, exc, tb) -> bool:
        global _defer_depth, _pending, _stopping
        _defer_depth -= 1
        if not _defer_depth and _pending is not None and not _stopping and (exc_type is None or self.drop):
            signum, _pending = _pending, None
            if not self.drop:
                _stopping = True
                raise Interrupted(signum)
        return False

    def __call__(self, fn):
        drop = self.drop

        def deferring(*args, **kwargs):
            with deferred_interrupts(drop):
                return fn(*args, **kwargs)
        deferring.__name__, deferring.__doc__, deferring.__wrapped__ = fn.__name__, fn.__doc__, fn
        return deferring


def interrupt_underway() -> bool:
    """A signal was already taken (raised, or waiting for the end of a deferred step)."""
    return _stopping or _pending is not None


def stop_interrupting() -> None:
    """The work is over: signals from now on change nothing (the process is about to exit)."""
    global _stopping
    _stopping = True


def reset_interrupt_state() -> None:
    """Forget an earlier interruption (a front end starts each run with a clean slate; tests run
    many in one process)."""
    global _defer_depth, _pending, _stopping
    _defer_depth, _pending, _stopping = 0, None, False
