"""`particle flash --usb` says nothing that will not run: what each module needs against what the
device holds and what the write leaves, held against the simulator's boot model (sim/boot.py)."""
from __future__ import annotations

import pytest

from helpers.modules import build_module
from particle_py.firmware.module import ModuleFunction as F
from particle_py.platforms import by_name


@pytest.fixture
def device(tmp_path, monkeypatch):
    """A simulated device with a Device OS and an app (sim.devices.create), and its boot model."""
    class Device:
        def __init__(self, folder, name):
            self.folder, self.platform = folder, by_name(name)

        def dev(self):
            from particle_py.sim.bus import SimBus

            return SimBus.load(self.folder).devices()[0]

        def peek(self, address, length):
            return self.dev().memory(0).peek(address, length)

        def firmware(self):
            """What Device OS would do if the device booted now: ('normal'|'safe'|'dfu', why)."""
            from particle_py.sim import boot, devices

            return boot.check_firmware(devices.reader(self.dev()), self.platform)

        @property
        def in_dfu(self):
            return self.dev().profile.is_dfu_mode

    def make(name="photon", *, mode="dfu", device_os="1.5.2"):
        from particle_py.sim import devices

        folder = tmp_path / "sim"
        devices.create(folder, [name], devices.Recipe(mode=mode, device_os=device_os))
        monkeypatch.setenv("PARTICLE_PY_SIM", str(folder))
        return Device(folder, name)
    return make


PHOTON = by_name("photon")
OLD_PART1 = 6            # system part 1 of Device OS 0.4.7 (module version 6: depends on nothing)


def old_part1():
    return build_module("photon", function=F.SYSTEM_PART, index=1, version=OLD_PART1, size=20000, deps=(), seed=9)


@pytest.mark.parametrize("mode", ["dfu", "normal"])
def test_part1_of_0_4_7_over_part2_of_1_5_2_is_refused_and_nothing_is_written(device, run, tmp_path, mode):
    d = device(mode=mode)
    before = d.peek(PHOTON.system_parts[0], 0x20000)
    assert d.firmware()[0] == "normal"
    (tmp_path / "system-part1-0.4.7-photon.bin").write_bytes(old_part1())
    code, out, err = run("flash", "--usb", tmp_path / "system-part1-0.4.7-photon.bin")
    assert code == 1
    assert "Flash success!" not in out
    assert err.splitlines() == [
        "After writing system-part1-0.4.7-photon.bin the Photon would not start Device OS: system part 2 "
        "version 1512 needs system part 1 version 1512 or newer; system-part1-0.4.7-photon.bin is version 6",
        "Nothing was written; the device would stay in DFU mode (blinking yellow). Flash every part of one "
        "Device OS release together, or install a whole release with:",
        "  particle update --target 2.3.1",
        "(--force writes it anyway.)",
    ]
    assert d.peek(PHOTON.system_parts[0], 0x20000) == before
    assert d.firmware()[0] == "normal"
    # a device switched to DFU mode for the flash is let run again
    assert d.in_dfu == (mode == "dfu")


def test_forced_part1_of_0_4_7_is_written_and_said_not_to_run(device, run, tmp_path):
    d = device()
    part = old_part1()
    (tmp_path / "p1.bin").write_bytes(part)
    code, out, err = run("flash", "--usb", tmp_path / "p1.bin", "--force")
    assert code == 0, err
    assert out.splitlines()[-1] == "Flash done (forced)." and "Flash success!" not in out
    assert ("Warning: After writing p1.bin the Photon would not start Device OS: system part 2 version 1512 "
            "needs system part 1 version 1512 or newer; p1.bin is version 6: it stays in DFU mode (blinking "
            "yellow). To get it running: particle update --target 2.3.1") in err.splitlines()
    assert d.peek(PHOTON.system_parts[0], len(part)) == part
    mode, why = d.firmware()
    assert mode == "dfu" and "needs system part 1 version >= 1512" in why      # blinking yellow


@pytest.mark.parametrize("mode", ["dfu", "normal"])
def test_app_for_a_newer_device_os_is_written_and_said_to_run_in_safe_mode(device, run, tmp_path, mode):
    d = device(mode=mode)
    app = build_module("photon", size=9000, deps=((F.SYSTEM_PART, 2, 2301),), seed=4)
    (tmp_path / "app.bin").write_bytes(app)
    code, out, err = run("flash", "--usb", tmp_path / "app.bin")
    assert code == 0, err
    assert "Flash success!" not in out
    assert out.splitlines()[-3:] == [
        "Flashing app.bin",
        "Flash done, but the Photon will run in safe mode (breathing magenta) until Device OS is updated: "
        "app.bin (user part version 6) needs system part 2 version 2301 or newer; the device has version 1512.",
        "Update Device OS with: particle update --target 2.3.1",
    ]
    assert d.peek(PHOTON.user_part.address, len(app)) == app
    mode_after, why = d.firmware()
    assert mode_after == "safe" and "needs system part 2 version >= 2301 (it has version 1512)" in why


def test_system_parts_that_leave_the_app_behind_say_safe_mode(device, run, tmp_path):
    """Both system parts of an older Device OS: it starts, but the app there needs 1.5.2."""
    d = device()
    app = build_module("photon", size=9000, deps=((F.SYSTEM_PART, 2, 1512),), seed=4)
    from particle_py.sim.bus import SimBus

    bus = SimBus.load(d.folder)
    bus.devices()[0].memory(0).poke(PHOTON.user_part.address, app)
    bus.save()
    assert d.firmware()[0] == "normal"
    p1 = build_module("photon", function=F.SYSTEM_PART, index=1, version=207, size=20000, deps=(), seed=1)
    p2 = build_module("photon", function=F.SYSTEM_PART, index=2, version=207, size=20000,
                      deps=((F.SYSTEM_PART, 1, 207),), seed=2)
    (tmp_path / "p1.bin").write_bytes(p1)
    (tmp_path / "p2.bin").write_bytes(p2)
    code, out, err = run("flash", "--usb", tmp_path / "p1.bin", tmp_path / "p2.bin")
    assert code == 0, err
    assert out.splitlines()[-2:] == [
        "Flash done, but the Photon will run in safe mode (breathing magenta) until Device OS is updated: "
        "user part version 6 needs system part 2 version 1512 or newer; p2.bin is version 207.",
        "Update Device OS with: particle update --target 2.2.0",
    ]
    assert d.firmware()[0] == "safe"


def test_a_whole_release_in_order_is_a_success(device, run, tmp_path):
    d = device()
    p1 = build_module("photon", function=F.SYSTEM_PART, index=1, version=2301, size=20000, deps=(), seed=1)
    p2 = build_module("photon", function=F.SYSTEM_PART, index=2, version=2301, size=20000,
                      deps=((F.SYSTEM_PART, 1, 2301),), seed=2)
    app = build_module("photon", size=9000, deps=((F.SYSTEM_PART, 2, 2301),), seed=4)
    for n, data in (("app.bin", app), ("p2.bin", p2), ("p1.bin", p1)):
        (tmp_path / n).write_bytes(data)
    code, out, err = run("flash", "--usb", tmp_path / "app.bin", tmp_path / "p2.bin", tmp_path / "p1.bin")
    assert code == 0, err
    assert out.splitlines()[-1] == "Flash success!"
    assert d.firmware()[0] == "normal"


@pytest.mark.parametrize("name", ["photon", "argon", "p2"])
def test_a_system_part_linked_at_the_app_address_is_refused(device, run, tmp_path, name):
    """Issue #23 finding 4: it was written over the app."""
    d = device(name)
    platform = d.platform
    region = platform.user_part
    from particle_py import module_layout as layout

    start, _code, _why = layout.user_part_start(lambda alt, a, n: d.dev().memory(alt).peek(a, n), region)
    before = d.peek(start, 0x2000)
    part = build_module(name, function=F.SYSTEM_PART, index=1, version=2301, size=0x2000, start=start, deps=())
    (tmp_path / "part.bin").write_bytes(part)
    code, out, err = run("flash", "--usb", tmp_path / "part.bin", "--force")
    assert code == 1
    assert err.splitlines()[0] == (f"{tmp_path / 'part.bin'} is a system part linked at 0x{start:08x}, but system part 1 "
                                   f"belongs at 0x{platform.system_parts[0]:08x}")
    assert err.splitlines()[1].startswith("Nothing was written (not even with --force")
    assert d.peek(start, 0x2000) == before
