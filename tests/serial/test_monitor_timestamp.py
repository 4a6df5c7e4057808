"""`particle serial monitor --timestamp [--utc]`: particle-cli 3.51's timestamps (its
src/lib/serial-timestamp.js): the time each line began, ISO 8601 with milliseconds."""
import datetime as dt
import re
import time

import pytest

from helpers.serial_profiles import profile

STAMP_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z "
WHEN = dt.datetime(2026, 8, 17, 18, 4, 40, 805123, tzinfo=dt.timezone.utc)


def port(n):
    from particle_py.sim.serial import port_name
    return port_name(n)


def test_monitor_with_utc_timestamps_stamps_each_line_once(sim, run):
    s = sim(profile("argon"))
    s.script(["Hello from ", "the app\r\n", "tick 1\r\ntick", " 2\r\n", {"event": "reset"}])
    code, out, err = run("serial", "monitor", "--timestamp", "--utc")
    assert (code, err) == (0, "")
    head = f'Opening serial monitor for com port: " {port(0)} "\nSerial monitor opened successfully:\n'
    assert out.startswith(head)
    body = out[len(head):]
    assert re.fullmatch(f"{STAMP_UTC}Hello from the app\r\n{STAMP_UTC}tick 1\r\n{STAMP_UTC}tick 2\r\n"
                        "\nSerial connection closed.\n", body), body


def test_utc_alone_turns_timestamps_on(sim, run):
    s = sim(profile("argon"))
    s.script(["one\n", {"event": "reset"}])
    code, out, _ = run("serial", "monitor", "--utc")
    assert code == 0 and re.search(f"\n{STAMP_UTC}one\n", out)


@pytest.fixture
def new_york(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_formats(new_york):
    from particle_py.ops.serial_ops import format_timestamp

    assert format_timestamp(WHEN, utc=True) == "2026-08-17T18:04:40.805Z"
    assert format_timestamp(WHEN, utc=False) == "2026-08-17T14:04:40.805-04:00"
    assert format_timestamp(WHEN.replace(month=1), utc=False) == "2026-01-17T13:04:40.805-05:00"


def test_the_writer_passes_text_through_and_stamps_where_a_line_begins():
    from particle_py.ops.serial_ops import TimestampWriter

    written = []
    writer = TimestampWriter(written.append, utc=True, now=lambda: WHEN)
    for chunk in ("a", "b\nc", "\n", "", "\n\nd"):
        writer(chunk)
    s = "2026-08-17T18:04:40.805Z "
    assert written == [f"{s}a", f"b\n{s}c", "\n", f"{s}\n{s}\n{s}d"]
