"""The reporter contract: what an operation tells the front end while it works.

Operations (``ops/``, ``doctor/``) never print. They emit typed events to a ``Reporter`` and
return data; a front end decides how events look (``cli/render.py`` renders them as the text
particle-cli and dfu-util print, and the same stream can be written as JSON lines). Questions
are not events: an operation that needs a decision takes a callable that answers it (``ask``,
``choose``), supplied by the front end, and None where nobody may be asked.

Ground floor: stdlib only, imported by every floor above.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, is_dataclass
from typing import Any, Callable, Optional, Sequence, TypeVar


@dataclass(frozen=True)
class Step:
    """A line of the operation's own story, shown always ("Switching device to DFU mode...")."""
    text: str


@dataclass(frozen=True)
class Detail:
    """A line shown only when the user asked for more (-v): a check, a mode switch."""
    text: str


@dataclass(frozen=True)
class Caution:
    """A warning: something the user should know that does not stop the work (written to stderr)."""
    text: str


@dataclass(frozen=True)
class Progress:
    """Bytes moved for one task (a module being written): ``done`` of ``total``."""
    task: str
    done: int
    total: int


@dataclass(frozen=True)
class DeviceState:
    """What a device is doing now, as far as the operation knows (mode: "DFU" or "NORMAL")."""
    device_id: str
    platform: str
    mode: str
    detail: str = ""


@dataclass(frozen=True)
class Result:
    """The operation's outcome as data (what ``--json`` writes); the return value carries it too."""
    kind: str
    data: dict = field(default_factory=dict)


Event = Any       # one of the classes above

Choice = TypeVar("Choice")
# A question the front end answers: pick one of several (devices, ports); ops take it as ``choose``
# or ``ask`` and treat None as "nobody may be asked".
Choose = Callable[[Sequence[Choice]], Choice]

# The JSON-lines form of the stream: bump when a field is renamed or removed (adding one is compatible).
SCHEMA_VERSION = 1
_KINDS = {Step: "step", Detail: "detail", Caution: "warning", Progress: "progress",
          DeviceState: "device_state", Result: "result"}


def _snake(name: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


def to_json(event: Event) -> dict:
    """One event as a JSON-ready dict: ``{"event": kind, "schema": SCHEMA_VERSION, ...fields}``.
    An operation's own event dataclass (ops.serial_ops.MonitorState) is named after its class
    ("monitor_state"). Events carry what the user may see, never keys or tokens, so every field is written."""
    if not is_dataclass(event) or isinstance(event, type):
        raise TypeError(f"not a reporter event: {event!r}")
    kind = _KINDS.get(type(event)) or _snake(type(event).__name__)
    out = {"event": kind, "schema": SCHEMA_VERSION}
    out.update(asdict(event))
    return out


class Reporter:
    """Receives events. This base drops them all: a quiet run, and the default of every operation."""

    def emit(self, event: Event) -> None:
        pass

    # Shorthands an operation uses; each is one event.
    def step(self, text: str) -> None:
        self.emit(Step(text))

    def detail(self, text: str) -> None:
        self.emit(Detail(text))

    def warning(self, text: str) -> None:
        self.emit(Caution(text))

    def progress(self, task: str, done: int, total: int) -> None:
        self.emit(Progress(task, done, total))

    def close(self) -> None:
        """The operation is over (ended or failed): a renderer closes what it drew (progress bars)."""


QUIET = Reporter()


class Recorder(Reporter):
    """Keeps every event in order: tests, and front ends that render after the fact."""

    def __init__(self) -> None:
        self.events: list = []

    def emit(self, event: Event) -> None:
        self.events.append(event)

    def lines(self) -> list[str]:
        return [e.text for e in self.events if isinstance(e, (Step, Detail, Caution))]


class LineReporter(Reporter):
    """Every Step (and Detail when ``verbose``) as one text line to ``write``; a front end's
    simplest renderer, and the adapter for callers that want plain lines."""

    def __init__(self, write: Callable[[str], None], *, verbose: bool = False,
                 warn: Optional[Callable[[str], None]] = None) -> None:
        self._write = write
        self._warn = warn or write
        self.verbose = verbose

    def emit(self, event: Event) -> None:
        if isinstance(event, Step) or (self.verbose and isinstance(event, Detail)):
            self._write(event.text)
        elif isinstance(event, Caution):
            self._warn(event.text)


def reporter_or_quiet(reporter: Optional[Reporter]) -> Reporter:
    return QUIET if reporter is None else reporter
