"""Shell completion for `particle` (typer's): the script it prints, and the answers it gives."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PARTICLE = [sys.executable, "-c", "import sys; from particle_py.cli.particle.main import main; sys.exit(main())"]


def run(*args, **env):
    return subprocess.run([*PARTICLE, *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **env}, cwd=Path(__file__).parent)


def test_help_offers_completion():
    proc = run("--help")
    assert proc.returncode == 0 and "--install-completion" in proc.stdout and "--show-completion" in proc.stdout


def test_the_completion_script_names_the_command():
    # typer picks the shell it runs under (shellingham); CI runs under bash
    proc = run("--show-completion")
    assert proc.returncode == 0 and "particle" in proc.stdout and "_PARTICLE_COMPLETE" in proc.stdout, proc.stderr


@pytest.mark.parametrize("words, cword, expected", [("particle ke", "1", ["keys"]),
                                                    ("particle keys do", "2", ["doctor"]),
                                                    ("particle usb con", "2", ["configure"])])
def test_bash_completion_answers(words, cword, expected):
    proc = run(_PARTICLE_COMPLETE="complete_bash", COMP_WORDS=words, COMP_CWORD=cword)
    assert proc.returncode == 0 and proc.stdout.split() == expected, proc.stderr
