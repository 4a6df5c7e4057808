#!/usr/bin/env python3
"""Replay the 0.11 blocks of a scenario file with the REAL dfu-util, over umockdev.

    .venv/bin/python tests/umockdev/real_replay.py [-k SUBSTRING] FILE...

Each scenario runs ``/usr/bin/dfu-util`` under ``scripts/umockdev-run`` on fresh simulated
devices (the scenario's FAKE_PROFILES and knobs), in a folder holding the scenario's input
files (compat/replay/inputs.py recipes), and compares stdout, stderr and the exit status with
what was recorded for 0.11. This checks the simulator + bridge against the recordings: the
recordings came from the real dfu-util on a libusb shim, this run uses the real libusb.
``scripts/compat-replay --real FILE...`` is meant to call this.

Comparison is per stream (a pipe per stream cannot keep the interleaving of stdout and
stderr), with identical consecutive progress-bar repaints collapsed (see notation.py).
One known, explained difference is tolerated and counted separately: the order of ``-l``
lines with several devices, which is libusb's device-list order (newest first on Linux)
where the recording shim listed them oldest first.
"""
from __future__ import annotations

import argparse
import difflib
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from compat.replay import inputs, notation  # noqa: E402

UMOCKDEV_RUN = ROOT / "scripts" / "umockdev-run"
REAL_DFU_UTIL = os.environ.get("PARTICLE_PY_REAL_DFU_UTIL", "/usr/bin/dfu-util")
VERSION = "0.11"


def expected(scenario) -> tuple[str, str, int]:
    segments, status = notation.expected_segments(scenario.transcripts[VERSION], VERSION, scenario.name)
    segments = notation.collapse_repaints(segments)
    out = "".join(t for s, t in segments if s == notation.STDOUT)
    err = "".join(t for s, t in segments if s == notation.STDERR)
    return out, err, status


def run(scenario) -> tuple[str, str, int]:
    with tempfile.TemporaryDirectory(prefix="real-replay-") as tmp:
        work = Path(tmp) / "work"
        work.mkdir()
        for word in scenario.argv[1:]:
            make = inputs.recipe_for(word) if not os.path.isabs(word) and ".." not in word else None
            if make is not None:
                (work / word).write_bytes(make())
        cmd = [str(UMOCKDEV_RUN), "--state", str(Path(tmp) / "state")]
        cmd += ["--profile", ",".join(scenario.profiles)]
        for knob, value in scenario.knobs.items():
            cmd += ["--fault", f"{knob}={value}"]
        cmd += ["--", REAL_DFU_UTIL] + scenario.argv[1:]
        env = dict(os.environ, **scenario.plain_env)
        env.pop("PARTICLE_PY_SIM", None)
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, timeout=120)
    out = notation.collapse_repaints([(notation.STDOUT, proc.stdout.decode("utf-8", "replace"))])
    return "".join(t for _, t in out), proc.stderr.decode("utf-8", "replace"), proc.returncode


def _sorted_found(text: str) -> str:
    lines = text.split("\n")
    found = sorted(line for line in lines if line.startswith(("Found DFU", "Found Runtime")))
    rest = [line for line in lines if not line.startswith(("Found DFU", "Found Runtime"))]
    return "\n".join(rest + found)


def compare(scenario) -> tuple[list[str], bool]:
    """(differences, only_list_order)."""
    want = expected(scenario)
    got = run(scenario)
    diffs = []
    for label, a, b in (("stdout", want[0], got[0]), ("stderr", want[1], got[1])):
        if a != b:
            diff = difflib.unified_diff(notation.escape(a).split("\n"), notation.escape(b).split("\n"),
                                        f"recorded {label}", f"real dfu-util {label}", lineterm="", n=1)
            diffs.append(f"{label} differs:\n" + "\n".join(list(diff)[:30]))
    if want[2] != got[2]:
        diffs.append(f"exit status differs: recorded {want[2]}, real dfu-util {got[2]}")
    order_only = bool(diffs) and want[1:] == got[1:] and _sorted_found(want[0]) == _sorted_found(got[0])
    return diffs, order_only


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="replay scenario files with the real dfu-util over umockdev")
    parser.add_argument("files", nargs="+")
    parser.add_argument("-k", dest="match")
    parser.add_argument("-j", dest="jobs", type=int, default=max(2, os.cpu_count() or 2))
    opts = parser.parse_args(argv)
    scenarios = []
    for name in opts.files:
        for scenario in notation.parse_file(Path(name).read_text(encoding="utf-8"), name):
            if scenario.error:
                print(f"MALFORMED {scenario.name}: {scenario.error}")
            elif VERSION in scenario.transcripts and (not opts.match or opts.match in scenario.name):
                scenarios.append(scenario)
    failed = order_only = 0
    with ThreadPoolExecutor(max_workers=opts.jobs) as pool:
        for scenario, (diffs, only_order) in zip(scenarios, pool.map(compare, scenarios)):
            if only_order:
                order_only += 1
                print(f"ORDER {scenario.name}: same lines, libusb's device order (newest first)")
            elif diffs:
                failed += 1
                print(f"DIFFERENT {scenario.name}: {scenario.command}")
                for diff in diffs:
                    print("  " + diff.replace("\n", "\n  "))
    print(f"real dfu-util replay: {len(scenarios)} scenarios, {failed} different"
          + (f", {order_only} differing only in libusb's device order" if order_only else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
