"""Run scenarios through our dfu-util on fresh simulated devices and compare with the recording."""
from __future__ import annotations

import difflib
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import traceback
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from .inputs import InputError, make_inputs
from .notation import (STDERR, STDOUT, NotationError, Scenario, collapse_repaints, escape, expected_segments,
                       normalise_banner, render)

ROOT = Path(__file__).resolve().parents[2]
REAL_DFU_UTIL = "/usr/bin/dfu-util"
REAL_VERSION = "0.11"   # the version of the real binary --real runs
RUN_TIMEOUT_S = 120     # safety net against a hung run (e.g. -w with no device); not an assertion


@dataclass
class Outcome:
    scenario: str
    version: str
    source: str
    ok: bool
    summary: str = ""                 # one-line reason when not ok
    details: list = field(default_factory=list)  # full diff lines when not ok

    def line(self) -> str:
        return f"FAIL {self.source}::{self.scenario} [{self.version}]: {self.summary}"


class _Capture:
    """A text stream that appends (stream, text) to a shared list, so interleaving is kept."""

    def __init__(self, sink: list, stream: str):
        self._sink, self._stream = sink, stream
        self.encoding = "utf-8"

    def write(self, text: str) -> int:
        if text:
            self._sink.append((self._stream, text))
        return len(text)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return False


class _Timeout(Exception):
    pass


@contextmanager
def _time_limit(seconds: int):
    usable = hasattr(signal, "SIGALRM") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def _expired(signum, frame):
        raise _Timeout()

    old = signal.signal(signal.SIGALRM, _expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


@contextmanager
def _inside(folder: Path):
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


def _download_file(argv: list) -> Optional[str]:
    """The -D file of a command, read with our own option parser (handles -Dx, --down=x ...)."""
    from particle_py.cli.dfu_util.options import OptionError, parse_args
    try:
        return parse_args(argv, REAL_VERSION, argv[0]).download_file
    except (OptionError, ValueError):
        return None


def run_ours(scenario: Scenario, version: str, folder: Path, program=None) -> tuple[list, int]:
    """One in-process run of our dfu-util (or of ``program``, same signature as its main);
    returns ([(stream, text)...], exit status)."""
    from particle_py.sim.state import create_state

    if program is None:
        from particle_py.cli.dfu_util.main import main as program

    state_dir, work = folder / "state", folder / "work"
    work.mkdir(parents=True)
    create_state(state_dir, scenario.profiles, scenario.knobs)
    make_inputs(scenario.argv, work, must_exist=_download_file(scenario.argv))
    captured: list = []
    environ = {**os.environ, **scenario.plain_env,
               "PARTICLE_PY_SIM": str(state_dir), "PARTICLE_PY_DFU_UTIL_VERSION": version}
    with _inside(work), _time_limit(RUN_TIMEOUT_S):
        status = program(list(scenario.argv), stdout=_Capture(captured, STDOUT), stderr=_Capture(captured, STDERR),
                      environ=environ)
    return captured, status


def real_command(scenario: Scenario, empty_state: Optional[Path] = None) -> list:
    """The command line --real runs: the real dfu-util under scripts/umockdev-run.

    umockdev-run attaches a Photon when given no profile, so a scenario without devices runs on
    ``empty_state``, a state folder made beforehand with no device (and the knobs)."""
    command = [str(ROOT / "scripts" / "umockdev-run")]
    if not scenario.profiles and empty_state is not None:
        return command + ["--state", str(empty_state), "--", "dfu-util", *scenario.argv[1:]]
    for profile in scenario.profiles:
        command += ["--profile", profile]
    for knob, value in scenario.knobs.items():
        command += ["--fault", f"{knob}={value}"]
    return command + ["--", "dfu-util", *scenario.argv[1:]]


def real_missing() -> Optional[str]:
    if not os.access(ROOT / "scripts" / "umockdev-run", os.X_OK):
        return "scripts/umockdev-run is missing or not executable"
    if not os.access(REAL_DFU_UTIL, os.X_OK):
        return f"{REAL_DFU_UTIL} is not installed (apt-get install dfu-util)"
    return None


def run_real(scenario: Scenario, folder: Path) -> tuple[list, int]:
    """The real dfu-util: stdout and stderr come through separate pipes, so only each stream's
    text is compared, not their interleaving (the result is stdout first, then stderr)."""
    work = folder / "work"
    work.mkdir(parents=True)
    make_inputs(scenario.argv, work, must_exist=_download_file(scenario.argv))
    empty_state = None
    if not scenario.profiles:
        from particle_py.sim.state import create_state
        empty_state = folder / "state"
        create_state(empty_state, [], scenario.knobs)
    env = {**os.environ, **scenario.plain_env, "PATH": "/usr/bin:" + os.environ.get("PATH", "")}
    proc = subprocess.run(real_command(scenario, empty_state), cwd=work, env=env, capture_output=True,
                          timeout=RUN_TIMEOUT_S)
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    return [(STDOUT, out), (STDERR, err)], proc.returncode


def _by_stream(segments: list) -> list:
    return [(STDOUT, "".join(t for s, t in segments if s == STDOUT)),
            (STDERR, "".join(t for s, t in segments if s == STDERR))]


def compare(expected: list, expected_status: int, actual: list, actual_status: int,
            interleaving: bool = True) -> tuple[str, list]:
    """('' if equal, else a one-line summary), full diff lines. Applies the two normalisations."""
    want, have = (normalise_banner(collapse_repaints(x)) for x in (expected, actual))
    if not interleaving:
        want, have = _by_stream(want), _by_stream(have)
    diff: list = []
    summary = ""
    if want != have:
        want_lines, have_lines = render(want), render(have)
        diff = list(difflib.unified_diff(want_lines, have_lines, "expected", "actual", lineterm="", n=2))
        if want_lines == have_lines:  # same text, different stream boundaries
            diff = ["same text, different stream split:", f"expected {want!r}", f"actual   {have!r}"]
            summary = "stream interleaving differs"
        else:
            summary = _first_difference(want_lines, have_lines)
    if expected_status != actual_status:
        status_msg = f"exit status {actual_status}, expected {expected_status}"
        summary = f"{summary}; {status_msg}" if summary else status_msg
        diff.append(f"-[exit status {expected_status}]")
        diff.append(f"+[exit status {actual_status}]")
    return summary, diff


def _first_difference(want: list, have: list, width: int = 90) -> str:
    for n, (a, b) in enumerate(zip(want, have)):
        if a != b:
            return f"line {n + 1}: expected {_clip(a, width)!r}, got {_clip(b, width)!r}"
    if len(want) > len(have):
        return f"line {len(have) + 1}: missing {_clip(want[len(have)], width)!r}"
    return f"line {len(want) + 1}: unexpected {_clip(have[len(want)], width)!r}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def replay(scenario: Scenario, version: str, real: bool = False, program=None) -> Outcome:
    """Run one scenario/version and compare; never raises for a failing run."""
    outcome = Outcome(scenario.name, version, scenario.source, ok=False)
    if scenario.error:
        outcome.summary = f"bad scenario: {scenario.error}"
        return outcome
    folder = Path(tempfile.mkdtemp(prefix="compat-replay-"))
    try:
        where = f"{scenario.source}:{scenario.line_no} ({scenario.name}) [{version}]"
        expected, expected_status = expected_segments(scenario.transcripts[version], version, where)
        if real:
            actual, status = run_real(scenario, folder)
        else:
            actual, status = run_ours(scenario, version, folder, program)
        outcome.summary, outcome.details = compare(expected, expected_status, actual, status,
                                                   interleaving=not real)
        outcome.ok = not outcome.summary
    except (NotationError, InputError) as exc:
        outcome.summary = f"replay error: {exc}"
    except _Timeout:
        outcome.summary = f"no exit within {RUN_TIMEOUT_S} s (hung?)"
    except subprocess.TimeoutExpired:
        outcome.summary = f"no exit within {RUN_TIMEOUT_S} s (hung?)"
    except SystemExit as exc:
        outcome.summary = f"main() called sys.exit({exc.code!r}) instead of returning the status"
    except Exception as exc:  # our dfu-util crashing is a failure of this scenario, not of the replay
        outcome.summary = f"crashed: {type(exc).__name__}: {escape(str(exc))[:200]}"
        outcome.details = traceback.format_exc().splitlines()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return outcome
