"""The front ends. When this package is imported by one of our console scripts, a Ctrl-C before
the runner's handlers are in (while the front end's modules import: typer for particle-sim, the
DFU modules for dfu-util) ends the process the way it ends a C program, by the signal, silently,
instead of a KeyboardInterrupt traceback from the import. Imported any other way (tests, a
library user), nothing changes."""
import os as _os
import sys as _sys

_SCRIPTS = ("particle", "dfu-util", "particle-sim")


def _started_as_console_script() -> bool:
    name = _os.path.basename(_sys.argv[0]) if _sys.argv and _sys.argv[0] else ""
    for suffix in ("-script.pyw", "-script.py", ".exe"):       # Windows launchers
        if name.endswith(suffix):
            name = name[:-len(suffix)]
    return name in _SCRIPTS and getattr(_sys.modules.get("__main__"), "__spec__", None) is None


if _started_as_console_script():
    try:        # the C module: importing signal.py builds enums first, a window of its own
        import _signal
    except ImportError:
        import signal as _signal
    try:
        if _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
            _signal.signal(_signal.SIGINT, _signal.SIG_DFL)
    except (ValueError, OSError):       # not the main thread
        pass
