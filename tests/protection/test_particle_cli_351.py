"""Real particle-cli 3.51.0 (under umockdev, the real libusb) and ours print the same
`device-protection status` for the same simulated Boron, in both modes and both states."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.umockdev, pytest.mark.peers]

ROOT = Path(__file__).resolve().parents[2]
PEERS = Path(os.environ.get("PARTICLE_PY_PEERS", "/root/.cache/particle-py-peers"))
CLI = PEERS / "particle-cli-3.51.0" / "node_modules" / ".bin" / "particle"
NODE = PEERS / "node-22" / "bin"
BORON = "e00fce68ba1d4f6c1e2b9a70"


def _theirs(state: Path, home: Path) -> tuple[int, str]:
    env = dict(os.environ, HOME=str(home), PATH=f"{NODE}{os.pathsep}{os.environ.get('PATH', '')}")
    env.pop("PARTICLE_PY_SIM", None)
    done = subprocess.run([str(ROOT / "scripts" / "umockdev-run"), "--state", str(state), "--",
                           str(CLI), "device-protection", "status"], env=env, capture_output=True, text=True,
                          timeout=300)
    # the spinner's line clearing is a terminal's business, not the result
    return done.returncode, re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", done.stdout)


@pytest.mark.parametrize("options", [("--protected",), ("--protected", "--mode", "dfu"), ("--service-mode",),
                                     ("--service-mode", "--mode", "dfu")])
def test_status_matches_particle_cli_3_51(options, tmp_path, monkeypatch, capsys):
    if not CLI.exists() or shutil.which("umockdev-wrapper") is None or not NODE.is_dir():
        pytest.skip("needs particle-cli 3.51.0, node 22 and umockdev (scripts/install-peers)")
    from particle_py.cli.particle.main import main
    from particle_py.cli.sim import main as particle_sim

    state, home = tmp_path / "sim", tmp_path / "cli-home"
    home.mkdir()
    assert particle_sim(["create", "boron", "--device-os", "6.2.1", "--id", BORON, "--state", str(state),
                         *options]) == 0
    code, theirs = _theirs(state, home)
    monkeypatch.setenv("PARTICLE_PY_SIM", str(state))
    capsys.readouterr()
    assert main(["device-protection", "status"]) == code == 0
    assert capsys.readouterr().out == theirs
