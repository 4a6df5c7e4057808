"""One operation on many devices at once: a thread per device, each device's steps in order.

Each worker thread sees only its own device (``discovery.device_scope``), so the single-device
operations run unchanged, each with its own reporter (the front end's per-device line or bar).
A failure stays with its device: it is that device's result, and the others go on. A signal
(Ctrl-C) stops every device at its next step boundary; each one's report then says what it holds
and the command that finishes it. The summary is one ``Result("batch", ...)`` event (the text
front end draws it as a table) and the return value.
"""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Callable, Optional

from particle_py import events
from particle_py.errors import Interrupted, ParticlePyError, interrupt_underway
from particle_py.ops import discovery
from particle_py.ops.reconnect import port_path

OK, FAILED, STOPPED = "ok", "failed", "stopped"
POLL_S = 0.05


@dataclass
class DeviceOutcome:
    """One row of the summary."""
    device_id: str
    platform: str
    port: str
    done: str = ""                 # what was done (the operation's own words)
    result: str = ""               # ok, failed, stopped
    message: str = ""              # the error, when it failed or stopped
    finish: str = ""               # the command that finishes a device that stopped or failed
    exit_code: int = 0


@dataclass
class BatchSummary:
    action: str
    outcomes: list

    @property
    def exit_code(self) -> int:
        """0 only when every device succeeded; else the first failure's status."""
        for o in self.outcomes:
            if o.result != OK:
                return o.exit_code or 1
        return 0

    def as_data(self) -> dict:
        return {"action": self.action, "devices": [asdict(o) for o in self.outcomes],
                "succeeded": sum(o.result == OK for o in self.outcomes), "total": len(self.outcomes)}


class _Stopping(events.Reporter):
    """A device's reporter: passes its events on, and at a step boundary (a Step, never inside a
    transfer's Progress) raises the batch's stop in this device's thread."""

    def __init__(self, inner: events.Reporter, stop: threading.Event, signum: list):
        self.inner, self.stop, self.signum = inner, stop, signum

    def emit(self, event) -> None:
        if self.stop.is_set() and isinstance(event, (events.Step, events.DeviceState)):
            raise Interrupted(self.signum[0] if self.signum else 2)
        self.inner.emit(event)

    def close(self) -> None:
        self.inner.close()


def _finish_hint(err: ParticlePyError, retry: str) -> str:
    """The command that finishes the device: the one its error names, else the batch's retry."""
    import re

    found = re.findall(r"`(particle [^`]+)`", err.hint or "") + re.findall(r"`(particle [^`]+)`", err.message)
    if not found and (err.hint or "").startswith("particle "):
        # a hint that is a command, maybe with a remark after it: "particle keys doctor <id>   (or ...)"
        found = [re.split(r"\s{2,}|\s\(|; |\. ", err.hint, maxsplit=1)[0].rstrip(".")]
    return found[0] if found else retry


def run_batch(entries: list, work: Callable[[discovery.UsbEntry, events.Reporter], Optional[str]], *,
              action: str, reporter: events.Reporter = events.QUIET,
              reporter_for: Optional[Callable[[discovery.UsbEntry], events.Reporter]] = None,
              retry: Optional[Callable[[discovery.UsbEntry], str]] = None) -> BatchSummary:
    """``work(entry, reporter)`` on every entry at once; returns the summary (also emitted).

    ``work`` returns what it did in a few words (the summary's "done"); ``retry(entry)`` is the
    command that does it again for one device (the finish command of a device that failed
    without naming one)."""
    stop = threading.Event()
    signum: list = []
    outcomes = []
    for entry in entries:
        outcomes.append(DeviceOutcome(entry.device_id or "?", entry.platform.display_name,
                                      discovery.usb_port(entry)))
        discovery.release_entry(entry)           # each worker finds its own device again, in scope

    def one(entry, outcome: DeviceOutcome) -> None:
        own = reporter_for(entry) if reporter_for else reporter
        device_reporter = _Stopping(own, stop, signum)
        again = retry(entry) if retry else f"particle {action} {entry.device_id}"
        try:
            with discovery.device_scope(port_path(entry.usb_device), entry.device_id):
                if stop.is_set():
                    raise Interrupted(signum[0] if signum else 2)
                outcome.done = work(entry, device_reporter) or action
                outcome.result = OK
        except ParticlePyError as err:
            stopped = "nterrupted" in err.message
            outcome.result, outcome.message = (STOPPED if stopped else FAILED), err.message
            outcome.finish, outcome.exit_code = _finish_hint(err, again), err.exit_code
        except Interrupted as sig:
            outcome.result, outcome.message = STOPPED, "stopped before its next step; nothing was cut short"
            outcome.finish, outcome.exit_code = again, sig.exit_code
        except Exception as exc:          # a bug on one device must not end the others' work
            outcome.result, outcome.message = FAILED, f"internal error ({type(exc).__name__}: {exc})"
            outcome.finish, outcome.exit_code = again, 70
        finally:
            try:
                own.close()
            except Exception:
                pass
        reporter.emit(events.DeviceState(outcome.device_id, outcome.platform, "", outcome.result))

    threads = [threading.Thread(target=one, args=(e, o), name=f"device {o.device_id}", daemon=True)
               for e, o in zip(entries, outcomes)]
    for t in threads:
        t.start()
    pending = list(threads)
    while pending:
        try:
            pending[0].join(POLL_S)
            if interrupt_underway() and not stop.is_set():
                stop.set()              # a signal held back inside some device's deferred step
        except Interrupted as sig:      # the signal arrived in this thread: every device stops
            signum.append(sig.signum)
            stop.set()
        pending = [t for t in pending if t.is_alive()]
    summary = BatchSummary(action, outcomes)
    reporter.emit(events.Result("batch", summary.as_data()))
    return summary
