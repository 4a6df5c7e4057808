"""How every front end (``particle``, ``particle-sim``, ``dfu-util``) runs: the one path from an
outcome to output and an exit status.

``run(work)`` calls ``work()`` (which returns an exit status or raises) and turns what can end it
into a message and a status:

- ``ParticlePyError``: ``errors.report`` (message, hint), its exit code;
- a usage error: the front end's own parser already printed it (typer/click in standalone mode:
  ``Error: ...``, exit 2; dfu-util's getopt messages), so only the status passes through;
- SIGINT / SIGTERM / SIGHUP: handlers raise ``errors.Interrupted`` at the next safe point
  (operations that write to a device catch it and report what the device holds); exit
  128 + signal (130, 143, 129). dfu-util instead dies by the signal itself, as the C program does;
- a closed stdout (``dfu-util -l | head -1``): the rest of the output goes to the null device and
  the work goes on (stopping a device write half-way because a reader went away would be worse);
  dfu-util dies by SIGPIPE as the C program does;
- text a legacy console encoding cannot show: written as backslash escapes, never a crash;
- anything else is a bug: one line saying so and where to report it, exit 70; the traceback only
  with PARTICLE_PY_DEBUG=1.

Kept import-light: it runs before anything else of a command.
"""
from __future__ import annotations

import os
import signal
import sys

from particle_py import errors

TYPE_CHECKING = False
if TYPE_CHECKING:       # typing costs milliseconds before the handlers are in place
    from typing import Callable, Optional

DEBUG_ENV = "PARTICLE_PY_DEBUG"
EX_SOFTWARE = 70
HANDLED_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name))
SIGPIPE_STATUS = 128 + 13


def harden_streams() -> None:
    """Make stdout and stderr unable to fail on text their encoding lacks (a cp1252 or ASCII
    console given a file name in another script): such characters come out as \\u escapes."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is None or getattr(stream, "errors", None) not in ("strict", None):
            continue
        try:
            reconfigure(errors="backslashreplace")
        except (ValueError, OSError):       # closed or detached: nothing to protect
            pass


_GONE = (32, 5) + ((22,) if os.name == "nt" else ())
# EPIPE: the reader of a pipe left; EIO: the terminal hung up; EINVAL: Windows' word for a closed pipe


class _PipeSafe:
    """A stream that survives its reader going away (a closed pipe, a closed terminal): the file
    descriptor is pointed at the null device and writing goes on there, so the work reaches its
    safe point and earns its exit status instead of dying in a progress bar."""

    def __init__(self, stream):
        self._stream = stream
        self.reader_gone = False

    def __getattr__(self, name):
        return getattr(self._stream, name)

    def _to_null(self) -> None:
        self.reader_gone = True
        try:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, self._stream.fileno())
            os.close(null)
        except (OSError, ValueError, AttributeError):
            pass

    def write(self, text):
        try:
            return self._stream.write(text)
        except OSError as exc:
            if exc.errno not in _GONE:
                raise
            self._to_null()
            try:
                return self._stream.write(text)
            except (OSError, ValueError):
                return len(text)

    def writelines(self, lines):
        for line in lines:
            self.write(line)

    def flush(self):
        try:
            self._stream.flush()
        except OSError as exc:
            if exc.errno not in _GONE:
                raise
            self._to_null()
            try:
                self._stream.flush()
            except (OSError, ValueError):
                pass


_ignored = 0


def _handler(signum, _frame):
    global _ignored
    if errors.interrupt_underway():
        # cleanup after the first signal must finish; a third ^C means the user insists
        _ignored += 1
        if _ignored >= 2:
            _die_by(signum)
        return
    _ignored = 0
    errors.signal_arrived(signum)


def _install_handlers(previous: dict) -> None:
    """Our handler for SIGINT/SIGTERM/SIGHUP (main thread only); ``previous`` gets what was there
    before, one signal at a time, so a signal arriving midway still leaves it complete."""
    for sig in HANDLED_SIGNALS:
        try:
            before = signal.getsignal(sig)
            if before is signal.SIG_IGN and sig != signal.SIGINT:
                continue            # started under nohup (SIGHUP ignored): keep it that way
            previous[sig] = before
            signal.signal(sig, _handler)
        except (OSError, ValueError):
            pass


def _restore_handlers(previous: dict) -> None:
    for sig, handler in previous.items():
        try:
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        except (OSError, ValueError, TypeError):
            pass


def _die_by(signum: int) -> None:
    """End the process the way a C program killed by ``signum`` ends (POSIX); a shell sees
    128 + signum and a parent sees the signal, exactly as for the real dfu-util."""
    if os.name == "nt":
        return
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    try:
        signal.signal(signum, signal.SIG_DFL)
    except ValueError:          # not the main thread: leave the status to the caller
        return
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
    os.kill(os.getpid(), signum)


def bug_line(exc: BaseException, prog: str) -> str:
    """The one line an unexpected exception gets (the traceback only with PARTICLE_PY_DEBUG=1)."""
    where = _issue_tracker()
    return (f"{prog}: internal error ({type(exc).__name__}: {_short(exc)}). This is a bug in particle-py; "
            f"please report it{' at ' + where if where else ''} with the command you ran and the output of "
            f"the same command run with {DEBUG_ENV}=1.")


def _short(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()).encode("ascii", "backslashreplace").decode("ascii")
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _issue_tracker() -> Optional[str]:
    """The project's issue URL from the installed metadata (read only when a bug happened)."""
    try:
        from importlib.metadata import metadata
        for entry in metadata("particle-py").get_all("Project-URL") or []:
            label, _, url = entry.partition(",")
            if label.strip().lower() in ("issues", "bug tracker", "bugs", "tracker"):
                return url.strip()
    except Exception:
        pass
    return None


def work_done() -> None:
    """The command's work is over and its outcome is being printed: a signal from now on changes
    nothing, so a finished job exits 0 (not 130/143 because ^C came as the success line was
    printed). Called by a front end right after the operation returned."""
    errors.stop_interrupting()


def run(work: Callable[[], Optional[int]], *, prog: str, process: bool = True, posix_signal_death: bool = False,
        interrupted_line: Optional[str] = "Interrupted.",
        on_end: Optional[Callable[[int, Optional[dict]], None]] = None) -> int:
    """Run one front end's work; return the exit status it earned.

    process: this run is the whole process (a console script): the signal handlers stay, quiet,
    until the interpreter has exited, so a late ^C cannot print a traceback from the wrapper.
    Otherwise (a test calling main(argv)) the handlers before the run are put back.
    posix_signal_death: after a signal or a closed stdout, die by that signal instead of
    returning a status (dfu-util, whose callers see the signal as with the C program; the
    process only dies after every ``finally`` has run, devices closed and the simulator saved).
    interrupted_line: what a bare interruption prints (operations that were writing to a device
    have already raised a ParticlePyError saying what it holds).
    on_end: told once how the run ended, ``(status, error)`` with error None or ``{"message",
    "hint", "exit_code"}``: the --json envelope, written from the same outcome as the text.
    """
    global _ignored
    errors.reset_interrupt_state()
    _ignored = 0            # signals ignored in an earlier run (tests run many) do not count here
    harden_streams()
    streams = (sys.stdout, sys.stderr)
    if not posix_signal_death:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            if stream is not None and not isinstance(stream, _PipeSafe):
                setattr(sys, name, _PipeSafe(stream))
    previous: dict = {}

    def handled_work():
        # installed inside the reporting: a signal that arrives while the handlers go in (the
        # first is ours, the next not yet) is reported like any other, never a traceback
        _install_handlers(previous)
        return work()

    die_with = None
    ended: dict = {}
    try:
        code = _run_reporting(handled_work, prog, interrupted_line, ended)
        if isinstance(code, tuple):          # (status, signal to die by)
            code, die_with = code
        if on_end is not None:
            _tell_end(on_end, code, ended.get("error"))
        return code
    finally:
        if process:
            errors.stop_interrupting()      # the outcome is settled: a late ^C changes nothing
        _flush_quietly()
        if not process:
            sys.stdout, sys.stderr = streams
            _restore_handlers(previous)
            errors.reset_interrupt_state()
        if die_with is not None and posix_signal_death and process:
            _die_by(die_with)


def _flush_quietly() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass


def _tell_end(on_end, code: int, error: Optional[dict]) -> None:
    try:
        with errors.deferred_interrupts(drop=True):     # the envelope is written whole or not at all
            on_end(code, error)
    except (OSError, ValueError):        # stdout is gone: the status still tells
        pass


def _error_data(message: str, hint: Optional[str], code: int) -> dict:
    return {"message": message, "hint": hint or "", "exit_code": code}


def _run_reporting(work, prog, interrupted_line, ended: Optional[dict] = None):
    ended = {} if ended is None else ended
    try:
        return _status(work())
    except errors.ParticlePyError as err:
        ended["error"] = _error_data(err.message, err.hint, err.exit_code)
        code = _report(err)
        signum = code - 128 if code in (129, 130, 143) else None     # an operation's interrupted state
        return (code, signum) if signum else code
    except SystemExit as exc:                   # typer/click: usage errors (already printed), typer.Exit
        return _status(exc.code)
    except errors.Interrupted as sig:
        ended["error"] = _error_data("Interrupted.", "", sig.exit_code)
        if interrupted_line:
            _write_err(f"{interrupted_line}\n" if sig.signum == 2 else f"{interrupted_line[:-1]} ({sig.name}).\n")
        return sig.exit_code, sig.signum
    except KeyboardInterrupt:                   # no handler of ours (not the main thread)
        ended["error"] = _error_data("Interrupted.", "", 130)
        if interrupted_line:
            _write_err(f"{interrupted_line}\n")
        return 130, 2
    except BrokenPipeError:                     # stdout closed and not pipe-safe (dfu-util): SIGPIPE
        _pipe_to_null()
        return SIGPIPE_STATUS, 13
    except Exception as exc:
        with errors.deferred_interrupts(drop=True):
            if os.environ.get(DEBUG_ENV, "") not in ("", "0"):
                import traceback
                traceback.print_exc()
            _write_err(bug_line(exc, prog) + "\n")
        ended["error"] = _error_data(bug_line(exc, prog), "", EX_SOFTWARE)
        return EX_SOFTWARE


def _report(err: errors.ParticlePyError) -> int:
    try:
        with errors.deferred_interrupts(drop=True):     # a ^C now must not cut the report short
            return errors.report(err)
    except (OSError, ValueError):        # stderr is gone (closed terminal): the status still tells
        return err.exit_code


def _write_err(text: str) -> None:
    try:
        with errors.deferred_interrupts(drop=True):
            sys.stderr.write(text)
            sys.stderr.flush()
    except (OSError, ValueError):
        pass


def _pipe_to_null() -> None:
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    except (OSError, ValueError, AttributeError):
        pass


def _status(code) -> int:
    """An exit status from what work returned or SystemExit carried (None = 0, text = 1)."""
    if code is None:
        return 0
    if isinstance(code, bool):
        return int(code)
    if isinstance(code, int):
        return code
    _write_err(f"{code}\n")
    return 1
