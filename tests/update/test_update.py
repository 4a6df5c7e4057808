"""particle update on simulated devices: what the user sees, what flash holds, the LED after."""
import os
import re
from pathlib import Path
import shutil

import pytest

from particle_py.firmware import releases
from particle_py.firmware.module import ModuleFunction as F, parse
from particle_py.platforms import OTA_FLAG_SLOT, by_name

PLATFORMS = ["photon", "p1", "electron", "argon", "boron"]
SHAPES = ["dfu", "device", "target"]

DFU_LINES = ["", "> Your device is ready for a system update.",
             "> This process should take about 30 seconds. Here it goes!", ""]
DONE_LINES = ["! System firmware update successfully completed!", "",
              "> Your device should now restart automatically."]


def data_writes(log):
    return [e for e in log if e.get("event") == "control" and e["bmRequestType"] == 0x21
            and e["bRequest"] == 1 and e["wValue"] >= 2 and e["data"]]


def release_files(dirs, version, platform):
    pin = releases.pinned(version, platform)
    out = []
    for entry in pin.modules:
        for d in dirs:
            path = os.path.join(d, entry.file)
            if os.path.exists(path):
                out.append((entry.file, open(path, "rb").read()))
                break
    assert len(out) == len(pin.modules)
    return out


def assert_release_in_flash(device, dirs, version, platform):
    """Every module file of the release, byte for byte, where Device OS keeps it."""
    for name, data in release_files(dirs, version, platform):
        module = parse(data)
        payload = module.payload()
        assert device.peek(0, module.prefix.start, len(payload)) == payload, name


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("platform", PLATFORMS)
def test_update_brings_an_older_device_os_to_the_release(device, run, release_dirs, platform, shape):
    d = device(platform, mode="dfu" if shape == "dfu" else "normal", device_os="1.5.2")
    args = ["update", "--from", release_dirs[0], "--from", release_dirs[1]]
    version = releases.latest_pinned(platform)
    if shape == "device":
        args.insert(1, d.device_id)
    if shape == "target":
        version = "2.2.0"
        args[1:1] = [d.device_id, "--target", version]
    code, out, err = run(*args)
    assert code == 0, err
    lines = out.splitlines()
    if shape == "dfu":
        assert lines[:4] == DFU_LINES
    if shape == "device":
        assert "> This process may take a few minutes. Here it goes!" in lines
    if shape == "target":
        assert f"Updating {platform} {d.device_id} to Device OS version {version}" in lines
        assert lines[-1] == "Update success!"
    else:
        assert lines[-3:] == DONE_LINES
    pin = releases.pinned(version, platform)
    for entry in pin.modules:
        assert f"Flashing {entry.file}" in lines
    assert_release_in_flash(d, release_dirs, version, platform)
    assert d.mode == "normal"
    assert d.led().startswith("breathing cyan"), d.led()


@pytest.mark.parametrize("platform", ["photon", "electron", "boron"])
def test_half_written_system_part_is_finished(device, run, release_dirs, platform):
    d = device(platform, mode="dfu", device_os="2.2.0")
    version = "2.2.0"
    name, data = next((n, b) for n, b in release_files(release_dirs, version, platform)
                      if parse(b).prefix.function == F.SYSTEM_PART)
    start = parse(data).prefix.start
    d.poke(0, start + len(data) // 2, b"\xff" * (len(data) - len(data) // 2))      # the tail never arrived
    assert "DFU mode" in d.led() or "blinking yellow" in d.led()
    code, out, err = run("update", "--target", version, "--from", release_dirs[0])
    assert code == 0, err
    assert f"  {name} " in out and "Update success!" in out
    plan = [l for l in out.splitlines() if l.startswith("  ")]
    assert [l for l in plan if l.endswith("to write")] == [l for l in plan if l.startswith(f"  {name} ")]
    assert_release_in_flash(d, release_dirs, version, platform)
    assert d.led().startswith("breathing cyan"), d.led()


def test_up_to_date_device_needs_no_write(device, run, release_dirs):
    d = device("photon", device_os="2.2.0")
    mark = len(d.log())
    code, out, err = run("update", d.device_id, "--target", "2.2.0", "--from", release_dirs[0])
    assert code == 0, err
    assert "Device OS 2.2.0 is already on the device: nothing to write." in out
    assert data_writes(d.log()[mark:]) == []
    assert d.mode == "normal" and d.led().startswith("breathing cyan")


def test_bootloader_is_staged_then_applied_by_device_os(device, run, release_dirs):
    d = device("photon", mode="dfu", device_os="1.5.2")
    boot_name, boot = release_files(release_dirs, "2.2.0", "photon")[0]
    assert parse(boot).prefix.function == F.BOOTLOADER
    code, out, err = run("update", "--target", "2.2.0", "--from", release_dirs[0])
    assert code == 0, err
    plat = by_name("photon")
    assert d.peek(0, plat.ota_region.address, len(boot)) == boot          # staged copy
    assert d.peek(0, plat.bootloader, len(boot)) == boot                 # applied at boot
    assert d.peek(OTA_FLAG_SLOT.alt, OTA_FLAG_SLOT.address, 1) == b"\xff"  # flag consumed
    lines = out.splitlines()
    assert lines.index(f"Flashing {boot_name}") < lines.index("Flashing ota-flag-a5") \
        < lines.index("Flashing photon-system-part2@2.2.0.bin")


def test_keys_in_the_dct_survive_the_flag_write(device, run, release_dirs):
    d = device("photon", mode="dfu")
    slot = by_name("photon").device_key["tcp"]
    key = d.peek(slot.alt, slot.address, slot.size)
    assert run("update", "--target", "2.2.0", "--from", release_dirs[0])[0] == 0
    assert d.peek(slot.alt, slot.address, slot.size) == key
    assert d.led().startswith("breathing cyan")


# --- bad input: a clear error, the device untouched --------------------------------------------

def _snapshot(d):
    dev = d.dev()
    return [dev.memory(a).peek(dev.memory(a).layout.base, dev.memory(a).size) for a in (0, 1)]


def test_invalid_target_exits_nonzero(device, run, release_dirs):
    d = device("photon")
    before = _snapshot(d)
    code, out, err = run("update", "--target", "banana", "--from", release_dirs[0])
    assert code == 1 and err.splitlines()[0] == "Invalid version: banana"
    assert _snapshot(d) == before and "success" not in out


def test_unknown_release_without_network_leaves_device_alone(device, run, release_dirs):
    d = device("photon")
    before = _snapshot(d)
    code, out, err = run("update", "--target", "9.9.9", "--from", release_dirs[0], "--no-download")
    assert code == 1
    assert err.splitlines()[0] == "Device OS 9.9.9 for Photon is not available here: downloading is off"
    assert "particle update --from" in err
    assert _snapshot(d) == before and d.mode == "normal"


def test_not_logged_in_download_says_what_to_do(device, run):
    d = device("photon")
    before = _snapshot(d)
    code, out, err = run("update", "--target", "2.2.0")
    assert code == 1
    assert "Device OS 2.2.0 for Photon is not available here" in err and "not logged in" in err
    assert _snapshot(d) == before


@pytest.mark.parametrize("damage", ["truncated", "corrupted", "other platform"])
def test_damaged_file_is_refused_before_the_device_is_touched(device, run, release_dirs, tmp_path, damage):
    d = device("photon", mode="dfu")
    folder = tmp_path / "files"
    shutil.copytree(release_dirs[0], folder)
    target = folder / "photon-system-part1@2.2.0.bin"
    data = bytearray(target.read_bytes())
    if damage == "truncated":
        data = data[:100000]
    elif damage == "corrupted":
        data[5000] ^= 0xFF
    else:
        data = bytearray((folder / "p1-system-part1@2.2.0.bin").read_bytes())
    target.write_bytes(bytes(data))
    before = _snapshot(d)
    mark = len(d.log())
    code, out, err = run("update", "--target", "2.2.0", "--from", folder)
    assert code != 0
    first = err.splitlines()[0]
    assert first.startswith("photon-system-part1@2.2.0.bin (") and str(folder) in first
    assert {"truncated": "(truncated)", "corrupted": "SHA-256 differs",
            "other platform": "SHA-256 differs"}[damage] in first
    assert "Nothing was written to the device" in err
    assert _snapshot(d) == before and data_writes(d.log()[mark:]) == []


def test_zip_source(device, run, release_dirs, tmp_path):
    import zipfile

    d = device("argon", mode="dfu")
    z = tmp_path / "argon-2.2.0.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for name, data in release_files(release_dirs, "2.2.0", "argon"):
            zf.writestr(f"release/{name}", data)
    code, out, err = run("update", "--target", "2.2.0", "--from", z)
    assert code == 0, err
    assert_release_in_flash(d, release_dirs, "2.2.0", "argon")


# --- interruption ------------------------------------------------------------------------------

def test_unplug_mid_update_reports_state_and_resume(device, run, release_dirs):
    d = device("photon", mode="dfu", knobs={"FAKE_UNPLUG_AFTER": "500"})   # mid system part 1
    code, out, err = run("update", "--target", "2.2.0", "--from", release_dirs[0])
    assert code != 0
    assert "success" not in out
    first = err.splitlines()[0]
    assert first.startswith("Update of Device OS 2.2.0 stopped while writing ") and "the device was disconnected)" in first
    assert "In flash: " in err and "Not written: " in err
    assert f"particle update --target 2.2.0 --from {release_dirs[0]}" in err
    # what the report says is what the device holds
    d.replug()
    done = err.split("In flash: ", 1)[1].split(" (Device OS checks", 1)[0].split(", ")
    files = dict(release_files(release_dirs, "2.2.0", "photon"))
    plat = by_name("photon")
    for name in done:
        if name in files:
            m = parse(files[name])
            where = plat.ota_region.address if m.prefix.function == F.BOOTLOADER else m.prefix.start
            assert d.peek(0, where, len(m.payload())) == m.payload(), name
    not_written = err.split("Not written: ", 1)[1].split(" (", 1)[0]
    m = parse(files[not_written])
    assert d.peek(0, m.prefix.start, len(m.payload())) != m.payload()
    # and the one command finishes the job
    code, out, err = run("update", "--target", "2.2.0", "--from", release_dirs[0])
    assert code == 0, err
    assert_release_in_flash(d, release_dirs, "2.2.0", "photon")
    assert d.led().startswith("breathing cyan")


def test_no_release_for_the_platform(device, run, release_dirs):
    device("core", mode="dfu", device_os=None)
    code, out, err = run("update", "--from", release_dirs[0])
    assert code == 1
    assert err.splitlines()[0] == "There are currently no system firmware updates available for this device."
    assert "success" not in out


def test_old_bootloader_under_new_system_parts_is_safe_mode(device, release_dirs):
    from helpers.modules import build_module

    d = device("photon", device_os="2.2.0")
    d.poke(0, 0x08000000, build_module("photon", function=F.BOOTLOADER, start=0x08000000, deps=(), size=15124,
                                       version=501))
    assert d.led() == "breathing magenta: Device OS system part 2 needs bootloader 0 version >= 1003 (it has version 501)"


def test_ctrl_c_mid_update_reports_state(device, release_dirs):
    from particle_py import events
    from particle_py.errors import ParticlePyError
    from particle_py.ops import update as update_ops

    d = device("boron", mode="dfu", device_os="1.5.2")
    calls = []

    class CtrlC(events.Reporter):
        def progress(self, task, done, total):
            calls.append(task)
            if task.startswith("boron-system-part1") and done > 100000:
                raise KeyboardInterrupt

    with pytest.raises(ParticlePyError) as exc:
        update_ops.update(target="2.2.0", paths=[release_dirs[0]], reporter=CtrlC())
    err = exc.value
    assert err.exit_code == 130
    # a library caller's KeyboardInterrupt reads like the front end's SIGINT: the state, from the flash
    found = re.match(r"Update of Device OS 2\.2\.0 interrupted while writing boron-system-part1@2\.2\.0\.bin "
                     r"at 0x([0-9a-f]{8})\.$", err.message)
    assert found, err.message
    reached = int(found.group(1), 16)
    span = re.search(r"Not written: boron-system-part1@2\.2\.0\.bin \(written up to 0x([0-9a-f]{8})[^,]*, "
                     r"0x([0-9a-f]{8})-0x([0-9a-f]{8})\)", err.hint)
    assert span and int(span.group(1), 16) == reached, err.hint
    start = int(span.group(2), 16)
    data = (Path(release_dirs[0]) / "boron-system-part1@2.2.0.bin").read_bytes()
    assert d.peek(0, start, reached - start) == data[:reached - start]
    assert d.peek(0, reached, 4096) != data[reached - start:reached - start + 4096]
    assert "To finish, run:\n  particle update --target 2.2.0 --from " in err.hint
    assert d.mode == "dfu"


def test_writes_are_proven_by_device_os_not_read_back(device, run, release_dirs):
    d = device("boron", mode="dfu", device_os="1.5.2")
    mark = len(d.log())
    code, out, err = run("update", "--target", "2.2.0", "--from", release_dirs[0])
    assert code == 0, err
    log = d.log()[mark:]
    control = [e for e in log if e.get("event") == "control"]
    last_write = max(i for i, e in enumerate(control) if e["bmRequestType"] == 0x21 and e["bRequest"] == 1
                     and e["wValue"] >= 2 and e["data"])
    uploads_after = [e for e in control[last_write:] if e["bmRequestType"] == 0xA1 and e["bRequest"] == 2
                     and e["wValue"] >= 2]
    assert all(e["wLength"] == 4 for e in uploads_after)         # at most a module's CRC word
    info_after = [e for e in control[last_write:] if e["bmRequestType"] == 0xC0 and e["bRequest"] == 1
                  and e["wIndex"] == 90]
    assert len(info_after) == 1
    assert_release_in_flash(d, release_dirs, "2.2.0", "boron")


def test_a_module_the_flash_did_not_keep_is_caught(device, run, release_dirs):
    d = device("photon", mode="dfu", device_os="1.5.2", knobs={"FAKE_WEAK_CELL_AT": "0x08030000"})
    code, out, err = run("update", "--target", "2.2.0", "--from", release_dirs[0])
    assert code == 1
    assert "success" not in out.lower()
    assert err.splitlines()[0] == "Verify failed: photon-system-part1@2.2.0.bin is not in flash after the update"
    assert d.mode == "dfu" and d.led().startswith("blinking yellow")


def test_device_os_reports_the_installed_release(device, run, release_dirs):
    d = device("electron", device_os="1.5.2")
    code, out, err = run("update", d.device_id, "--target", "2.2.0", "--from", release_dirs[0])
    assert code == 0, err
    from particle_py.control import exchange as control
    from particle_py.ops.discovery import find_device, release_entry

    entry = find_device()
    try:
        assert control.firmware_version(entry.usb_device) == "2.2.0"
    finally:
        release_entry(entry)


def test_damaged_zip_is_refused_before_the_device_is_touched(device, run, release_dirs, tmp_path):
    import zipfile

    d = device("photon", mode="dfu")
    z = tmp_path / "release.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in release_files(release_dirs, "2.2.0", "photon"):
            zf.writestr(name, data)
    raw = bytearray(z.read_bytes())
    raw[2000] ^= 0xFF                                   # inside the first member's compressed data
    z.write_bytes(bytes(raw))
    before = _snapshot(d)
    code, out, err = run("update", "--target", "2.2.0", "--from", z, "--no-download")
    assert code != 0
    assert err.splitlines()[0].startswith(f"--from {z}: cannot be read")
    assert _snapshot(d) == before
    code, out, err = run("update", "--target", "2.2.0", "--from", tmp_path / "nowhere", "--no-download")
    assert code == 1 and err.splitlines()[0] == f"--from {tmp_path / 'nowhere'}: not a folder or a zip file"


def test_p2_with_stand_in_modules(device, run, tmp_path):
    """No Device OS release is pinned for the P2: a release given with --from (stand-ins here)
    is checked by CRC and platform, written over DFU, and proven by the module info its Device OS
    reports after the restart (system part 1 at 0x08060000, hal/src/rtl872x/ota_module_bounds.c)."""
    from helpers.modules import build_module

    d = device("p2", mode="dfu", device_os=None)
    folder = tmp_path / "p2-5.8.0"
    folder.mkdir()
    part = build_module("p2", function=F.SYSTEM_PART, index=1, version=5800, size=64 * 1024, start=0x08060000,
                        deps=(), seed=5)
    (folder / "p2-system-part1@5.8.0.bin").write_bytes(part)
    (folder / "p2-system-part1@5.9.0.bin").write_bytes(b"not this one")
    code, out, err = run("update", "--target", "5.8.0", "--from", folder, "--no-download")
    assert code == 0, err
    assert "Verified: Device OS reports every written module intact (module info)." in out
    assert d.peek(0, 0x08060000, len(part)) == part
    # a foreign file under the release's name is refused, nothing written
    (folder / "p2-system-part1@5.8.0.bin").write_bytes(build_module("argon", function=F.SYSTEM_PART, index=1,
                                                                   size=8192, deps=()))
    code, out, err = run("update", "--target", "5.8.0", "--from", folder, "--no-download")
    assert code != 0 and "is not compatible with platform p2" in err.splitlines()[0]


def _uploaded(log) -> int:
    return sum(e["wLength"] for e in log if e.get("event") == "control" and e["bmRequestType"] == 0xA1
               and e["bRequest"] == 2 and e["wValue"] >= 2)


def test_again_from_dfu_mode_reads_only_the_ends_of_each_module(device, run, release_dirs):
    """The first 64 and last 256 bytes of each module decide; Device OS's module info after the boot
    proves the rest (its CRC check), so nothing is read whole."""
    from particle_py.sim import devices

    d = device("photon", mode="dfu")
    assert run("update", "--target", "2.2.0", "--from", release_dirs[0])[0] == 0
    devices.press(d.folder, "dfu", None)
    mark = len(d.log())
    code, out, err = run("update", "--target", "2.2.0", "--from", release_dirs[0])
    assert code == 0, err
    log = d.log()[mark:]
    # the bootloader (16 KB, staged by the plan, so compared whole) and the ends of the other
    # modules; the system parts alone are 650 KB
    assert _uploaded(log) <= 16 * 1024 + 4 * 2 * 256
    assert [e for e in log if e.get("event") == "control" and e["bRequest"] == 1 and e["bmRequestType"] == 0x21
            and e["wValue"] >= 2 and e["data"]] == []
    assert any(e.get("event") == "control" and e["bmRequestType"] == 0xC0 and e["wIndex"] == 90 for e in log)
    assert_release_in_flash(d, release_dirs, "2.2.0", "photon")


def test_a_module_damaged_between_its_ends_is_found_by_device_os_and_written(device, run, release_dirs):
    from particle_py.sim import devices

    d = device("photon", mode="dfu")
    assert run("update", "--target", "2.2.0", "--from", release_dirs[0])[0] == 0
    devices.press(d.folder, "dfu", None)
    part1 = by_name("photon").system_parts[0]
    held = d.peek(0, part1 + 0x10000, 1)
    d.poke(0, part1 + 0x10000, bytes([held[0] ^ 0xFF]))
    code, out, err = run("update", "--target", "2.2.0", "--from", release_dirs[0])
    assert code == 0, err
    assert "Flashing photon-system-part1@2.2.0.bin" in out
    assert_release_in_flash(d, release_dirs, "2.2.0", "photon")
    assert d.led().startswith("breathing cyan")


def test_a_photon_with_the_2015_bootloader_is_found_after_its_reset_and_proven(device, run, release_dirs):
    """Its DFU serial is 00000000010C, not the device id: the board that comes back running is
    found by its new enumeration, and its module info proves the writes."""
    from particle_py.sim import devices

    d = device("photon", mode="dfu")
    shutil.rmtree(d.folder)
    devices.create(d.folder, ["photon"], devices.Recipe(mode="dfu", device_os="1.5.2", bootloader="2015"))
    code, out, err = run("-v", "update", "--target", "2.2.0", "--from", release_dirs[0])
    assert code == 0, err
    assert "Verified: Device OS reports every written module intact (module info)." in out.splitlines()
    assert out.splitlines()[-1] == "Update success!"
    assert_release_in_flash(d, release_dirs, "2.2.0", "photon")
    assert d.led().startswith("breathing cyan")
