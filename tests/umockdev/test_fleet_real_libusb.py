"""A fleet behind two hubs, as the real libusb sees it: real dfu-util lists each board at its
hub port (1-1.2), particle-py's own batch runs over the real libusb, and particle-cli 3.51.0
lists them all."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.umockdev

PARTICLE = Path(sys.executable).parent / "particle"
PATHS = ["1-1.1", "1-1.2", "1-2.1", "1-2.2"]


def _hub(tmp_path, *options):
    """Photon, Argon, Photon, Argon on two 2-port hubs; their ids in bus order."""
    from particle_py.cli.sim import main as particle_sim
    from particle_py.sim.bus import SimBus

    state = tmp_path / "state"
    assert particle_sim(["create", "photon", "argon", "--count", "2", "--hub", "2", "--state", str(state),
                         *options]) == 0
    return state, [d.profile.device_id for d in SimBus.load(state).devices()]


def _run(umockdev, state, *command, cwd, env=None):
    return subprocess.run([str(umockdev), "--state", str(state), "--", *map(str, command)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def _env(tmp_path) -> dict:
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return dict(os.environ, HOME=str(home), PARTICLE_PY_LIBUSB="system", XDG_DATA_HOME=str(tmp_path / "data"),
                XDG_CACHE_HOME=str(tmp_path / "cache"))


def test_boards_behind_hubs_are_at_their_ports_for_dfu_util_and_particle_py(umockdev, real_dfu_util, tmp_path):
    """`usb dfu --all` holds the next board open while it finds the first again: two handles
    on one device in one process, each reaping its own transfers (the bridge used to mix them
    and the client's heap broke)."""
    from particle_py import assets
    from particle_py.firmware import module
    from particle_py.firmware.known_apps import KNOWN_APPS
    from particle_py.platforms import by_name
    from particle_py.sim.bus import SimBus

    state, ids = _hub(tmp_path)
    env = _env(tmp_path)
    proc = _run(umockdev, state, PARTICLE, "usb", "dfu", "--all", cwd=tmp_path, env=env)
    assert (proc.returncode, proc.stdout) == (0, "Done.\n"), proc.stderr
    listed = _run(umockdev, state, real_dfu_util, "-l", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    seen = sorted(set(re.findall(r'path="([^"]+)", alt=\d+, name="[^"]*", serial="([0-9a-f]+)"', listed.stdout)))
    assert seen == sorted(zip(PATHS, ids)), listed.stdout
    one = _run(umockdev, state, real_dfu_util, "-p", "1-2.1", "-l", cwd=tmp_path)
    assert set(re.findall(r'serial="([0-9a-f]+)"', one.stdout)) == {ids[2]}, one.stdout

    # back to normal mode, then a batch flash from there: every board switches, is found again, is written
    proc = _run(umockdev, state, PARTICLE, "usb", "reset", "--all", cwd=tmp_path, env=env)
    assert (proc.returncode, proc.stdout) == (0, "Done.\n"), proc.stderr
    proc = _run(umockdev, state, PARTICLE, "flash", "--usb", "--all", "tinker", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[-1] == "4 of 4 devices: flash succeeded."
    for device_id, port in zip(ids, PATHS):
        assert any(line.startswith(device_id) and f" {port} " in line and "flashed tinker" in line
                   for line in lines), lines
    boards = {d.profile.device_id: d for d in SimBus.load(state).devices()}
    for device_id in ids:
        plat = by_name(boards[device_id].profile.platform)
        app = next(a for a in KNOWN_APPS if a.platform == plat.name and a.name == "tinker")
        payload = module.parse(assets.packaged(app.path, app.sha256))
        held = boards[device_id].memory(plat.user_part.alt).read(payload.prefix.start, len(payload.payload()))
        assert held == payload.payload(), device_id


def test_particle_cli_351_lists_every_board_behind_the_hubs(umockdev, cli351, tmp_path):
    state, ids = _hub(tmp_path)
    proc = _run(umockdev, state, *cli351, "usb", "list", "--ids-only", cwd=tmp_path, env=_env(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.split()) == sorted(ids)
