"""The smoke set run against an installed particle-py (scripts/smoke-installed runs it in each venv).

Runs the console scripts of the virtual environment this interpreter belongs to, from a scratch
folder with its own HOME, so nothing of the checkout is on the path: what a user who ran
`pip install particle-py` gets. Checks:
  - the package comes from the venv's site-packages, ships its data files and no development tools;
  - every command's help: `particle`, each of its groups and their commands, `particle-sim` and
    its commands, `dfu-util -h` and `-V`;
  - usage errors end with exit status 2 (typer) or 64 (dfu-util, EX_USAGE) and no traceback;
  - a job on the simulator: `particle-sim create photon`, `dfu-util -l` finds it, `particle keys
    server` with no network writes Particle's shipped server key, `particle keys address` reads it back.
Prints one line per check and a summary; exit status 1 when any check failed.
Stdlib only (it must not import what it tests).
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

BIN = Path(sys.executable).parent
COMMAND_LINE = re.compile(r"^ {1,2}([a-z][a-z0-9-]*)(?:\s{2,}|$)")
failures: list[str] = []
checks = 0


def run(*argv, env=None, cwd=None):
    exe = str(BIN / argv[0]) if (BIN / argv[0]).exists() else argv[0]
    return subprocess.run([exe, *argv[1:]], capture_output=True, text=True, env=env, cwd=cwd, timeout=120,
                          stdin=subprocess.DEVNULL)


def check(label: str, ok: bool, detail: str = "") -> bool:
    global checks
    checks += 1
    if not ok:
        failures.append(label)
        print(f"FAIL {label}" + (f"\n     {detail.strip()[-600:]}" if detail else ""))
    return ok


def commands_of(help_text: str) -> list[str]:
    """Command names listed under 'Commands' in typer help, plain or boxed by rich."""
    names, inside = [], False
    for raw in help_text.splitlines():
        line = raw.rstrip().rstrip("│").rstrip()
        if "Commands" in line and (line.startswith("Commands") or "─" in line):
            inside = True
            continue
        if not inside:
            continue
        if not line.strip() or line.lstrip().startswith(("╰", "╭")):
            inside = False
            continue
        match = COMMAND_LINE.match(line[1:] if line.startswith("│") else line)
        if match:
            names.append(match.group(1))
    return names


def help_tree(tool: str, env) -> int:
    """--help of the tool, its commands and their commands; the number of helps checked."""
    count, todo = 0, [[]]
    while todo:
        words = todo.pop(0)
        proc = run(tool, *words, "--help", env=env)
        label = " ".join([tool, *words, "--help"])
        count += 1
        if check(label, proc.returncode == 0 and "Usage:" in proc.stdout and "Traceback" not in proc.stderr,
                 proc.stderr or proc.stdout):
            todo.extend(words + [name] for name in commands_of(proc.stdout))
    return count


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> int:
    scratch = Path(tempfile.mkdtemp(prefix="particle-py-smoke-"))
    home = scratch / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTICLE_PY_") and k != "PYTHONPATH"}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), XDG_DATA_HOME=str(home / ".local/share"),
               XDG_CONFIG_HOME=str(home / ".config"), PYTHONDONTWRITEBYTECODE="1")
    os.chdir(scratch)
    print(f"smoke: {sys.executable} (Python {sys.version.split()[0]})")

    probe = run(sys.executable, "-c",
                "import particle_py, importlib.util as u; from particle_py import assets;"
                "print(particle_py.__file__); print(particle_py.__version__);"
                "print(all(assets.data_path(n).is_file() for n in "
                "('keys/rsa.pub.der', 'keys/ec.pub.der', 'keys/SOURCE.md', 'keys/LICENSE-particle-cli', "
                "'50-particle.rules')));"
                "print(u.find_spec('particle_py.bench') is None and u.find_spec('particle_py.sim.umockdev_bridge') is None)",
                env=env)
    lines = probe.stdout.split()
    check("the package is the installed one, from site-packages",
          probe.returncode == 0 and "site-packages" in lines[0] and lines[0].startswith(str(BIN.parent)),
          probe.stderr + probe.stdout)
    if probe.returncode == 0:
        check("package data shipped (server keys, their licence, udev rules)", lines[2] == "True")
        check("no development tools in the package", lines[3] == "True")
        print(f"     particle-py {lines[1]} from {lines[0]}")

    helps = help_tree("particle", env) + help_tree("particle-sim", env)
    # dfu-util prints its usage text on stderr, the version on stdout (as the original does)
    for flag, stream, start in (("-h", "stderr", "Usage: dfu-util [options] ..."), ("-V", "stdout", "dfu-util 0.")):
        proc = run("dfu-util", flag, env=env)
        helps += 1
        check(f"dfu-util {flag}", proc.returncode == 0 and getattr(proc, stream).startswith(start)
              and "Traceback" not in proc.stderr, proc.stderr + proc.stdout)
    print(f"     {helps} help/version screens")

    for argv in (["particle", "nosuch"], ["particle", "keys", "nosuch"], ["particle", "flash", "--nosuch"],
                 ["particle-sim", "nosuch"], ["particle-sim", "create"], ["dfu-util", "--nosuch"],
                 ["dfu-util", "-a"]):
        proc = run(*argv, env=env)
        check("usage error: " + " ".join(argv),
              proc.returncode in (2, 64) and "Traceback" not in proc.stderr + proc.stdout and proc.stderr.strip(),
              f"exit {proc.returncode}\n{proc.stderr}")

    state = scratch / "sim"
    sim_env = dict(env, PARTICLE_PY_SIM=str(state), PARTICLE_PY_ASSET_URL=f"http://127.0.0.1:{closed_port()}")
    proc = run("particle-sim", "create", "photon", "--mode", "dfu", "--id", "3a0035000f47343432313031", env=sim_env)
    check("particle-sim create photon", proc.returncode == 0, proc.stderr)
    proc = run("dfu-util", "-l", env=sim_env)
    check("dfu-util -l finds the simulated Photon",
          proc.returncode == 0 and "Found DFU: [2b04:d006]" in proc.stdout, proc.stderr + proc.stdout)
    proc = run("particle", "keys", "server", env=sim_env)
    check("particle keys server, no network: the shipped key is written",
          proc.returncode == 0 and proc.stdout.splitlines()[-1:] ==
          ["Okay!  New keys in place, your device will not restart."], proc.stderr + proc.stdout)
    proc = run("particle", "keys", "address", env=sim_env)
    check("particle keys address reads it back",
          proc.returncode == 0 and proc.stdout.strip() == "tcp://device.spark.io:5683", proc.stderr + proc.stdout)
    proc = run("particle", "usb", "list", env=sim_env)
    check("particle usb list", proc.returncode == 0 and "3a0035000f47343432313031" in proc.stdout,
          proc.stderr + proc.stdout)

    print(f"smoke: {checks} checks, {len(failures)} failed" + (": " + "; ".join(failures) if failures else ""))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
