"""cli/render.py: how reporter events look as text (stdout, stderr, -v, bars on a terminal) and as
JSON lines (events.to_json)."""
from __future__ import annotations

import io
import json
import sys
from types import SimpleNamespace

import pytest
import typer

from particle_py import events
from particle_py.cli import render


def story(reporter: events.Reporter) -> None:
    reporter.step("Switching device to DFU mode")
    reporter.detail("Writing 0x080a0000 (alt 0, 4096 bytes)")
    reporter.warning("Warning: the app will not run")
    reporter.progress("tinker.bin", 512, 4096)
    reporter.emit(events.DeviceState("e00fce68", "photon", "DFU"))
    reporter.emit(events.Result("flash", {"written": ["tinker.bin"]}))
    reporter.step("Flash success!")
    reporter.close()


def test_text_steps_to_out_cautions_to_err_details_only_when_verbose():
    out, err = [], []
    story(render.TextReporter(out=out.append, err=err.append, bars=False))
    assert out == ["Switching device to DFU mode", "Flash success!"]
    assert err == ["Warning: the app will not run"]

    out, err = [], []
    story(render.TextReporter(verbose=True, out=out.append, err=err.append, bars=False))
    assert out == ["Switching device to DFU mode", "Flash success!"]
    assert err == ["Writing 0x080a0000 (alt 0, 4096 bytes)", "Warning: the app will not run"]


def test_text_default_writers_are_stdout_and_stderr_looked_up_when_written(capsys):
    reporter = render.TextReporter()         # stderr is captured, not a terminal: no bar
    story(reporter)
    captured = capsys.readouterr()
    assert captured.out == "Switching device to DFU mode\nFlash success!\n"
    assert captured.err == "Warning: the app will not run\n"


def test_no_bar_when_stderr_is_not_a_terminal(monkeypatch):
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    reporter = render.TextReporter(out=lambda _t: None)
    reporter.progress("tinker.bin", 10, 100)
    assert reporter._bars == {}


def test_a_bar_per_task_on_a_terminal_closed_by_close():
    screen = io.StringIO()
    reporter = render.TextReporter(out=lambda _t: None, bars=True, bar_file=screen)
    reporter.progress("system-part1.bin", 0, 2048)
    reporter.progress("system-part1.bin", 1024, 2048)
    reporter.progress("tinker.bin", 4096, 4096)
    bars = dict(reporter._bars)
    assert sorted(bars) == ["system-part1.bin", "tinker.bin"]
    assert (bars["system-part1.bin"].n, bars["system-part1.bin"].total) == (1024, 2048)
    assert (bars["tinker.bin"].n, bars["tinker.bin"].total) == (4096, 4096)
    drawn = screen.getvalue()
    assert "system-part1.bin:  50%" in drawn and "tinker.bin: 100%" in drawn
    reporter.close()
    assert reporter._bars == {} and all(bar.disable for bar in bars.values())   # closed: leave=False
    reporter.close()                       # closing twice is harmless (a failed run closes, then the end)


def test_json_lines_one_object_per_event_in_order():
    stream = io.StringIO()
    story(render.JsonLinesReporter(stream))
    lines = stream.getvalue().splitlines()
    assert lines == [
        '{"event": "step", "schema": 1, "text": "Switching device to DFU mode"}',
        '{"event": "detail", "schema": 1, "text": "Writing 0x080a0000 (alt 0, 4096 bytes)"}',
        '{"event": "warning", "schema": 1, "text": "Warning: the app will not run"}',
        '{"event": "progress", "schema": 1, "task": "tinker.bin", "done": 512, "total": 4096}',
        '{"event": "device_state", "schema": 1, "device_id": "e00fce68", "platform": "photon", "mode": "DFU", '
        '"detail": ""}',
        '{"event": "result", "schema": 1, "kind": "flash", "data": {"written": ["tinker.bin"]}}',
        '{"event": "step", "schema": 1, "text": "Flash success!"}',
    ]
    assert all(json.loads(line)["schema"] == events.SCHEMA_VERSION for line in lines)


def test_json_lines_default_to_stdout(capsys):
    render.JsonLinesReporter().step("Done.")
    assert capsys.readouterr().out == '{"event": "step", "schema": 1, "text": "Done."}\n'


def test_to_json_refuses_what_is_not_an_event():
    with pytest.raises(TypeError):
        events.to_json("Done.")


def test_verbose_comes_from_the_command_context():
    assert render.verbose(SimpleNamespace(obj={"verbose": True})) is True
    assert render.verbose(SimpleNamespace(obj={"verbose": False})) is False
    assert render.verbose(SimpleNamespace(obj=None)) is False


def test_dash_v_reaches_the_command_context():
    from particle_py.cli.particle.main import build_app

    seen = []
    app = build_app()

    @app.command("show-verbose")
    def show_verbose(ctx: typer.Context):
        seen.append(render.verbose(ctx))
    app(args=["-v", "show-verbose"], prog_name="particle", standalone_mode=False)
    app(args=["show-verbose"], prog_name="particle", standalone_mode=False)     # -v lasts one run
    assert seen == [True, False]


def test_an_operations_own_event_is_named_after_its_class():
    from particle_py.ops.serial_ops import MonitorState

    assert events.to_json(MonitorState("opening", "/dev/ttyACM0")) == {
        "event": "monitor_state", "schema": 1, "state": "opening", "port": "/dev/ttyACM0"}
