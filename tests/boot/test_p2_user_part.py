"""Where Device OS on the P2 (rtl872x) finds the app, as the boot model has it from Device OS's
source (docs/doctor.md "Where Device OS runs the app (P2 ...)"): the user part ends at 0x08600000
and the first extension of its suffix names its start. Reached with the commands users run
(`particle flash --usb`, dfu-util) on a simulated P2 made with `particle-sim create`."""
import io
import os
from pathlib import Path

import pytest

from particle_py.cli.dfu_util.main import main as dfu_util
from particle_py.cli.particle.main import main as particle
from particle_py.cli.sim import main as particle_sim
from particle_py.platforms import by_name
from particle_py.sim import contents

P2 = by_name("p2")
END = 0x08600000
PEERS = Path(os.environ.get("PARTICLE_PY_PEERS", Path.home() / ".cache" / "particle-py-peers"))


@pytest.fixture
def work(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PARTICLE_PY_SIM", str(tmp_path / "sim"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def create(capsys, *options):
    assert particle_sim(["create", "p2", *options]) == 0
    capsys.readouterr()


def status(capsys) -> list[str]:
    capsys.readouterr()
    assert particle_sim(["status"]) == 0
    return [line.strip() for line in capsys.readouterr().out.splitlines()[1:]]


def write_app(work, capsys, data: bytes, start: int) -> None:
    (work / "app.bin").write_bytes(data)
    assert particle(["usb", "dfu"]) == 0
    assert dfu_util(["dfu-util", "-d", P2.dfu_vid_pid, "-a", "0", "-s", f"0x{start:08x}:leave", "-D", "app.bin"],
                    stdout=io.StringIO(), stderr=io.StringIO()) == 0
    capsys.readouterr()


def tinker() -> bytes:
    found = sorted(PEERS.glob("particle-cli-*/node_modules/particle-cli/assets/knownApps/p2/tinker/"
                              "tinker-5.0.0-p2.bin"))
    if not found:
        pytest.skip("needs particle-cli 3.43.1's P2 Tinker in the peer cache (scripts/install-peers)")
    return found[0].read_bytes()


def test_a_new_p2_holds_device_os_5_and_runs_its_app(work, capsys):
    create(capsys)
    shown = status(capsys)
    assert shown[:3] == ["LED: breathing cyan (connected to the cloud)",
                         "why: Device OS and user application valid (the app at 0x085feb34)", "Device OS: 5.0.0"]


@pytest.mark.parametrize("device_os, why", [
    ("default", "Device OS and user application valid (the app at 0x085f4000)"),
    ("4.1.0", "the user application needs system part 1 version >= 5002 (it has version 4100)"),
])
def test_particles_tinker_needs_device_os_5(work, capsys, device_os, why):
    create(capsys, "--device-os", device_os, "--app", "none")
    (work / "tinker.bin").write_bytes(tinker())
    assert particle(["flash", "--usb", "tinker.bin"]) == 0
    assert f"why: {why}" in status(capsys)


def test_an_app_whose_suffix_does_not_open_with_its_start_is_not_found(work, capsys):
    """Device OS reads only the suffix's first extension: a name first hides the start."""
    create(capsys)
    size = 8192
    start = END - size
    name = b"\x11\x00\x08\x00tink"
    app = contents.build_module(P2, function=5, size=size, start=start, deps=((4, 1, 5002),),
                                suffix_extensions=name + contents.dynamic_location(start))
    write_app(work, capsys, app, start)
    assert ("why: no valid user application ending at 0x08600000: no module ends there (its suffix names no "
            "start address)") in status(capsys)


def test_an_app_naming_a_start_below_the_user_part_is_not_found(work, capsys):
    """The start must leave the OTA region its 1.5 MB: at or above 0x08480000 (core_hal.c)."""
    create(capsys)
    size = 8192
    start = END - size
    app = contents.build_module(P2, function=5, size=size, start=start, deps=((4, 1, 5002),),
                                suffix_extensions=contents.dynamic_location(0x08400000))
    write_app(work, capsys, app, start)
    assert ("why: no valid user application ending at 0x08600000: the module ending there names a start "
            "(0x08400000) outside the user part") in status(capsys)


def test_a_cut_short_system_part_keeps_the_p2_in_dfu_mode(work, capsys):
    create(capsys)
    address, part = contents.device_os(P2, "5.0.0")[0]
    write_app(work, capsys, part[:-3000], address)
    shown = status(capsys)
    assert shown[0] == "LED: blinking yellow (DFU mode)"
    assert shown[2] == ("after a reset: blinking yellow (Device OS system part 1 at 0x08060000: CRC check "
                        "failed (incomplete or corrupt write))")


def test_a_system_part_needing_the_bootloader_runs(work, capsys):
    """Real P2 system parts need bootloader 0 version 3100 (system_module_version.mk); the
    bootloader is not in the platform table, so that dependency is taken as met, not as safe mode."""
    create(capsys)
    part = contents.build_module(P2, function=4, index=1, version=5800, size=16384, start=0x08060000,
                                 deps=((2, 0, 3100),), suffix_extensions=contents.dynamic_location(0x08060000))
    write_app(work, capsys, part, 0x08060000)
    shown = status(capsys)
    assert shown[0] == "LED: breathing cyan (connected to the cloud)"
    assert "Device OS: 5.8.0" in shown
