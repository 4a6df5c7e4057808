"""Stop signals held off for a critical block (a state save, a lock, a paused transfer), as
hardware holds a signal that arrives during a USB transfer until libusb returns. Stdlib only."""
from __future__ import annotations

import contextlib
import signal
import threading

_STOP_SIGNALS = {getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, n)}


@contextlib.contextmanager
def signals_held():
    """Deliver SIGINT/SIGTERM/SIGHUP only after the block (POSIX main thread; elsewhere as is)."""
    mask = getattr(signal, "pthread_sigmask", None)
    if mask is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    before = mask(signal.SIG_BLOCK, _STOP_SIGNALS)
    try:
        yield
    finally:
        mask(signal.SIG_SETMASK, before)
