#!/usr/bin/env python3
"""particle-cli 3.51.0 as the judge: the same simulated device twice, 3.51.0 on one, ours on the other.

For a row of cli351_cases.py: a device is made once (particle_py.sim.devices.create: Device OS,
app, keys), its folder copied, and the row's commands run in turn, 3.51.0 (on Node 22 from the
peer cache) on one copy and our ``particle`` on the other, each under scripts/umockdev-run over
the real libusb. Compared: each command's exit status, stdout and stderr (peers.py's
normalisations plus the row's written-down differences), then each device: what it shows on
USB (platform, id, USB id, mode), its LED as the boot model says, and every flash alt byte for
byte.

    .venv/bin/python tests/umockdev/cli351.py [CASE_ID_PART ...]    # run, print what differs
    .venv/bin/python tests/umockdev/cli351.py --list

A row whose command particle-py lacks is reported as skipped, not run.
"""
from __future__ import annotations

import argparse
import difflib
import functools
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).parent))
import peers  # noqa: E402
from cli351_cases import BY_ID, CASES, DIFFERENCES, UNSEEN_CREDENTIALS, WIFI_CREDENTIALS, Case  # noqa: E402

VERSION = "3.51.0"
NODE_MAJOR = 22
OURS = "particle-py"
THEIRS = f"particle-cli {VERSION}"


def node() -> Path:
    return peers.PEERS / f"node-{NODE_MAJOR}" / "bin" / "node"


def cli_entry() -> Path:
    return peers.PEERS / f"particle-cli-{VERSION}" / "node_modules" / "particle-cli" / "src" / "index.js"


def missing() -> Optional[str]:
    """Why 3.51.0 cannot run here, or None."""
    if not os.access(node(), os.X_OK):
        return f"Node {NODE_MAJOR} not in the peer cache (scripts/install-peers --npm)"
    if not cli_entry().is_file():
        return f"particle-cli {VERSION} not in the peer cache (scripts/install-peers --npm)"
    return None


def our_particle() -> Path:
    return Path(sys.executable).parent / "particle"


@functools.lru_cache(maxsize=None)
def we_have(words: tuple) -> bool:
    """Whether our `particle <words> --help` works (the command exists)."""
    if not words:
        return True
    env = dict(os.environ)
    env.pop("PARTICLE_PY_SIM", None)
    proc = subprocess.run([str(our_particle()), *words, "--help"], capture_output=True, env=env, timeout=60)
    return proc.returncode == 0


@functools.lru_cache(maxsize=None)
def we_print(argv: tuple, text: str) -> bool:
    """Whether our `particle <argv>` (no device needed) prints ``text``."""
    env = dict(os.environ)
    env.pop("PARTICLE_PY_SIM", None)
    proc = subprocess.run([str(our_particle()), *argv], capture_output=True, env=env, timeout=60)
    return text.encode() in proc.stdout + proc.stderr


def skip_reason(case: Case) -> Optional[str]:
    if not we_have(tuple(case.needs)):
        return f"particle-py has no `particle {' '.join(case.needs)}` yet"
    if case.ready and not we_print(tuple(case.ready[0]), case.ready[1]):
        return f"our `particle {' '.join(case.ready[0])}` does not print {case.ready[1]!r} yet"
    return None


# --- the device ------------------------------------------------------------------------------


def app_for(case: Case) -> bytes:
    """A stand-in user module for the device's own Device OS, other bytes than the one it holds."""
    from particle_py.platforms import by_name
    from particle_py.sim import contents

    platform = by_name(case.platform)
    version = case.app_device_os or (contents.default_device_os(platform) if case.device_os == "default"
                                     else case.device_os)
    return contents.user_app(platform, version, seed=351)


def make_device(folder: Path, case: Case) -> None:
    from particle_py.sim import devices

    devices.create(folder, [case.platform], devices.Recipe(mode=case.mode, device_os=case.device_os))


def device_after(state: Path) -> list[dict]:
    """What each device shows and holds: USB identity and mode, LED, every flash alt's SHA-256."""
    from particle_py.sim import devices
    from particle_py.sim.bus import SimBus

    bus = SimBus.load(state)
    out = []
    for dev in bus.devices():
        flash = {}
        for alt in range(16):
            try:
                mem = dev.memory(alt)
            except IndexError:
                break
            base, end = mem.layout.base, mem.layout.end
            flash[alt] = hashlib.sha256(mem.peek(base, end - base)).hexdigest()[:16]
        shown = devices.outcome(dev, state)
        mode = devices.describe(dev).rsplit(", ", 1)[-1]
        out.append({"platform": dev.profile.platform, "device_id": dev.profile.device_id,
                    "usb": f"{dev.vid:04x}:{dev.pid:04x}", "mode": mode,
                    "led": shown.led if shown else None, "flash": flash})
    return out


# --- running ---------------------------------------------------------------------------------


@dataclass
class Side:
    tool: str
    steps: list            # peers.StepResult
    state: Path
    device: list


@dataclass
class CaseResult:
    case: Case
    theirs: Side
    ours: Side

    def differences(self) -> list[str]:
        out = []
        for a, b in zip(self.theirs.steps, self.ours.steps):
            cmd = "particle " + " ".join(a.argv)
            if a.status != b.status and not any(d.stream == "status" for k in self.case.differences
                                                 for d in DIFFERENCES[k]):
                out.append(f"`{cmd}`: exit status {THEIRS} {a.status}, {OURS} {b.status}")
            texts = {side: {stream: written_down(self.case, side, stream, _plain(getattr(step, stream)))
                            for stream in ("stdout", "stderr")} for side, step in (("theirs", a), ("ours", b))}
            streams = ("stdout", "stderr")
            if any(d.stream == "streams" for k in self.case.differences for d in DIFFERENCES[k]):
                streams = ("stdout and stderr",)      # which stream a line goes to is not compared
                for side in texts.values():
                    side["stdout and stderr"] = side["stdout"] + side["stderr"]
            for stream in streams:
                want, got = texts["theirs"][stream], texts["ours"][stream]
                if want != got:
                    diff = "\n".join(difflib.unified_diff(want.split("\n"), got.split("\n"), THEIRS, OURS,
                                                          lineterm=""))
                    out.append(f"`{cmd}` {stream} differs:\n{diff}")
        if self.case.same_device and self.theirs.device != self.ours.device:
            out.append(f"the devices differ afterwards:\n  {THEIRS}: {self.theirs.device}\n"
                       f"  {OURS}: {self.ours.device}")
        return out


# the spinner library's "clear the line, back to column 1" that 3.51 writes even to a pipe
_TERMINAL_CONTROL = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _plain(text: str) -> str:
    return _TERMINAL_CONTROL.sub("", text)


def written_down(case: Case, side: str, stream: str, text: str) -> str:
    for key in case.differences:
        for diff in DIFFERENCES[key]:
            if diff.stream in (stream, "any") and diff.side in (side, "both"):
                text = re.sub(diff.pattern, diff.replacement, text, flags=re.M)
    return text


def _run_side(case: Case, command: list, base: Path, origin: Path, extra_env: dict) -> Side:
    work, home, state = base / "work", base / "home", base / "state"
    for folder in (work, home):
        folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(origin, state)
    app = f"app-{case.platform}.bin"
    (work / app).write_bytes(app_for(case))
    (work / "wifi.json").write_text(json.dumps(WIFI_CREDENTIALS))
    (work / "unseen.json").write_text(json.dumps(UNSEEN_CREDENTIALS))
    env = dict(os.environ, HOME=str(home), **extra_env)
    env.pop("PARTICLE_PY_SIM", None)
    server = _logged_in(home, state) if case.cloud else None
    results = []
    try:
        _run_steps(case, command, work, state, env, app, server, results)
    finally:
        if server is not None:
            server.stop()
    return Side(" ".join(map(str, command)), results, state, device_after(state))


def _logged_in(home: Path, state: Path):
    """The simulated cloud of the device's own folder, and a particle config logged in to it."""
    from particle_py.sim import cloud as cloud_mod

    server = cloud_mod.start(state / "cloud" / "cloud.sqlite")
    server.db.add_user(peers.CLOUD_USER, "not-a-real-password")
    (home / ".particle").mkdir(exist_ok=True)
    config = home / ".particle" / "particle.config.json"
    config.write_text(json.dumps({"apiUrl": server.url, "access_token": server.db.issue_token(peers.CLOUD_USER),
                                  "username": peers.CLOUD_USER}))
    os.chmod(config, 0o600)
    return server


def _run_steps(case: Case, command: list, work: Path, state: Path, env: dict, app: str, server, results) -> None:
    device_id = device_after(state)[0]["device_id"]
    for argv in case.steps:
        argv = [a.replace("{app}", app).replace("{id}", device_id) for a in argv]
        proc = subprocess.run([str(peers.UMOCKDEV_RUN), "--state", str(state), "--", *command, *argv], cwd=work,
                              env=env, capture_output=True, timeout=300)
        text = [peers.normalise(p.decode("utf-8", "replace"), work) for p in (proc.stdout, proc.stderr)]
        if server is not None:
            text = [t.replace(server.url, "<cloud>") for t in text]
        results.append(peers.StepResult(argv, proc.returncode, *text))


def run_case(case: Case, base: Optional[Path] = None) -> CaseResult:
    """Both tools on copies of one new device; the folders stay under ``base`` (caller cleans up)."""
    base = Path(base or tempfile.mkdtemp(prefix=f"cli351-{case.id}-"))
    origin = base / "origin"
    make_device(origin, case)
    theirs = _run_side(case, [str(node()), str(cli_entry())], base / "theirs", origin, {})
    # re-enumeration needs the udev-enabled system libusb (docs/umockdev.md)
    ours = _run_side(case, [str(our_particle())], base / "ours", origin, {"PARTICLE_PY_LIBUSB": "system"})
    return CaseResult(case, theirs, ours)


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cases", nargs="*", help="parts of case ids (default: all)")
    parser.add_argument("--list", action="store_true", help="list the case ids and exit")
    opts = parser.parse_args(argv)
    chosen = [c for c in CASES if not opts.cases or any(part in c.id for part in opts.cases)]
    if opts.list:
        for case in chosen:
            reason = skip_reason(case)
            print(case.id + (f"  (skipped: {reason})" if reason else ""))
        return 0
    problem = missing()
    if problem:
        print(f"cli351: {problem}", file=sys.stderr)
        return 69
    differing = skipped = 0
    for case in chosen:
        reason = skip_reason(case)
        if reason:
            skipped += 1
            print(f"skipped {case.id}: {reason}")
            continue
        with tempfile.TemporaryDirectory(prefix="cli351-") as tmp:
            found = run_case(case, Path(tmp)).differences()
        if found:
            differing += 1
            print(f"DIFFERENT {case.id}:")
            for line in found:
                print("  " + line.replace("\n", "\n  "))
        else:
            print(f"same {case.id}")
    print(f"cli351: {len(chosen)} cases, {skipped} skipped, {differing} differ")
    return 1 if differing else 0


if __name__ == "__main__":
    sys.exit(main())
