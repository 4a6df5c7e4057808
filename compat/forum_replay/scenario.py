"""The ``.scenario`` format: one plain-text file per forum thread (docs/forum-replay.md).

    # comment
    title: Photon, dfu-util 0.8 on Windows: ...
    transcript: 002-photon-....txt          (file in compat/forum/transcripts/)
    dfu-util: 0.8                           (personality; 0.5/0.7 posts map to 0.8 with a note)
    devices: photon runtime                 (simulator profiles, attach order; 'none' = nothing)
    knobs: OPEN_FAIL=-3                     (bus-wide fault knobs)
    firmware: device-os 1.5.2 | user-app [ADDR] | keys   (what device 1 holds: stand-in Device OS, an app,
                                            a device key and the simulated cloud's server key)
    cloud: owner | other-owner              (simulated cloud; logged-in user owns the device or not)
    file: NAME KIND ARGS...                 (stand-in files, see standins.py)
    console-width: 80                       (the poster's console wrapped lines there)
    cwd: a/b                                (run in this folder below the scenario's work folder)
    needs-asset: PLATFORM APP               (an official asset the command downloads: a known app,
                 | server-keys | server-key tcp|udp   or Particle's server keys; from the asset
                                            cache or particle-cli's npm package in the peer cache)
    led: [not] blinking yellow              (final LED of device 1, from the boot model)
    note: ...                               (free text, any number)

    setup: COMMAND                          (run before the next step; must exit 0; not compared)
    $ COMMAND                               (a step: the poster's command, verbatim)
    exit: 0 | 74 | nonzero | any
    | exact line                            (must appear, in order)
    ^ line start                            (a line starting with this, in order)
    ~ regex                                 (a line matching this, in order)
    ! text                                  (no line may contain this)
    holds: ALT ADDRESS FILE                 (device 1's memory holds FILE's bytes there)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

HEADER_KEYS = {"title", "transcript", "source", "dfu-util", "devices", "knobs", "firmware", "cloud", "file",
               "console-width", "needs-asset", "led", "note", "env", "cwd"}
REPEATABLE = {"file", "note", "firmware", "env", "needs-asset"}


class ScenarioError(ValueError):
    """A scenario file that does not follow the format."""


@dataclass
class Expect:
    kind: str          # '|', '^', '~', '!'
    text: str


@dataclass
class Step:
    command: str
    line_no: int
    setup: list[str] = field(default_factory=list)
    exit: str = "0"
    expects: list[Expect] = field(default_factory=list)
    holds: list[tuple[int, int, str]] = field(default_factory=list)


@dataclass
class Scenario:
    path: Optional[Path]
    header: dict
    steps: list[Step]

    @property
    def name(self) -> str:
        return self.path.stem if self.path else self.header.get("title", "?")

    def get(self, key: str, default=None):
        value = self.header.get(key)
        return default if value is None else value

    def all(self, key: str) -> list[str]:
        return list(self.header.get(key, []))


_EXIT_RE = re.compile(r"^(?:\d+|nonzero|any)$")


def parse(text: str, path: Optional[Path] = None) -> Scenario:
    header: dict = {key: [] for key in REPEATABLE}
    steps: list[Step] = []
    pending_setup: list[str] = []
    where = str(path) if path else "<scenario>"
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        marker = raw[:1]
        if marker == "$":
            steps.append(Step(raw[1:].strip(), number, setup=pending_setup))
            pending_setup = []
            if not steps[-1].command:
                raise ScenarioError(f"{where}:{number}: empty command")
            continue
        if marker in "|^~!":
            if not steps:
                raise ScenarioError(f"{where}:{number}: expected output before any '$ command'")
            body = raw[2:] if raw[1:2] == " " else raw[1:]
            if marker == "~":
                try:
                    re.compile(body)
                except re.error as exc:
                    raise ScenarioError(f"{where}:{number}: bad regex: {exc}") from None
            steps[-1].expects.append(Expect(marker, body))
            continue
        key, sep, value = raw.partition(":")
        key, value = key.strip().lower(), value.strip()
        if not sep:
            raise ScenarioError(f"{where}:{number}: not 'key: value', '$ command' or an expectation: {raw!r}")
        if key == "setup":
            pending_setup.append(value)
        elif key == "exit":
            if not steps or not _EXIT_RE.match(value):
                raise ScenarioError(f"{where}:{number}: 'exit:' needs a step and a number, nonzero or any")
            steps[-1].exit = value
        elif key == "holds":
            parts = value.split()
            if not steps or len(parts) != 3:
                raise ScenarioError(f"{where}:{number}: 'holds: ALT ADDRESS FILE' after a step")
            try:
                steps[-1].holds.append((int(parts[0], 0), int(parts[1], 0), parts[2]))
            except ValueError:
                raise ScenarioError(f"{where}:{number}: holds: ALT and ADDRESS must be numbers") from None
        elif key in HEADER_KEYS:
            if steps and key not in ("note",):
                raise ScenarioError(f"{where}:{number}: header key {key!r} after the first step")
            if key in REPEATABLE:
                header[key].append(value)
            elif key in header:
                raise ScenarioError(f"{where}:{number}: {key!r} given twice")
            else:
                header[key] = value
        else:
            raise ScenarioError(f"{where}:{number}: unknown key {key!r}")
    if pending_setup:
        raise ScenarioError(f"{where}: 'setup:' after the last step")
    if "transcript" not in header:
        raise ScenarioError(f"{where}: no 'transcript:'")
    if not steps:
        raise ScenarioError(f"{where}: no '$ command' step")
    if "console-width" in header and not header["console-width"].isdigit():
        raise ScenarioError(f"{where}: console-width must be a number")
    return Scenario(path, header, steps)


def load(path) -> Scenario:
    path = Path(path)
    return parse(path.read_text(encoding="utf-8"), path)
