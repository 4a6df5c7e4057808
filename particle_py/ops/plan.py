"""Recorded restores: a plan file says what one repair did (the command, the files it used by
SHA-256, the platform and Device OS it was made on) so it can be done again on other devices.

A plan never holds a key or a token: the commands it can hold take none (keys doctor makes a new
key on each device), and a file is named by path and hash only. ``parse`` is the one reader of a
plan file (outside input): anything but a well-formed plan is a ParticlePyError, never another
exception. docs/plans.md.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from typing import Optional

from particle_py.errors import EX_DATAERR, ParticlePyError

PLAN_VERSION = 1

# The repairs a plan can hold, with how a device is named to each and what the plan does, in words.
RECORDABLE = {
    "flash": ("first", "write the same files (by SHA-256) over USB"),
    "update": ("first", "put the same Device OS release on the device"),
    "keys doctor": ("first", "generate a new device key on the device and give its public key to the cloud"),
    "keys server": ("--device", "write the same server public key"),
    "doctor": ("first", "diagnose and repair what is broken, without asking"),
}
MAX_PLAN_BYTES = 1 << 20


@dataclass(frozen=True)
class PlanFile:
    arg: int            # index in args
    name: str
    sha256: str


@dataclass(frozen=True)
class Plan:
    command: str
    args: tuple
    platform: str
    device_os: Optional[str]
    files: tuple = ()
    does: str = ""
    steps: tuple = field(default=())

    def as_json(self) -> dict:
        out = asdict(self)
        out = {"plan": PLAN_VERSION, **out, "args": list(self.args), "steps": list(self.steps),
               "files": [asdict(f) for f in self.files]}
        return out

    def args_for(self, device_id: str) -> list[str]:
        """The command line that does this plan on ``device_id``."""
        how = RECORDABLE[self.command][0]
        words = self.command.split()
        if how == "--device":
            return [*words, *self.args, "--device", device_id]
        return [*words, device_id, *self.args]


def _damaged(why: str) -> ParticlePyError:
    return ParticlePyError(f"This is not a particle-py plan file it can use: {why}.",
                           "Record the plan again: run the repair once with --save-plan FILE.", EX_DATAERR)


def _text(value, name: str, *, empty: bool = False) -> str:
    if not isinstance(value, str) or (not value and not empty) or "\x00" in value:
        raise _damaged(f"{name} is not a text")
    return value


def parse(raw: bytes) -> Plan:
    """A plan from a file's bytes; ParticlePyError (exit 65) for anything else."""
    if len(raw) > MAX_PLAN_BYTES:
        raise _damaged("it is larger than any plan")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _damaged("it is not JSON") from None
    if not isinstance(data, dict):
        raise _damaged("it is not a JSON object")
    version = data.get("plan")
    if version != PLAN_VERSION or isinstance(version, bool):
        raise _damaged(f"plan version {version!r}, this particle-py reads version {PLAN_VERSION}")
    command = _text(data.get("command"), "command")
    if command not in RECORDABLE:
        raise _damaged(f"{command!r} is not a repair a plan can hold")
    args = data.get("args")
    if not isinstance(args, list):
        raise _damaged("args is not a list")
    args = tuple(_text(a, "an argument", empty=True) for a in args)
    if any(a in ("--save-plan", "--plan") for a in args):
        raise _damaged("a plan cannot record or run another plan")
    platform = _text(data.get("platform"), "platform")
    device_os = data.get("device_os")
    if device_os is not None:
        device_os = _text(device_os, "device_os")
    files = data.get("files", [])
    if not isinstance(files, list):
        raise _damaged("files is not a list")
    checked = []
    for entry in files:
        if not isinstance(entry, dict):
            raise _damaged("a file is not an object")
        arg = entry.get("arg")
        if not isinstance(arg, int) or isinstance(arg, bool) or not 0 <= arg < len(args):
            raise _damaged("a file names no argument")
        digest = _text(entry.get("sha256"), "sha256")
        if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise _damaged("a file's sha256 is not 64 hex digits")
        checked.append(PlanFile(arg, _text(entry.get("name"), "a file's name"), digest))
    steps = data.get("steps", [])
    if not isinstance(steps, list):
        raise _damaged("steps is not a list")
    return Plan(command, args, platform, device_os, tuple(checked), RECORDABLE[command][1],
                tuple(_text(s, "a step", empty=True) for s in steps))


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def record(command: str, args: list[str], platform: str, device_os: Optional[str], steps=()) -> Plan:
    """The plan of a repair just done; every argument that names a file is kept with its hash."""
    if command not in RECORDABLE:
        raise ParticlePyError(f"`particle {command}` cannot be saved as a plan.",
                              "A plan holds one of: " + ", ".join(f"particle {c}" for c in RECORDABLE) + ".", 64)
    files = tuple(PlanFile(i, os.path.basename(a), sha256_file(a)) for i, a in enumerate(args)
                  if not a.startswith("-") and os.path.isfile(a))
    return Plan(command, tuple(args), platform, device_os, files, RECORDABLE[command][1], tuple(steps))


def save(path: str, command: str, args: list[str], target: "Target", steps=()) -> Plan:
    """After a repair that succeeded: its plan, written whole or not at all (no secrets in it)."""
    recorded = record(command, without_device(args, target.device_id), target.platform, target.device_os, steps)
    temp = f"{path}.tmp"
    with open(temp, "w", encoding="utf-8") as f:
        json.dump(recorded.as_json(), f, indent=2)
        f.write("\n")
    os.replace(temp, path)
    return recorded


def check_files(plan: Plan) -> None:
    """Every file the plan used is here and holds the same bytes (checked before any device)."""
    for entry in plan.files:
        path = plan.args[entry.arg]
        if not os.path.isfile(path):
            raise ParticlePyError(f"The plan uses {path}, which is not here.",
                                  "Run the plan from the folder it was recorded in, with the same files.", 66)
        if sha256_file(path) != entry.sha256:
            raise ParticlePyError(f"{path} is not the file the plan was recorded with (SHA-256 differs).",
                                  "Put the recorded file back, or record a new plan.", EX_DATAERR)


def refusal(plan: Plan, platform: str, device_os: Optional[str]) -> Optional[str]:
    """Why this plan must not run on a device of ``platform`` with ``device_os`` (None: it may)."""
    if platform != plan.platform:
        return f"the plan is for a {plan.platform}, this device is a {platform}"
    # a device that does not say (in DFU mode, Device OS broken: what a restore is for) may run it
    if plan.device_os and device_os and device_os != plan.device_os:
        return (f"the plan was recorded on Device OS {plan.device_os}, this device runs "
                f"{device_os or 'a version it did not report'}")
    return None


@dataclass(frozen=True)
class Target:
    device_id: str
    platform: str
    device_os: Optional[str]
    mode: str = ""


def _let_go(entries, keep=()) -> None:
    from particle_py.ops import discovery

    for entry in entries:
        if not any(entry is k for k in keep):
            discovery.release_entry(entry)


def _facts(entry) -> Target:
    """What a plan is checked against, read without changing the device: its platform from USB,
    its Device OS by control request when it runs Device OS (a DFU-mode device does not say)."""
    from particle_py.ops import discovery, serial_ops

    device_id, platform, mode = entry.device_id, entry.platform.name, entry.mode
    discovery.release_entry(entry)
    version = None
    if mode == discovery.MODE_NORMAL:
        try:
            version = serial_ops.identify(device_id).system_version
        except ParticlePyError:
            version = None
    return Target(device_id, platform, version, mode)


def recording_target(args: list[str]) -> Target:
    """The one device a repair being recorded works on: the one named in ``args``, else the only one."""
    from particle_py.ops import discovery

    entries = discovery.find_devices()
    named = [e for e in entries if e.device_id in args]
    chosen = named or entries
    if len(chosen) != 1:
        _let_go(entries)
        raise ParticlePyError("A plan is recorded on one device: " + ("none is connected." if not chosen else
                              f"{len(chosen)} are connected."),
                              "Connect the one device (or name it) and run the repair again with --save-plan.", 64)
    _let_go(entries, keep=chosen)
    return _facts(chosen[0])


def without_device(args: list[str], device_id: str) -> list[str]:
    """The recorded arguments with the device left out (a plan is for any device)."""
    out, skip = [], False
    for i, arg in enumerate(args):
        if skip:
            skip = False
            continue
        if arg == "--device" and i + 1 < len(args) and args[i + 1] == device_id:
            skip = True
            continue
        if arg != device_id:
            out.append(arg)
    return out


def replay_targets(wanted: list[str], every: bool) -> list[Target]:
    """The devices a plan runs on: those named (each must match one), or all with ``every``."""
    from particle_py.ops import discovery

    entries = discovery.find_devices()
    if every or not wanted:
        if not every and len(entries) > 1:
            _let_go(entries)
            raise ParticlePyError(f"{len(entries)} devices are connected and none was named.",
                                  "Name the devices (particle plan run FILE ID...) or give --all.", 64)
        chosen = entries
    else:
        chosen = []
        for want in wanted:
            hits = [e for e in entries if discovery.matches(e, want)]
            if len(hits) != 1:
                _let_go(entries)
                raise ParticlePyError(f"Device not found: {want}" if not hits else f"More than one device matches {want}",
                                      "Run `particle usb list` to see the devices and their ids.", 69)
            if hits[0] not in chosen:
                chosen.append(hits[0])
    if not chosen:
        raise ParticlePyError("No devices found.", "Connect the devices by USB and run the plan again.", 69)
    _let_go(entries, keep=chosen)
    return [_facts(e) for e in chosen]
