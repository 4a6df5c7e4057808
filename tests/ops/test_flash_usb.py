"""particle flash --usb against simulated devices: what the user sees and what the flash holds."""
import os
import struct
from pathlib import Path

import pytest

from helpers.modules import build_module
from particle_py.firmware.module import ModuleFlags, ModuleFunction as F
from particle_py.platforms import by_name


PLATFORMS = ["photon", "p1", "electron", "core", "argon", "boron", "p2"]
# read at import, before the fixtures move HOME
PEERS = Path(os.environ.get("PARTICLE_PY_PEERS", Path.home() / ".cache" / "particle-py-peers"))


def dnloads(log):
    return [e for e in log if e.get("event") == "control" and e["bmRequestType"] == 0x21 and e["bRequest"] == 1]


def erases(log):
    return [struct.unpack("<I", bytes.fromhex(e["data"])[1:5])[0] for e in dnloads(log)
            if e["wValue"] == 0 and e["data"].startswith("41")]


def data_writes(log):
    return [e for e in dnloads(log) if e["wValue"] >= 2 and e["data"]]


def whole_alt(sim, alt=0, index=0):
    dev = sim.devices()[index]
    mem = dev.memory(alt)
    return mem.peek(mem.layout.base, mem.size)


@pytest.mark.parametrize("name", PLATFORMS)
def test_flash_user_app_lands_byte_for_byte(sim, run, tmp_path, name, profile, device_ids):
    s = sim(profile(name))
    app = build_module(name, size=6000, seed=42)
    f = tmp_path / "app.bin"
    f.write_bytes(app)
    code, out, err = run("flash", "--usb", f)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"Flashing {name} device ")
    if by_name(name).dfu_serial_is_device_id:
        assert lines[0] == f"Flashing {name} device {device_ids[name]}"
    assert lines[1:] == ["Flashing app.bin", "Flash success!"]
    start = struct.unpack_from("<I", app, {"core": 0x10C, "p2": 0}.get(name, 0x184 if by_name(name).generation == 2 else 0x200))[0]
    assert s.peek(0, start, len(app)) == app


def test_normal_mode_device_is_switched_to_dfu_and_flashed(sim, run, tmp_path, profile, device_ids):
    s = sim(profile("argon", "normal"))
    app = build_module("argon", size=9000, seed=3)
    (tmp_path / "a.bin").write_bytes(app)
    code, out, err = run("flash", "--usb", tmp_path / "a.bin")
    assert code == 0, err
    assert "Switching device to DFU mode" in out.splitlines()
    assert out.splitlines()[-3:] == [f"Flashing argon device {device_ids['argon']}", "Flashing a.bin", "Flash success!"]
    assert s.peek(0, 0xB4000, len(app)) == app


def test_modules_are_flashed_in_dependency_order(sim, run, tmp_path, profile, device_ids):
    s = sim(profile("photon"))
    p = by_name("photon")
    part1 = build_module("photon", function=F.SYSTEM_PART, index=1, version=207, size=20000, deps=(), seed=1)
    part2 = build_module("photon", function=F.SYSTEM_PART, index=2, version=207, size=20000,
                         deps=((F.SYSTEM_PART, 1, 207),), seed=2)
    app = build_module("photon", deps=((F.SYSTEM_PART, 2, 207),), seed=3)
    for n, d in (("app.bin", app), ("part2.bin", part2), ("part1.bin", part1)):
        (tmp_path / n).write_bytes(d)
    code, out, err = run("flash", "--usb", tmp_path / "app.bin", tmp_path / "part2.bin", tmp_path / "part1.bin")
    assert code == 0, err
    assert out.splitlines()[1:] == ["Flashing part1.bin", "Flashing part2.bin", "Flashing app.bin", "Flash success!"]
    assert s.peek(0, p.system_parts[0], len(part1)) == part1
    assert s.peek(0, p.system_parts[1], len(part2)) == part2
    assert s.peek(0, p.user_part.address, len(app)) == app


def test_second_flash_of_the_same_file_writes_nothing(sim, run, tmp_path, profile, device_ids):
    s = sim(profile("boron"))
    f = tmp_path / "app.bin"
    f.write_bytes(build_module("boron", size=12000))
    assert run("flash", "--usb", f)[0] == 0
    first = len(s.log())
    # back to DFU for the second run
    assert run("usb", "dfu")[0] == 0
    mark = len(s.log())
    code, out, _ = run("flash", "--usb", f)
    assert code == 0 and out.splitlines()[-1] == "Flash success!"
    new = s.log()[mark:]
    assert erases(new) == [] and data_writes(new) == []
    assert first > 0


def test_blank_pages_are_written_without_erase(sim, run, tmp_path, profile, device_ids):
    s = sim(profile("argon"))
    start = 0xB4000
    s.poke(0, start, b"\xff" * 0x10000)
    f = tmp_path / "app.bin"
    app = build_module("argon", size=10000)
    f.write_bytes(app)
    mark = len(s.log())
    assert run("flash", "--usb", f)[0] == 0
    new = s.log()[mark:]
    assert erases(new) == []
    assert s.peek(0, start, len(app)) == app


def test_changed_pages_are_erased_and_others_skipped(sim, run, tmp_path, profile, device_ids):
    s = sim(profile("argon"))
    app = bytearray(build_module("argon", size=3 * 4096))
    f = tmp_path / "app.bin"
    f.write_bytes(app)
    assert run("flash", "--usb", f)[0] == 0
    run("usb", "dfu")
    # same module with one byte of the middle page changed (re-signed so it passes the checks)
    app2 = build_module("argon", size=3 * 4096, seed=1)
    assert app2 == bytes(app)
    app2 = bytearray(app2)
    app2[4096 + 100] ^= 0xFF
    import hashlib, zlib
    app2[-38:-6] = hashlib.sha256(bytes(app2[:-38])).digest()
    app2[-4:] = struct.pack(">I", zlib.crc32(bytes(app2[:-4])) & 0xFFFFFFFF)
    f.write_bytes(bytes(app2))
    mark = len(s.log())
    assert run("flash", "--usb", f)[0] == 0
    new = s.log()[mark:]
    assert erases(new) == [0xB4000 + 4096, 0xB4000 + 2 * 4096]     # middle and last page (CRC) only
    assert s.peek(0, 0xB4000, len(app2)) == bytes(app2)


# --- bad files: a clear error and an untouched device ---------------------------------------

def _bad_files():
    photon_app = build_module("photon", size=5000)
    return {
        "wrong platform": (build_module("boron"), "Module {f} is not compatible with platform photon"),
        "bad crc": (build_module("photon", bad_crc=True), "CRC check failed for module {f}"),
        "truncated": (photon_app[:3000], "{f} is truncated: its module header says 5000 bytes, the file has 3000"),
        "NCP firmware": (build_module("photon", function=F.NCP_FIRMWARE, start=0x08000000, deps=()),
                         "Module {f} is a network coprocessor (NCP) module: firmware module of this type cannot be flashed via DFU"),
        "oversized": (build_module("photon", size=140 * 1024),
                      "{f} is 143360 bytes, more than the 131072 bytes a user app may have on Photon"),
        "random bytes": (bytes((i * 7919) % 251 for i in range(5000)), "Could not parse {f}: it has no Particle module header"),
        "empty": (b"", "{f} is empty"),
        "read-only address": (build_module("photon", function=F.SYSTEM_PART, index=1, start=0x08004000, deps=()),
                              "{f} starts at 0x08004000, which is not in a writable part of the Photon flash (Internal Flash)"),
    }


@pytest.mark.parametrize("case", list(_bad_files()))
def test_bad_file_is_refused_and_device_untouched(sim, run, tmp_path, case, profile):
    data, message = _bad_files()[case]
    s = sim(profile("photon"))
    before = whole_alt(s)
    f = tmp_path / "bad.bin"
    f.write_bytes(data)
    mark = len(s.log())
    code, out, err = run("flash", "--usb", f)
    assert code == 1
    assert err.splitlines()[0] == message.format(f=f)
    assert "Flash success!" not in out
    assert data_writes(s.log()[mark:]) == [] and erases(s.log()[mark:]) == []
    assert whole_alt(s) == before


def test_force_skips_crc_and_platform_checks_only(sim, run, tmp_path, profile, device_ids):
    s = sim(profile("photon"))
    bad_crc = build_module("photon", bad_crc=True, size=3000)
    (tmp_path / "c.bin").write_bytes(bad_crc)
    code, out, err = run("flash", "--usb", "--force", tmp_path / "c.bin")
    assert code == 0, err
    assert s.peek(0, 0x080A0000, 3000) == bad_crc
    run("usb", "dfu")
    p1_app = build_module("p1", size=3000, seed=9)
    (tmp_path / "p1.bin").write_bytes(p1_app)
    assert run("flash", "--usb", "--force", tmp_path / "p1.bin")[0] == 0
    assert s.peek(0, 0x080A0000, 3000) == p1_app
    run("usb", "dfu")
    before = whole_alt(s)
    ncp = build_module("photon", function=F.NCP_FIRMWARE, start=0x08000000, deps=())
    (tmp_path / "ncp.bin").write_bytes(ncp)
    code, _, err = run("flash", "--usb", "--force", tmp_path / "ncp.bin")
    assert code == 1 and "cannot be flashed via DFU" in err
    ro = build_module("photon", function=F.SYSTEM_PART, index=1, start=0x08000000, deps=())
    (tmp_path / "ro.bin").write_bytes(ro)
    code, _, err = run("flash", "--usb", "--force", tmp_path / "ro.bin")
    assert code == 1 and "not in a writable part" in err
    assert whole_alt(s) == before


def test_missing_file_message(sim, run, tmp_path, profile, device_ids):
    sim(profile("photon"))
    code, out, err = run("flash", "--usb", "WATNOPE.bin")
    assert code == 1 and err.splitlines()[0] == "WATNOPE.bin doesn't exist"


def test_no_device(sim, run, tmp_path, profile, device_ids):
    sim()
    f = tmp_path / "a.bin"
    f.write_bytes(build_module("photon"))
    code, out, err = run("flash", "--usb", f)
    assert code == 1 and err.splitlines()[0] == "No devices found"
    assert "!!! The device needs to be in DFU mode for this command." in err


def test_factory_image_goes_to_alt_2_on_gen3(sim, run, tmp_path, profile, device_ids):
    s = sim(profile("boron"))
    app = build_module("boron", size=8000)
    (tmp_path / "f.bin").write_bytes(app)
    code, out, err = run("flash", "--usb", "--factory", tmp_path / "f.bin")
    assert code == 0, err
    mem = s.devices()[0].memory(2)
    assert mem.peek(mem.layout.base + 0x00200000, len(app)) == app


def test_factory_refuses_system_part(sim, run, tmp_path, profile, device_ids):
    sim(profile("boron"))
    (tmp_path / "s.bin").write_bytes(build_module("boron", function=F.SYSTEM_PART, index=1, deps=()))
    code, _, err = run("flash", "--usb", "--factory", tmp_path / "s.bin")
    assert code == 1 and err.splitlines()[0] == "Factory reset is only supported for user part"


def test_drop_module_info_strips_the_prefix(sim, run, tmp_path, profile, device_ids):
    s = sim(profile("argon"))
    radio = build_module("argon", function=F.RADIO_STACK, index=0, prefix_offset=0, deps=(),
                         flags=ModuleFlags.DROP_MODULE_INFO, size=8192, start=0x1000)
    (tmp_path / "r.bin").write_bytes(radio)
    code, _, err = run("flash", "--usb", tmp_path / "r.bin")
    assert code == 0, err
    assert s.peek(0, 0x1000, len(radio) - 24) == radio[24:]


# --- interruption -----------------------------------------------------------------------------

def _transfers_before_block(log, n):
    """How many control transfers come before the n-th DfuSe data block (DNLOAD, wValue >= 2)."""
    controls = [e for e in log if e["event"] == "control"]
    blocks = [i for i, e in enumerate(controls) if e["bmRequestType"] == 0x21 and e["bRequest"] == 1
              and e["wValue"] >= 2 and e["data"]]
    return blocks[n - 1]


def test_unplug_mid_flash_reports_where_and_how_to_resume(sim, run, tmp_path, profile, device_ids):
    app = build_module("argon", size=40000)
    f = tmp_path / "app.bin"
    f.write_bytes(app)
    rehearsal = sim(profile("argon"))
    assert run("flash", "--usb", f)[0] == 0
    fourth_of_ten = _transfers_before_block(rehearsal.log(), 4)
    sim(profile("argon"), knobs={"FAKE_UNPLUG_AFTER": str(fourth_of_ten)})     # gone at the 4th of 10 blocks
    code, out, err = run("flash", "--usb", f)
    assert code != 0
    assert "Flash success!" not in out and out.splitlines()[-1] == "Flash failed."
    first = err.splitlines()[0]
    assert first.startswith("Flashing app.bin stopped at 0x000b") and first.endswith("(LIBUSB_ERROR_NO_DEVICE: the device was disconnected)")
    assert "app.bin was NOT completely written" in err
    assert f"particle flash --usb {f}" in err


def test_known_app_is_the_shipped_copy_not_what_a_server_offers(sim, run, tmp_path, asset_server, profile):
    """Tinker ships with the package (particle_py/data/tinker): a server offering other bytes
    under its name is never asked."""
    from particle_py.firmware import known_apps

    root = tmp_path / "www"
    target = root / "assets/knownApps/photon/tinker/tinker-0.4.5-photon.bin"
    target.parent.mkdir(parents=True)
    target.write_bytes(build_module("photon", size=5324))     # a stand-in: not the pinned bytes
    asset_server(root)
    s = sim(profile("photon"))
    code, out, err = run("flash", "--usb", "tinker")
    assert code == 0, err
    app = known_apps.fetch(known_apps.find("photon", "tinker"))
    assert s.peek(0, 0x080A0000, len(app)) == app
    code, out, err = run("flash", "--usb", "tinker-usb-debugging")
    assert code == 1 and err.splitlines()[0] == "There is no known app tinker-usb-debugging for Photon"


def test_device_of_the_files_platform_is_chosen_among_several(sim, run, tmp_path, profile, device_ids):
    s = sim(profile("photon"), profile("argon"))
    app = build_module("argon", size=5000)
    (tmp_path / "a.bin").write_bytes(app)
    code, out, err = run("flash", "--usb", tmp_path / "a.bin")
    assert code == 0, err
    assert out.splitlines()[0] == f"Flashing argon device {device_ids['argon']}"
    assert s.peek(0, 0xB4000, len(app), index=1) == app


def test_several_devices_and_no_way_to_choose(sim, run, tmp_path, profile):
    sim(profile("argon"), profile("boron"))
    (tmp_path / "a.bin").write_bytes(b"\x00" * 100)
    code, _, err = run("flash", "--usb", tmp_path / "a.bin")
    assert code == 1 and err.startswith("Multiple devices found.")


@pytest.mark.parametrize("leave", ["reset", "dnidle", "manifest"])
def test_gen2_leave_habits_all_count_as_success(sim, run, tmp_path, profile, leave):
    s = sim(profile("electron", leave=leave))
    app = build_module("electron", size=5776)
    (tmp_path / "t.bin").write_bytes(app)
    code, out, err = run("flash", "--usb", tmp_path / "t.bin")
    assert code == 0, err
    assert out.splitlines()[-1] == "Flash success!"
    assert s.peek(0, 0x08080000, len(app)) == app


@pytest.mark.parametrize("name", ["argon", "p2", "electron"])
def test_wrong_platform_and_bad_crc_on_other_generations(sim, run, tmp_path, profile, name):
    other = {"argon": "boron", "p2": "argon", "electron": "photon"}[name]
    s = sim(profile(name))
    before = whole_alt(s)
    (tmp_path / "w.bin").write_bytes(build_module(other))
    code, _, err = run("flash", "--usb", tmp_path / "w.bin")
    assert code == 1 and err.splitlines()[0] == f"Module {tmp_path / 'w.bin'} is not compatible with platform {name}"
    (tmp_path / "c.bin").write_bytes(build_module(name, bad_crc=True))
    code, _, err = run("flash", "--usb", tmp_path / "c.bin")
    assert code == 1 and err.splitlines()[0] == f"CRC check failed for module {tmp_path / 'c.bin'}"
    assert whole_alt(s) == before


def test_two_modules_sharing_a_page_both_survive(sim, run, tmp_path, profile):
    """Photon: a system part ending inside the 128 KB sector where another module starts (a
    monolithic image: a second system part must go to its own slot)."""
    s = sim(profile("photon"))
    a = build_module("photon", function=F.SYSTEM_PART, index=1, start=0x08020000, size=0x1000, deps=(), seed=5)
    b = build_module("photon", function=F.MONO_FIRMWARE, index=0, start=0x08021000, size=0x1000,
                     deps=((F.SYSTEM_PART, 1, 6),), seed=6)
    (tmp_path / "a.bin").write_bytes(a)
    (tmp_path / "b.bin").write_bytes(b)
    # a is already there (skipped); b's bytes differ, so b's sector must be erased
    s.poke(0, 0x08020000, a + b"\x00" * 0x1000)
    code, out, err = run("flash", "--usb", tmp_path / "b.bin", tmp_path / "a.bin")
    assert code == 0, err
    assert s.peek(0, 0x08020000, 0x2000) == a + b


def test_first_flash_notice_is_shown_once(sim, run, tmp_path, profile, isolated_home):
    import json

    config = isolated_home / ".particle" / "particle.config.json"
    config.write_text(json.dumps({"username": "me@example.com"}))
    sim(profile("argon"))
    (tmp_path / "a.bin").write_bytes(build_module("argon"))
    code, out, _ = run("flash", "--usb", tmp_path / "a.bin")
    assert code == 0
    assert out.splitlines()[:4] == [":::: NOTICE:",
                                    ":::: Your first flash may take up to 10m to complete - during",
                                    ":::: this time, your device may regularly change LED states",
                                    ":::: as Device OS upgrades are applied."]
    saved = json.loads(config.read_text())
    assert saved["username"] == "me@example.com" and saved["flashWarningShownOn"] > 0
    run("usb", "dfu")
    code, out, _ = run("flash", "--usb", tmp_path / "a.bin")
    assert code == 0 and ":::: NOTICE:" not in out


def test_smart_flash_cuts_modelled_flash_time(sim, run, tmp_path, profile):
    """Photon system part 2 (two 128 KB sectors): erase dominates; an unchanged re-flash does
    none, a blank target needs no erase. Modelled device time, not wall time."""
    s = sim(profile("photon"))
    part = build_module("photon", function=F.SYSTEM_PART, index=2, start=0x08060000, size=250_000,
                        deps=(), seed=8)
    (tmp_path / "p2.bin").write_bytes(part)
    s.poke(0, 0x08060000, b"\x00" * 0x40000)            # old firmware there: must erase
    assert run("flash", "--usb", tmp_path / "p2.bin")[0] == 0
    first = s.log()
    assert run("flash", "--usb", tmp_path / "p2.bin")[0] == 0
    second = s.log()[len(first):]
    assert s.peek(0, 0x08060000, len(part)) == part
    assert erases(first) == [0x08060000, 0x08080000]    # two 128 KB erases at about 1 s each
    assert erases(second) == [] and data_writes(second) == []      # nothing erased or programmed


@pytest.mark.parametrize("knobs", [
    {"FAKE_STALL_AFTER": "30"}, {"FAKE_TIMEOUT_AFTER": "30"}, {"FAKE_WRITE_FAIL_STATUS": "3"},
    {"FAKE_ERASE_FAIL_STATUS": "11"}, {"FAKE_STATUS_AFTER": "10@30"}, {"FAKE_UNPLUG_AFTER": "60"},
])
def test_every_usb_failure_mid_flash_is_reported_as_not_written(sim, run, tmp_path, profile, knobs):
    s = sim(profile("argon"), knobs=knobs)
    s.poke(0, 0xB4000, b"\x00" * 0x10000)                # old app there: erases are needed
    app = build_module("argon", size=30000)
    f = tmp_path / "app.bin"
    f.write_bytes(app)
    code, out, err = run("flash", "--usb", f)
    assert code != 0
    assert "Flash success!" not in out
    assert ("app.bin was NOT completely written" in err or "Nothing of app.bin was written" in err
            or "treat it as NOT written" in err), err
    assert f"particle flash --usb {f}" in err


def test_failure_before_any_write_says_nothing_was_written(sim, run, tmp_path, profile):
    s = sim(profile("argon"), knobs={"FAKE_UNPLUG_AFTER": "40"})     # while comparing the flash
    f = tmp_path / "app.bin"
    f.write_bytes(build_module("argon", size=40000))
    code, out, err = run("flash", "--usb", f)
    assert code != 0 and "Flash success!" not in out
    assert "Nothing of app.bin was written (0x000b4000-0x000bdc40 is as it was)." in err.splitlines()
    assert erases(s.log()) == [] and data_writes(s.log()) == []     # (the board is unplugged now)


def test_leading_device_id_picks_the_device(sim, run, tmp_path, profile, device_ids):
    s = sim(profile("argon"), profile("boron"))
    app = build_module("boron", size=4000)
    (tmp_path / "b.bin").write_bytes(app)
    code, out, err = run("flash", "--usb", device_ids["boron"][:12], tmp_path / "b.bin")
    assert code == 0, err
    assert out.splitlines()[0] == f"Flashing boron device {device_ids['boron']}"
    assert s.peek(0, 0xB4000, len(app), index=1) == app
    code, _, err = run("flash", "--usb", "ffff0000", tmp_path / "b.bin")
    assert code == 1 and err.splitlines()[0] == "Device not found: ffff0000"


def test_known_app_needs_no_network(sim, run, tmp_path, monkeypatch, profile, device_ids):
    """No network (downloads go to a loopback port nothing listens on): the shipped Tinker is
    flashed to a running device."""
    import socket

    with socket.socket() as closed:            # a loopback port that nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("PARTICLE_PY_ASSET_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    s = sim(profile("argon", "normal"))
    code, out, err = run("flash", "--usb", "tinker")
    assert code == 0, err
    assert out.splitlines()[-3:] == [f"Flashing argon device {device_ids['argon']}",
                                     "Flashing tinker-0.8.0-rc.27-argon.bin", "Flash success!"]
    assert not (tmp_path / "cache" / "particle-py").exists()        # nothing was downloaded


def test_known_app_from_the_peer_cache_is_fetched_then_flashed_to_a_running_device(sim, run, asset_server,
                                                                                   profile, device_ids):
    """The official Argon Tinker (particle-cli's npm package in the peer cache), served on loopback:
    downloaded while the device runs, then the device is switched to DFU mode and flashed."""
    package = PEERS / "particle-cli-3.43.1" / "node_modules" / "particle-cli"
    if not (package / "assets" / "knownApps" / "argon").is_dir():
        pytest.skip("particle-cli 3.43.1 is not in the peer cache (scripts/install-peers --npm)")
    asset_server(package)
    s = sim(profile("argon", "normal"))
    code, out, err = run("flash", "--usb", "tinker")
    assert code == 0, err
    assert "Switching device to DFU mode" in out.splitlines()
    assert out.splitlines()[-3:] == [f"Flashing argon device {device_ids['argon']}",
                                     "Flashing tinker-0.8.0-rc.27-argon.bin", "Flash success!"]
    app = (package / "assets/knownApps/argon/tinker/tinker-0.8.0-rc.27-argon.bin").read_bytes()
    assert s.peek(0, 0xD4000, len(app)) == app
