"""How `particle flash --usb` proves a write: Device OS's own module check after the reset
(GetModuleInfo, control request 90), read-back only where Device OS cannot tell, and the
module info read before the write deciding what needs no compare. Requests on the wire,
bytes in flash, output and exit status."""
from __future__ import annotations

import pytest

from helpers.modules import build_module
from particle_py.firmware.module import ModuleFunction as F
from particle_py.platforms import by_name

PHOTON = by_name("photon")
USER = PHOTON.user_part.address
SP2 = PHOTON.system_parts[1]


class Device:
    def __init__(self, folder):
        self.folder = folder

    def bus(self):
        from particle_py.sim.bus import SimBus

        return SimBus.load(self.folder)

    def dev(self):
        return self.bus().devices()[0]

    def peek(self, address, length):
        return self.dev().memory(0).peek(address, length)

    def poke(self, address, data):
        bus = self.bus()
        bus.devices()[0].memory(0).poke(address, data)
        bus.save()

    @property
    def mode(self):
        return "dfu" if self.dev().profile.is_dfu_mode else "normal"

    def log(self):
        from particle_py.sim.bus import read_log

        return read_log(self.folder)


@pytest.fixture
def device(tmp_path, monkeypatch):
    def make(*, mode="dfu", device_os="1.5.2", knobs=None):
        from particle_py.sim import devices

        folder = tmp_path / "sim"
        devices.create(folder, ["photon"], devices.Recipe(mode=mode, device_os=device_os), knobs=knobs or {})
        monkeypatch.setenv("PARTICLE_PY_SIM", str(folder))
        return Device(folder)
    return make


def _control(log):
    return [e for e in log if e.get("event") == "control"]


def uploads(log):
    """Bytes asked for by each DFU UPLOAD of data (block >= 2)."""
    return [e["wLength"] for e in _control(log) if e["bmRequestType"] == 0xA1 and e["bRequest"] == 2
            and e["wValue"] >= 2]


def module_info_requests(log):
    return [e for e in _control(log) if e["bmRequestType"] == 0xC0 and e["bRequest"] == 1 and e["wIndex"] == 90]


def erases(log):
    return [e for e in _control(log) if e["bmRequestType"] == 0x21 and e["bRequest"] == 1 and e["wValue"] == 0
            and e["data"].startswith("41")]


def data_writes(log):
    return [e for e in _control(log) if e["bmRequestType"] == 0x21 and e["bRequest"] == 1 and e["wValue"] >= 2
            and e["data"]]


def app(seed=5, size=128 * 1024):
    return build_module("photon", size=size, seed=seed, deps=((F.SYSTEM_PART, 2, 1512),))


def system_part_2(seed=9):
    return build_module("photon", function=F.SYSTEM_PART, index=2, version=1512, size=200_000,
                        deps=((F.SYSTEM_PART, 1, 1512),), seed=seed)


def test_user_part_is_proven_by_module_info_not_read_back(device, run, tmp_path):
    d = device()
    image = app()
    (tmp_path / "app.bin").write_bytes(image)
    code, out, err = run("flash", "--usb", tmp_path / "app.bin")
    assert code == 0, err
    assert out.splitlines()[1:] == ["Flashing app.bin", "Flash success!"]
    assert d.peek(USER, len(image)) == image
    log = d.log()
    # the Device OS's prefixes (will it be there to check, and do its dependencies hold?), a compare
    # of the first bytes before, the CRC word after: never the module itself
    assert uploads(log) == [24, 24, 64, 4]
    assert len(module_info_requests(log)) == 1
    assert d.mode == "normal"                       # the flash of an app ends with its reset


def test_system_part_is_proven_by_module_info_and_the_device_goes_back_to_dfu(device, run, tmp_path):
    d = device()
    part = system_part_2()
    (tmp_path / "part2.bin").write_bytes(part)
    code, out, err = run("flash", "--usb", tmp_path / "part2.bin")
    assert code == 0, err
    assert out.splitlines()[1:] == ["Flashing part2.bin", "Flash success!"]
    assert d.peek(SP2, len(part)) == part
    log = d.log()
    # the prefixes of both system parts and of the app (their dependencies after the write), the
    # first bytes of its first sector (another build: erased), the second sector's blank part
    # (read to spare an erase), the CRC word: not the module back
    assert uploads(log)[:5] == [24, 24, 24, 64, 64] and uploads(log)[-1] == 4
    in_second_sector = len(part) - 0x20000
    assert sum(uploads(log)) == 3 * 24 + 64 + in_second_sector + 4
    assert len(module_info_requests(log)) == 1
    assert d.mode == "dfu"                          # where particle-cli leaves it after a system part


def test_verbose_output_says_how_each_write_was_checked(device, run, tmp_path):
    device()
    (tmp_path / "app.bin").write_bytes(app())
    code, out, err = run("-v", "flash", "--usb", tmp_path / "app.bin")
    assert code == 0, err
    assert "Checked by Device OS: app.bin (the user part v6, 131072 bytes, CRC valid)" in out + err


def test_a_word_the_flash_did_not_keep_fails_the_flash(device, run, tmp_path):
    """Device OS's CRC check finds the bad word (its module info says so); the bytes are then read
    back to say where, and the flash fails with the device's state and the way to finish."""
    weak = USER + 0x1000
    d = device(knobs={"FAKE_WEAK_CELL_AT": hex(weak)})
    image = app()
    (tmp_path / "app.bin").write_bytes(image)
    code, out, err = run("flash", "--usb", tmp_path / "app.bin")
    assert code == 1
    assert out.splitlines()[-1] == "Flash failed." and "Flash success!" not in out
    lines = err.splitlines()
    assert lines[0] == (f"Verify failed: app.bin is not in flash as sent: 0x{weak:08x} holds "
                        f"0x{image[0x1000] ^ 1:02x}, expected 0x{image[0x1000]:02x}")
    assert "app.bin is NOT correctly in flash; treat it as not written." in lines
    assert f"  particle flash --usb {tmp_path / 'app.bin'}" in lines
    # Device OS was asked, and reported the module's integrity check as failed
    from particle_py.control.module_info import parse

    info = module_info_requests(d.log())
    assert len(info) == 1
    recv = [e for e in _control(d.log()) if e["bmRequestType"] == 0xC0 and e["bRequest"] == 4 and e["reply"]]
    listed = [m for m in parse(bytes.fromhex(recv[-1]["reply"])) if m.function == F.USER_PART]
    assert listed and listed[0].validity_errors == ("INTEGRITY_CHECK_FAILED",)
    assert d.peek(weak, 1) != image[0x1000:0x1001]


def test_a_lost_crc_word_fails_before_the_reset(device, run, tmp_path):
    image = app()
    crc_at = USER + len(image) - 2
    d = device(knobs={"FAKE_WEAK_CELL_AT": hex(crc_at)})
    (tmp_path / "app.bin").write_bytes(image)
    code, out, err = run("flash", "--usb", tmp_path / "app.bin")
    assert code != 0
    assert err.splitlines()[0] == (f"Flashing app.bin stopped: Verify failed: 0x{crc_at:08x} holds "
                                   f"0x{image[-2] ^ 1:02x}, expected 0x{image[-2]:02x}")
    assert module_info_requests(d.log()) == [] and d.mode == "dfu"


def test_without_device_os_the_bytes_are_read_back(device, run, tmp_path):
    d = device(device_os=None)
    image = app()
    (tmp_path / "app.bin").write_bytes(image)
    code, out, err = run("flash", "--usb", tmp_path / "app.bin")
    assert code == 0, err
    assert out.splitlines()[-1] == "Flash success!"
    assert sum(uploads(d.log())) >= len(image)      # Device OS did not start: read back over DFU
    assert d.peek(USER, len(image)) == image


def test_device_os_too_old_for_module_info_falls_back_to_read_back(device, run, tmp_path):
    d = device(device_os="0.7.0")
    image = build_module("photon", size=20000, seed=4, deps=((F.SYSTEM_PART, 2, 207),))
    (tmp_path / "app.bin").write_bytes(image)
    code, out, err = run("flash", "--usb", tmp_path / "app.bin")
    assert code == 0, err
    assert out.splitlines()[-1] == "Flash success!"
    assert sum(uploads(d.log())) >= len(image)
    assert d.peek(USER, len(image)) == image


def test_verify_flag_reads_back_and_asks_no_module_info(device, run, tmp_path):
    d = device()
    image = app()
    (tmp_path / "app.bin").write_bytes(image)
    code, out, err = run("flash", "--usb", tmp_path / "app.bin", "--verify")
    assert code == 0, err
    assert sum(uploads(d.log())) >= len(image) and module_info_requests(d.log()) == []


def test_running_device_with_the_module_already_there_writes_and_reads_nothing_of_it(device, run, tmp_path):
    d = device(mode="normal")
    image = app()
    (tmp_path / "app.bin").write_bytes(image)
    assert run("flash", "--usb", tmp_path / "app.bin")[0] == 0          # now it is there, running
    assert d.mode == "normal"
    mark = len(d.log())
    code, out, err = run("flash", "--usb", tmp_path / "app.bin")
    assert code == 0, err
    assert out.splitlines()[-1] == "Flash success!"
    new = d.log()[mark:]
    assert erases(new) == [] and data_writes(new) == []
    assert uploads(new) == [4]                      # the CRC word: Device OS vouched for the rest
    assert len(module_info_requests(new)) == 1      # before; nothing written, nothing to prove after


def test_running_device_with_another_build_is_erased_without_a_compare(device, run, tmp_path):
    d = device(mode="normal")
    (tmp_path / "old.bin").write_bytes(app(seed=5))
    assert run("flash", "--usb", tmp_path / "old.bin")[0] == 0
    new_image = app(seed=6)
    (tmp_path / "app.bin").write_bytes(new_image)
    mark = len(d.log())
    code, out, err = run("flash", "--usb", tmp_path / "app.bin")
    assert code == 0, err
    new = d.log()[mark:]
    # no compare read: the CRC word before (same version, so which build?) and after the write
    assert uploads(new) == [4, 4]
    assert len(erases(new)) == 1                    # the one 128 KB sector
    assert len(module_info_requests(new)) == 2      # before and after
    assert d.peek(USER, len(new_image)) == new_image


def test_a_device_that_does_not_come_back_is_not_reported_verified(device, run, tmp_path):
    """Device OS takes longer than the check waits (an app crashing at start looks the same):
    the write is reported as sent and not verified, with the command that reads it back."""
    d = device(knobs={"FAKE_REENUM_DELAY_MS": "120000"})
    image = app()
    (tmp_path / "app.bin").write_bytes(image)
    code, out, err = run("flash", "--usb", tmp_path / "app.bin")
    assert code == 1
    assert "Flash success!" not in out and out.splitlines()[-1] == "Flash failed."
    lines = err.splitlines()
    assert lines[0] == ("Written but not verified: the device did not come back within 30 s of its reset, so "
                        "Device OS could not check what was written")
    assert lines[1] == ("Sent to the device: app.bin; NOT verified: treat it as not written until a run that "
                        "ends with Flash success!.")
    assert lines[-1] == f"  particle flash --usb {tmp_path / 'app.bin'} --verify"
    held = (d.folder / "unit0-alt0.bin").read_bytes()[USER - 0x08000000:]     # the board, still off the bus
    assert held[:len(image)] == image               # sent whole: only the check is missing


def test_a_failure_after_a_module_still_to_be_checked_does_not_call_it_verified(device, run, tmp_path):
    """System part 2 is written (Device OS would check it after the reset); the device is then
    unplugged during the app's write: the report must not call part 2 verified."""
    part, image = system_part_2(), app()
    (tmp_path / "part2.bin").write_bytes(part)
    (tmp_path / "app.bin").write_bytes(image)
    reference = device()
    assert run("flash", "--usb", tmp_path / "part2.bin", tmp_path / "app.bin")[0] == 0
    control = [e for e in _control(reference.log()) if e["devnum"] == reference.log()[0]["devnum"]]
    app_first = next(n for n, e in enumerate(control, 1) if e["bmRequestType"] == 0x21 and e["bRequest"] == 1
                     and e["data"] == "21" + USER.to_bytes(4, "little").hex())
    import shutil

    shutil.rmtree(reference.folder)
    d = device(knobs={"FAKE_UNPLUG_AFTER": str(app_first + 20)})
    code, out, err = run("flash", "--usb", tmp_path / "part2.bin", tmp_path / "app.bin")
    assert code != 0, out
    assert "Written and verified" not in err, err
    assert ("Written, not yet verified (Device OS checks it after the reset, which did not come): part2.bin."
            in err.splitlines())
    assert "app.bin was NOT completely written" in err
    assert d.bus().devices() == []                  # unplugged


def test_a_photon_with_the_2015_bootloader_is_checked_and_put_back_in_dfu_mode(tmp_path, monkeypatch, run):
    """Its DFU serial (00000000010C) is not the device id: after the reset the running board is
    found by its new enumeration, and back in DFU mode by the serial it showed there."""
    from particle_py.sim import devices

    folder = tmp_path / "sim"
    devices.create(folder, ["photon"], devices.Recipe(mode="dfu", device_os="1.5.2", bootloader="2015"))
    monkeypatch.setenv("PARTICLE_PY_SIM", str(folder))
    d = Device(folder)
    part = system_part_2()
    (tmp_path / "part2.bin").write_bytes(part)
    code, out, err = run("-v", "flash", "--usb", tmp_path / "part2.bin")
    assert code == 0, err
    assert "Checked by Device OS: part2.bin (system part 2 v1512, 200000 bytes, CRC valid)" in out + err
    assert out.splitlines()[-1] == "Flash success!"
    assert d.peek(SP2, len(part)) == part and d.mode == "dfu"
