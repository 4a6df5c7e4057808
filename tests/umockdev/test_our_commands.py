"""Our own commands over the real libusb: pyusb with libusb-package's libusb and with the
system libusb, against simulated devices shown by umockdev (no in-process simulator)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import differential  # noqa: E402
import peers  # noqa: E402
from test_peers import assert_device_holds_what_was_written  # noqa: E402

pytestmark = pytest.mark.umockdev

LIBUSBS = ["package", "system"]
# cases that need no re-enumeration: libusb-package's libusb has no udev, and umockdev only
# sends udev-style uevents, so it cannot see a device come back (docs/umockdev.md)
SAME_ON_BOTH = ["compat_list_multi", "compat_dfuse_dl_leave", "compat_dfuse_ul", "compat_dfu11_dl",
                "compat_dfu11_ul", "compat_particle_keys_dl", "compat_stm32_mass_erase", "compat_dnload_pipe"]


ORDER_DIFFERS = pytest.mark.xfail(
    strict=True, reason="libusb-package's libusb 1.0.30 (sysfs scan, no udev) lists several devices in "
                        "another order than the system libusb 1.0.26 (udev) the real dfu-util uses")
CASES = [pytest.param(name, libusb, marks=ORDER_DIFFERS if (name, libusb) == ("compat_list_multi", "package")
                      else ()) for name in SAME_ON_BOTH for libusb in LIBUSBS]


@pytest.mark.parametrize("name,libusb", CASES)
def test_our_dfu_util_over_each_libusb(name, libusb, real_dfu_util, monkeypatch):
    monkeypatch.setenv("PARTICLE_PY_DIFF_LIBUSB", libusb)
    case = {c.name: c for c in differential.compat_cases()}[name]
    diffs = differential.differences(case)
    assert not diffs, "\n".join(diffs)


@pytest.mark.parametrize("libusb", LIBUSBS)
def test_our_particle_commands_over_each_libusb(libusb, umockdev, tmp_path, monkeypatch):
    """The 3.43.1 session (usb list, keys save/load/server/address, flash --usb) with our particle."""
    monkeypatch.setenv("PARTICLE_PY_LIBUSB", libusb)
    ours = Path(sys.executable).parent / "particle"
    session = peers.BY_NAME["particle-cli-3.43.1-photon"]
    result = peers.run_session(session, particle=ours, base=tmp_path)
    by_command = {" ".join(s.argv): s for s in result.steps}
    # on a blank device our `keys save` saves the raw slot and fails, where 3.43.1 said nothing
    assert by_command.pop("keys save before.der").status == 1
    failed = {cmd: (s.status, s.stdout + s.stderr) for cmd, s in by_command.items() if s.status != 0}
    assert not failed
    assert by_command["usb list"].stdout == "sim_photon [41260b25e737e0ad2476a9eb] (Photon, DFU)\n"
    assert "Key key.der written to device\n" in by_command["keys load key.der"].stdout
    assert by_command["keys address"].stdout.strip() == "tcp://127.0.0.1:5683"
    assert by_command["flash --usb app.bin"].stdout.endswith("Flash success!\n")
    assert_device_holds_what_was_written(result)


def test_our_flash_switches_a_normal_mode_device_to_dfu(umockdev, tmp_path, monkeypatch):
    """DFU_MODE over the real libusb: the Photon re-enumerates as 2b04:d006 and is flashed."""
    monkeypatch.setenv("PARTICLE_PY_LIBUSB", "system")      # re-enumeration needs udev (docs/umockdev.md)
    import subprocess

    app = peers.inputs()["app.bin"]
    (tmp_path / "app.bin").write_bytes(app)
    log, state = tmp_path / "wire.jsonl", tmp_path / "state"
    env = dict(__import__("os").environ, HOME=str(tmp_path))
    proc = subprocess.run([str(umockdev), "--platform", "photon-normal", "--state", str(state), "--log", str(log),
                           "--", str(Path(sys.executable).parent / "particle"), "flash", "--usb", "app.bin"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.endswith("Flash success!\n")
    import json

    events = [json.loads(line) for line in log.read_text().splitlines()]
    attached = [(e["vid"], e["pid"]) for e in events if e["op"] == "attach"]
    assert attached[:2] == [(0x2B04, 0xC006), (0x2B04, 0xD006)]
    from test_peers import device_memory

    assert device_memory(state, 0, 0x080A0000, len(app)) == app


PLATFORMS = ["photon", "p1", "electron", "core", "argon", "boron", "p2"]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_our_flash_over_real_libusb_on_every_platform(platform, umockdev, tmp_path):
    """`particle flash --usb app.bin` through the system libusb on each platform's simulated DFU
    bootloader: success is printed and the user part holds the module byte for byte."""
    import subprocess

    from particle_py.platforms import by_name
    from particle_py.sim.contents import build_module, default_start

    plat = by_name(platform)
    app = build_module(plat, size=6000, seed=len(platform))
    (tmp_path / "app.bin").write_bytes(app)
    state = tmp_path / "state"
    env = dict(__import__("os").environ, HOME=str(tmp_path), PARTICLE_PY_LIBUSB="system")
    proc = subprocess.run([str(umockdev), "--platform", platform, "--state", str(state),
                           "--", str(Path(sys.executable).parent / "particle"), "flash", "--usb", "app.bin"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.endswith("Flash success!\n")
    from test_peers import device_memory

    assert device_memory(state, 0, default_start(plat, 5, 1, len(app)), len(app)) == app
