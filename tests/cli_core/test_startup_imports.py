"""Start-up: `particle <command> --help` and a plain command never import pydantic or rich
(typer 0.29 coerces every non-flag parameter with pydantic, the help option included; the
pyproject window stops before it), and the signal handlers go in before any heavy import."""
from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from helpers.processes import script

NEVER = ("pydantic", "pydantic_core", "rich", "markdown_it")


def _imports(*args, cwd=None, env=None):
    proc = subprocess.run([sys.executable, "-X", "importtime", script("particle"), *args], capture_output=True,
                          text=True, timeout=120, cwd=cwd, env=env)
    names = [line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines()
             if line.startswith("import time:") and "|" in line]
    return proc, names


def _commands() -> list[str]:
    out = subprocess.run([script("particle"), "--help"], capture_output=True, text=True, timeout=120).stdout
    listing = out.split("Commands:", 1)[1]
    return sorted({m.group(1) for m in re.finditer(r"^  (\S+)\s", listing, re.M)})


def test_every_command_help_imports_neither_pydantic_nor_rich():
    commands = _commands()
    assert {"keys", "flash", "usb"} <= set(commands)
    for command in commands:
        proc, names = _imports(command, "--help")
        assert proc.returncode == 0, (command, proc.stderr[-500:])
        assert "particle_py.cli.particle.main" in names
        assert [n for n in names if n.split(".")[0] in NEVER] == [], command


def test_a_command_with_options_imports_no_pydantic(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARTICLE_PY_")}
    env["HOME"] = str(tmp_path)
    proc, names = _imports("keys", "new", "k", "--protocol", "tcp", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr[-500:]
    assert (tmp_path / "k.der").exists()
    assert [n for n in names if n.split(".")[0] in NEVER] == []


def test_the_handlers_are_in_before_typer_is_imported():
    """The runner (which installs the handlers) is imported before typer: a Ctrl-C during typer's
    import is already ours (exit 130, 'Interrupted.'), not a KeyboardInterrupt traceback."""
    _, names = _imports("keys", "--help")
    assert names.index("particle_py.cli.runner") < names.index("typer")


@pytest.mark.parametrize("name", ["dfu-util", "particle-sim"])
def test_the_other_front_ends_import_the_runner_early(name):
    proc = subprocess.run([sys.executable, "-X", "importtime", script(name), "--version" if name != "dfu-util"
                           else "-V"], capture_output=True, text=True, timeout=120)
    names = [line.rsplit("|", 1)[1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")]
    assert "particle_py.cli.runner" in names
    assert [n for n in names if n.split(".")[0] in NEVER] == []
