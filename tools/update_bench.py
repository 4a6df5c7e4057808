"""`particle update` against particle-cli 2.16.0 + real dfu-util, in modelled device time
(tools/bench_common.py's device_time_us). A development tool, run by scripts/bench (full run) and
scripts/update-bench; not part of the package."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_common import device_time_us, table     # tools/bench_common.py, beside this file

ROOT = Path(__file__).resolve().parents[1]
PEERS = Path(os.environ.get("PARTICLE_PY_PEERS", Path.home() / ".cache" / "particle-py-peers"))
UPDATES = PEERS / "particle-cli-2.16.0" / "node_modules" / "particle-cli" / "assets" / "updates"
CLI = PEERS / "particle-cli-2.16.0" / "node_modules" / ".bin" / "particle"
BIN = Path(sys.executable).parent


def _run(state: Path, argv: list, *, umockdev: bool, path: str) -> tuple[int, float]:
    home = state.parent / "home"
    home.mkdir(exist_ok=True)
    env = dict(os.environ, HOME=str(home), PATH=path, PARTICLE_PY_LIBUSB="system", PARTICLE_DISABLE_UPDATE="1")
    env.pop("PARTICLE_PY_SIM", None)
    if umockdev:
        argv = [str(ROOT / "scripts" / "umockdev-run"), "--state", str(state), "--", *map(str, argv)]
    else:
        env["PARTICLE_PY_SIM"] = str(state)
    before = device_time_us(state)
    proc = subprocess.run([str(a) for a in argv], env=env, capture_output=True, text=True, timeout=900)
    return proc.returncode, (device_time_us(state) - before) / 1e6


HEADER = ["platform", "tool", "1.4.4 -> 2.2.0", "ratio (goal <= 1.0x)", "again (device in DFU)",
          "ratio (goal <= 0.2x)", "again (device running)"]
MISSING = "particle-cli 2.16.0 is not in the peer cache (scripts/install-peers --npm)"


def available() -> bool:
    return CLI.exists() and UPDATES.is_dir()


def _ratio(ours: tuple, theirs: tuple, goal: float) -> str:
    if not theirs[1]:
        return "n/a"
    ratio = ours[1] / theirs[1]
    return f"{ratio:.2f}x " + ("ok" if ratio <= goal and ours[0] == 0 else "MISSED")


def rows() -> list[list]:
    """The table's rows; the caller checks available() first."""
    from particle_py.sim import devices

    ours = [BIN / "particle", "update", "--target", "2.2.0", "--from", UPDATES]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for platform in ("photon", "electron"):
            results = {}
            for who, mode in (("cli", "dfu"), ("ours-dfu", "dfu"), ("ours-normal", "normal")):
                state = Path(tmp) / f"{platform}-{who}" / "state"
                devices.create(state, [platform], devices.Recipe(mode=mode, device_os="1.4.4"))
                argv, umock, path = ((CLI, "update"), True, "/usr/bin:/bin") if who == "cli" else \
                    (ours, False, f"{BIN}:/usr/bin:/bin")
                first = _run(state, list(argv), umockdev=umock, path=path)
                again_normal = _run(state, list(argv), umockdev=umock, path=path) if who == "ours-normal" else None
                devices.press(state, "dfu", None)            # particle-cli 2.x needs DFU mode
                again_dfu = _run(state, list(argv), umockdev=umock, path=path)
                results[who] = (first, again_dfu, again_normal)
            for who, label in (("cli", "particle-cli 2.16.0 + real dfu-util"), ("ours-dfu", "ours, from DFU mode"),
                               ("ours-normal", "ours, from normal mode")):
                first, again_dfu, again_normal = results[who]
                cells = [f"{platform}", label, f"{first[1]:.2f} s (exit {first[0]})",
                         "" if who == "cli" else _ratio(first, results["cli"][0], 1.0),
                         f"{again_dfu[1]:.2f} s (exit {again_dfu[0]})",
                         "" if who == "cli" else _ratio(again_dfu, results["cli"][1], 0.2),
                         "" if again_normal is None else f"{again_normal[1]:.2f} s (exit {again_normal[0]})"]
                out.append(cells)
    return out


def main() -> int:
    if not available():
        print(f"update-bench: {MISSING}")
        return 69
    print(table(HEADER, rows()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
