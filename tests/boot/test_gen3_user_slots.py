"""Where Device OS runs the app on Argon and Boron, reached with the commands users run: before
3.1 only the 128 KB part at 0xD4000; from 3.1 on the 128 KB "compat" app first, then the 256 KB
part at 0xB4000 (device-os hal/src/nRF52840/user_hal.cpp, docs/doctor.md). The LED, the
simulator's reason and the doctor's reading of the device agree on which app runs."""
from __future__ import annotations

import json

import pytest

from tests.doctor.conftest import asset_url, world  # noqa: F401  (fixtures)

COMPAT, CURRENT = 0xD4000, 0xB4000


def running_app(world) -> int:
    """The address of the app the doctor (reading the device over USB) says Device OS runs."""
    code, out, err = world.particle("doctor", "--dry-run", "--json")
    assert code == 0, err
    app = [f for f in json.loads(out)["diagnosis"]["findings"] if f["code"] == "app_ok"]
    assert app, out
    return app[0]["facts"]["address"]


def flash_app(world, name: str, data: bytes) -> None:
    (world.work / name).write_bytes(data)
    code, out, err = world.particle("flash", "--usb", name)
    assert code == 0, out + err


@pytest.mark.parametrize("name", ["argon", "boron"])
def test_before_3_1_only_the_128k_app_runs_and_tinker_brings_it_back(world, name):
    from particle_py.platforms import by_name
    from particle_py.sim import contents

    platform = by_name(name)
    world.create(name)                                    # Device OS 1.5.2, its app at 0xD4000
    assert world.led().startswith("LED: breathing cyan")
    assert f"the app at 0x{COMPAT:08x}" in world.led()
    flash_app(world, "app.bin", contents.user_app(platform, "4.1.0"))     # built for 3.1+: 0xB4000
    shown = world.led()
    assert shown.startswith("LED: breathing magenta"), shown
    assert f"no valid user application at 0x{COMPAT:08x}: empty (erased flash)" in shown
    assert (f"the user application at 0x{CURRENT:08x} needs system part 1 version >= 4100 (it has version 1512) "
            f"and is where Device OS does not look before system part version 3102") in shown
    code, out, err = world.particle("flash", "--usb", "tinker")
    assert code == 0, out + err
    assert world.led().startswith("LED: breathing cyan")
    assert running_app(world) == COMPAT


@pytest.mark.parametrize("name", ["argon", "boron"])
def test_from_3_1_the_128k_app_runs_first_and_the_256k_one_when_it_cannot(world, name):
    from particle_py.platforms import by_name
    from particle_py.sim import contents

    platform = by_name(name)
    world.create(name, "--device-os", "4.0.2")            # its app is built for 4.0.2: at 0xB4000
    assert f"the app at 0x{CURRENT:08x}" in world.led()
    assert running_app(world) == CURRENT
    code, out, err = world.particle("flash", "--usb", "tinker")                 # 128 KB, at 0xD4000
    assert code == 0, out + err
    assert f"the app at 0x{COMPAT:08x}" in world.led()
    assert running_app(world) == COMPAT
    # a 128 KB app that needs a newer Device OS is passed over for the 256 KB one
    newer = contents.build_module(platform, start=COMPAT, prefix_offset=0, size=6000,
                                  deps=((contents.SYSTEM_PART, 1, 9000),))
    (world.work / "newer.bin").write_bytes(newer)
    assert world.particle("usb", "dfu")[0] == 0
    assert world.dfu_util("-d", platform.dfu_vid_pid, "-a", "0", "-s", f"0x{COMPAT:x}:leave", "-D",
                          "newer.bin") == 0
    shown = world.led()
    assert shown.startswith("LED: breathing cyan") and f"the app at 0x{CURRENT:08x}" in shown, shown
    assert running_app(world) == CURRENT


def test_on_3_1_and_later_the_doctors_tinker_runs_before_an_app_for_a_newer_device_os(world):
    from particle_py.platforms import by_name
    from particle_py.sim import contents

    world.create("argon", "--device-os", "4.0.2")
    flash_app(world, "app.bin", contents.user_app(by_name("argon"), "4.1.0"))
    shown = world.led()
    assert shown.startswith("LED: breathing magenta"), shown
    assert f"the user application at 0x{CURRENT:08x} needs system part 1 version >= 4100" in shown
    code, out, err = world.particle("doctor", "--yes")
    assert code == 0, out + err
    assert ("Flash the Tinker app: writes Particle's Tinker app, which Device OS then runs instead of the user "
            "application (particle flash --usb tinker)") in out.splitlines()
    assert f"the app at 0x{COMPAT:08x}" in world.led()
    assert running_app(world) == COMPAT


@pytest.mark.parametrize("device_os, runs", [("4.0.2", CURRENT), ("1.5.2", COMPAT)])
def test_a_raw_dfu_util_write_of_a_256k_app_takes_over_from_a_compat_app_on_3_1_bootloaders(world, device_os, runs):
    """The 3.1+ bootloader erases the compat app's first page itself when a write starts a valid
    app at 0xB4000 (usbd_dfu_mal.cpp): the forum's raw dfu-util line then runs the new app. An
    older bootloader leaves the compat app alone, and it goes on running."""
    from particle_py.platforms import by_name
    from particle_py.sim import contents

    platform = by_name("argon")
    world.create("argon", "--device-os", device_os)
    code, out, err = world.particle("flash", "--usb", "tinker")                 # 128 KB, at 0xD4000
    assert code == 0, out + err
    app = contents.user_app(platform, "4.0.2")                                  # linked at 0xB4000
    (world.work / "app.bin").write_bytes(app)
    assert world.particle("usb", "dfu")[0] == 0
    assert world.dfu_util("-d", platform.dfu_vid_pid, "-a", "0", "-s", f"0x{CURRENT:x}:leave", "-D", "app.bin") == 0
    shown = world.led()
    if runs == CURRENT:
        assert shown.startswith("LED: breathing cyan") and f"the app at 0x{CURRENT:08x}" in shown, shown
        assert running_app(world) == CURRENT
    else:
        assert f"the app at 0x{COMPAT:08x}" in shown, shown
