"""particle update over the real libusb (umockdev): ours, and particle-cli 2.16.0's own update
with our dfu-util first on PATH against the real dfu-util, on the same simulated devices."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PEERS = Path(os.environ.get("PARTICLE_PY_PEERS") or Path.home() / ".cache" / "particle-py-peers")


def updates_dir(cli: str) -> Path:
    return PEERS / f"particle-cli-{cli}" / "node_modules" / "particle-cli" / "assets" / "updates"

pytestmark = pytest.mark.umockdev
ROOT = Path(__file__).resolve().parents[2]
CLI_2160 = PEERS / "particle-cli-2.16.0" / "node_modules" / ".bin" / "particle"
BIN = Path(sys.executable).parent


def _need():
    if not shutil.which("umockdev-wrapper") or not os.access("/usr/bin/dfu-util", os.X_OK):
        pytest.skip("umockdev or /usr/bin/dfu-util missing (scripts/install-peers --apt)")
    if not updates_dir("2.16.0").is_dir():
        pytest.skip("particle-cli 2.16.0 not in the peer cache (scripts/install-peers --npm)")


def _device(state: Path, platform: str, mode: str = "dfu", bootloader=None):
    from particle_py.sim import devices

    devices.create(state, [platform], devices.Recipe(mode=mode, device_os="1.5.2", bootloader=bootloader))


def _run(state: Path, home: Path, argv: list, path: str):
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, HOME=str(home), PATH=path, PARTICLE_PY_LIBUSB="system", PARTICLE_PY_PEERS=str(PEERS),
               PARTICLE_DISABLE_UPDATE="1", NO_COLOR="1")
    env.pop("PARTICLE_PY_SIM", None)
    return subprocess.run([str(ROOT / "scripts" / "umockdev-run"), "--state", str(state), "--", *map(str, argv)],
                          env=env, capture_output=True, text=True, timeout=600)


def _flash(state: Path) -> bytes:
    return (state / "unit0-alt0.bin").read_bytes()


def _led(state: Path) -> str:
    from particle_py.sim import devices

    return "\n".join(devices.status(state))


@pytest.mark.parametrize("platform", ["photon", "electron"])
def test_our_update_over_the_real_libusb(platform, tmp_path):
    _need()
    state = tmp_path / "state"
    _device(state, platform, mode="normal")
    proc = _run(state, tmp_path / "home", [BIN / "particle", "update", "--target", "2.2.0", "--from",
                                            updates_dir("2.16.0")], f"{BIN}:/usr/bin:/bin")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.endswith("Update success!\n")
    assert "LED: breathing cyan" in _led(state)


# particle-cli 2.16.0's last step is `dfu-util ... :leave`. Today's Gen2 bootloader answers the
# leave with dfuDNLOAD-IDLE and then resets: dfu-util exits 0, and so does 2.16.0. The 2015
# bootloader (ver=0200) resets at once: dfu-util's last GETSTATUS fails (`Error during download
# get_status`, device-os#599) and 2.16.0 crashes on it, exit 1 (forum threads 049/050), after
# every module is written.
@pytest.mark.parametrize("platform,bootloader,status", [("photon", None, 0), ("electron", None, 0),
                                                         ("photon", "2015", 1)])
def test_particle_cli_2_16_update_same_flash_with_our_dfu_util(platform, bootloader, status, tmp_path):
    _need()
    if not CLI_2160.exists():
        pytest.skip("particle-cli 2.16.0 is not runnable here (scripts/install-peers --npm)")
    results = {}
    for which, path in (("ours", f"{BIN}:/usr/bin:/bin"), ("real", "/usr/bin:/bin")):
        state = tmp_path / which
        _device(state, platform, bootloader=bootloader)
        proc = _run(state, tmp_path / f"home-{which}", [CLI_2160, "update"], path)
        results[which] = (proc.returncode, _flash(state), _led(state), proc.stdout + proc.stderr)
    ours, real = results["ours"], results["real"]
    assert ours[0] == real[0] == status, (ours[3], real[3])
    if status:
        assert "Error during download get_status" in real[3]
    assert ours[1] == real[1]
    assert "LED: breathing cyan" in ours[2] and "LED: breathing cyan" in real[2]
    # and what our own update leaves is the same Device OS
    state = tmp_path / "ours-update"
    _device(state, platform)
    proc = _run(state, tmp_path / "home-update", [BIN / "particle", "update", "--target", "2.2.0", "--from",
                                                  updates_dir("2.16.0")], f"{BIN}:/usr/bin:/bin")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    from particle_py.firmware import releases
    from particle_py.firmware.module import parse

    base = 0x08000000
    for entry in releases.pinned("2.2.0", platform).modules:
        data = (updates_dir("2.16.0") / entry.file).read_bytes()
        start = parse(data).prefix.start - base
        assert _flash(state)[start:start + len(data)] == real[1][start:start + len(data)] == data, entry.file
