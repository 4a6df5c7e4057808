"""How the reporter's events look: as text on a terminal or a pipe, or as JSON lines.

``TextReporter`` is the text front end's renderer: a Step is a line on stdout, a Caution a line on
stderr, a Detail a line on stderr only with -v (what is written where), and Progress a tqdm bar per
task while stderr is a terminal (nothing when piped: the lines say enough). A command that says
more than the lines (flash's "Flash failed." after a write began, update's plan) subclasses it
and overrides ``on_step`` / ``on_result``. ``JsonLinesReporter`` writes each event as one JSON
object (``events.to_json``).
"""
from __future__ import annotations

import json
import sys
from typing import Callable, Optional, TextIO

from particle_py import events

Write = Callable[[str], None]


def _echo(err: bool) -> Write:
    """A line to stdout or stderr as typer.echo writes it, looked up at each write: the runner and
    the tests replace the streams after the reporter is built."""
    def write(text: str) -> None:
        import typer

        typer.echo(text, err=err)
    return write


def verbose(ctx) -> bool:
    """Whether the running `particle` command was given -v: main.py keeps it in the context's obj,
    which every sub-command's context inherits."""
    return bool(isinstance(getattr(ctx, "obj", None), dict) and ctx.obj.get("verbose"))


class TextReporter(events.Reporter):
    """Events as the text particle-cli prints. ``out``/``err`` take a line each (default: typer.echo
    to stdout/stderr); ``bars`` None means tqdm bars only when stderr is a terminal."""

    def __init__(self, *, verbose: bool = False, out: Optional[Write] = None, err: Optional[Write] = None,
                 bars: Optional[bool] = None, bar_file: Optional[TextIO] = None) -> None:
        self.verbose = verbose
        self._out = out or _echo(False)
        self._err = err or _echo(True)
        self._bar_file = bar_file
        self._bars_on = sys.stderr.isatty() if bars is None else bars
        self._bars: dict = {}

    def emit(self, event: events.Event) -> None:
        session = json_session()
        if session is not None:
            # --json: the same events, written as JSON; the command's hooks still see them
            session.emit(event)
            if isinstance(event, events.Step):
                self.on_step(event.text)
            elif isinstance(event, events.Result):
                self.on_result(event)
            return
        if isinstance(event, events.Step):
            self.on_step(event.text)
            self._out(event.text)
        elif isinstance(event, events.Detail):
            if self.verbose:
                self._err(event.text)
        elif isinstance(event, events.Caution):
            self._err(event.text)
        elif isinstance(event, events.Progress):
            if self._bars_on:
                self._advance(event)
        elif isinstance(event, events.Result):
            self.on_result(event)

    def on_step(self, text: str) -> None:
        """A command's hook before a Step is printed."""

    def on_result(self, event: events.Result) -> None:
        """A command's hook for an operation's Result (nothing is printed by default)."""

    def _advance(self, event: events.Progress) -> None:
        bar = self._bars.get(event.task)
        if bar is None:
            bar = self._bars[event.task] = self._new_bar(event)
            if event.done == 0:
                return              # a new bar shows 0 already: drawing it again adds bytes, not news
        bar.total = event.total
        bar.n = event.done
        bar.refresh()

    def _new_bar(self, event: events.Progress):
        import shutil

        from tqdm import tqdm

        # No monitor thread (the bar is refreshed by hand): with a second thread in the process,
        # the kernel may hand a Ctrl-C to it instead of the main thread, which holds signals
        # back while a USB transfer completes.
        tqdm.monitor_interval = 0
        # get_terminal_size falls back to 80 columns where the terminal reports none.
        return tqdm(total=event.total, unit="B", unit_scale=True, unit_divisor=1024, desc=event.task,
                    leave=False, file=self._bar_file or sys.stderr,
                    ncols=min(shutil.get_terminal_size().columns, 100))

    def close(self) -> None:
        bars, self._bars = self._bars, {}
        for bar in bars.values():
            bar.close()


class JsonLinesReporter(events.Reporter):
    """Every event as one JSON object on its own line (``events.to_json``), flushed as it comes, so a
    program reading the stream sees each step when it happens."""

    def __init__(self, stream: Optional[TextIO] = None) -> None:
        self._stream = stream

    def emit(self, event: events.Event) -> None:
        stream = self._stream or sys.stdout
        stream.write(json.dumps(events.to_json(event), sort_keys=False) + "\n")
        stream.flush()


# --- machine-readable output: the `--json` / `--json-lines` envelope (docs/json.md) ---

ENVELOPE_SCHEMA = 2     # schema 1 was doctor's lone report; 2 is the envelope every command prints


class JsonSession(events.Reporter):
    """One `particle` run with --json or --json-lines: every event of every reporter the command
    builds comes here (TextReporter forwards while a session is active), and the run ends with one
    envelope. ``lines``: each event is also written as it comes, one JSON object a line."""

    def __init__(self, stream: TextIO, *, lines: bool) -> None:
        self._stream = stream
        self.lines = lines
        self.command = ""
        self.steps: list = []
        self.devices: dict = {}
        self.result: dict = {}
        self.output: list = []
        self.extra: dict = {}       # top-level keys a command keeps for compatibility (doctor's report)

    def emit(self, event: events.Event) -> None:
        data = events.to_json(event)
        if isinstance(event, events.Step):
            self.steps.append(event.text)
        elif isinstance(event, events.DeviceState):
            self.devices[event.device_id] = {"id": event.device_id, "platform": event.platform, "mode": event.mode}
        elif isinstance(event, events.Result):
            self.result[event.kind] = event.data
            self._note_device(event.data)
        if self.lines:
            self._write(data)

    def _note_device(self, data: dict) -> None:
        device_id = data.get("device_id") if isinstance(data, dict) else None
        if isinstance(device_id, str) and device_id and device_id not in self.devices:
            self.devices[device_id] = {"id": device_id, "platform": data.get("platform"), "mode": data.get("mode")}

    def text(self, line: str) -> None:
        """A line a command printed itself (not yet an event): kept, never lost, never on stdout."""
        self.output.append(line)
        if self.lines:
            self._write({"event": "output", "schema": events.SCHEMA_VERSION, "text": line})

    def envelope(self, exit_code: int, error: Optional[dict]) -> dict:
        out = {"schema": ENVELOPE_SCHEMA, "command": self.command, "exit_code": exit_code,
               "devices": list(self.devices.values()), "steps": list(self.steps), "result": dict(self.result),
               "output": list(self.output), "error": error}
        for key, value in self.extra.items():
            out.setdefault(key, value)
        if self.lines:
            out = {"event": "end", **out}
        return out

    def finish(self, exit_code: int, error: Optional[dict]) -> None:
        envelope = self.envelope(exit_code, error)
        if self.lines:
            self._write(envelope)
        else:
            self._stream.write(json.dumps(envelope, indent=2, ensure_ascii=False) + "\n")
            self._stream.flush()

    def _write(self, data: dict) -> None:
        self._stream.write(json.dumps(data, ensure_ascii=False) + "\n")
        self._stream.flush()


class _LineSink:
    """The binary end of the stand-in stdout a --json run gets: complete lines go to the session."""

    def __init__(self, session: JsonSession) -> None:
        self._session = session
        self._pending = b""

    def write(self, data) -> int:
        self._pending += bytes(data)
        *done, self._pending = self._pending.split(b"\n")
        for line in done:
            self._session.text(line.decode("utf-8", "backslashreplace"))
        return len(data)

    def flush_rest(self) -> None:
        if self._pending:
            rest, self._pending = self._pending, b""
            self._session.text(rest.decode("utf-8", "backslashreplace"))


def _stand_in_stdout(sink: _LineSink):
    import io

    class Raw(io.RawIOBase):
        def writable(self) -> bool:
            return True

        def write(self, data) -> int:
            return sink.write(data)

    # a real text stream, so typer.echo and print treat it as they treat a console
    return io.TextIOWrapper(Raw(), encoding="utf-8", errors="backslashreplace", line_buffering=True,
                            write_through=True)


_active: list = []      # the session of the run under way (a stack: `particle help` runs main again)


def json_session() -> Optional[JsonSession]:
    return _active[-1] if _active else None


class JsonRun:
    """Holds a --json run's session for the time of the command: stdout is the session's alone, and
    what a command prints by itself becomes an ``output`` line."""

    def __init__(self, *, lines: bool) -> None:
        self.session = JsonSession(sys.stdout, lines=lines)
        self._sink = _LineSink(self.session)
        self._stdout = None

    def __enter__(self) -> JsonSession:
        self._stdout = sys.stdout
        sys.stdout = _stand_in_stdout(self._sink)
        _active.append(self.session)
        return self.session

    def __exit__(self, *exc) -> None:
        try:
            sys.stdout.flush()
        except (OSError, ValueError):
            pass
        self._sink.flush_rest()
        sys.stdout = self._stdout
        if _active and _active[-1] is self.session:
            _active.pop()


# --- many devices at once (ops/batch.py) ----------------------------------------------------------

class DeviceLines(TextReporter):
    """One device's events in a batch: every line prefixed with the device's id and port, written
    under one lock shared by the batch's devices so lines never interleave mid-line; on a terminal
    its Progress is a bar labelled with the device."""

    def __init__(self, label: str, lock, *, verbose: bool = False, bars: Optional[bool] = None,
                 row: int = 0, out: Optional[Write] = None, bar_file: Optional[TextIO] = None) -> None:
        self.label, self._lock, self.row = label, lock, row
        out, err = out or _echo(False), _echo(True)
        super().__init__(verbose=verbose, out=self._locked(out), err=self._locked(err), bars=bars, bar_file=bar_file)

    def _locked(self, write: Write) -> Write:
        def prefixed(text: str) -> None:
            if not text.strip():
                return          # a spacer line of the single-device output says nothing per device
            with self._lock:
                write(f"[{self.label}] {text}")
        return prefixed

    def _advance(self, event: events.Progress) -> None:
        with self._lock:
            super()._advance(events.Progress(f"{self.label} {event.task}", event.done, event.total))

    def _new_bar(self, event: events.Progress):
        import shutil

        from tqdm import tqdm

        tqdm.monitor_interval = 0           # see TextReporter._new_bar
        # one terminal row per device, so the devices' bars do not draw over each other
        return tqdm(total=event.total, unit="B", unit_scale=True, unit_divisor=1024, desc=event.task,
                    leave=False, file=self._bar_file or sys.stderr, position=self.row,
                    ncols=min(shutil.get_terminal_size().columns, 100))

    def close(self) -> None:
        with self._lock:
            super().close()


def device_reporters(*, verbose: bool = False):
    """reporter_for(entry) for ops.batch.run_batch: one DeviceLines per device, one shared lock."""
    import threading

    from particle_py.ops import discovery

    lock = threading.Lock()
    rows = iter(range(1 << 16))

    def reporter_for(entry) -> DeviceLines:
        with lock:
            row = next(rows)
        return DeviceLines(f"{entry.device_id or '?'} {discovery.usb_port(entry)}", lock, verbose=verbose, row=row)
    return reporter_for


def summary_table(data: dict) -> list:
    """The batch summary (Result "batch") as text lines: one row a device, then the count."""
    head = ("DEVICE", "PLATFORM", "PORT", "DONE", "RESULT", "TO FINISH")
    rows = [(d["device_id"], d["platform"], d["port"], d["done"] if d["result"] == "ok" else "",
             d["result"] + (": " + " ".join(d["message"].split()) if d["message"] else ""), d["finish"])
            for d in data["devices"]]
    widths = [max(len(str(r[i])) for r in [head] + rows) for i in range(len(head))]

    def line(cells) -> str:
        return "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()
    return [line(head)] + [line(r) for r in rows] + \
        [f"{data['succeeded']} of {data['total']} devices: {data['action']} succeeded."]
