"""particle serial list|identify|mac|inspect and particle identify on simulated Photon, P1,
Electron, Argon, Boron and P2, on the Device OS the old CLIs met (listening-mode serial
protocol) and on current Device OS (USB control requests): exact output and exit status."""
import pytest

from helpers.serial_profiles import CURRENT_FW, DEVICE_IDS, OLD_FW, PLATFORMS, profile


def port(n):
    from particle_py.sim.serial import port_name
    return port_name(n)


def imei_iccid(device_id):
    from particle_py.sim import device_info
    return device_info.imei(device_id), device_info.iccid(device_id)


def mac_of(device_id):
    from particle_py.sim import device_info
    return ":".join(f"{b:02x}" for b in device_info.mac_address(device_id))


# --- list -----------------------------------------------------------------------------------------
def test_list_every_platform(sim, run):
    sim(*[profile(p) for p in PLATFORMS])
    code, out, err = run("serial", "list")
    names = {"photon": "Photon", "p1": "P1", "electron": "Electron", "argon": "Argon", "boron": "Boron",
             "p2": "Photon 2 / P2"}
    assert (code, err) == (0, "")
    assert out.splitlines() == ["Found 6 devices connected via serial:"] + [
        f"{port(i)} - {names[p]} - {DEVICE_IDS[p]}" for i, p in enumerate(PLATFORMS)]


def test_list_one_and_none(sim, run):
    sim(profile("boron"))
    assert run("serial", "list") == (0, f"Found 1 device connected via serial:\n{port(0)} - Boron - "
                                        f"{DEVICE_IDS['boron']}\n", "")
    sim(profile("boron", mode="dfu"))          # DFU mode: no serial port
    assert run("serial", "list") == (0, "No devices available via serial\n", "")


# --- identify -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PLATFORMS)
def test_identify_current_device_os(sim, run, name):
    sim(profile(name, fw=CURRENT_FW[name]))
    expected = [f"Your device id is {DEVICE_IDS[name]}"]
    if name == "boron":                       # Device OS >= 6.0: IMEI/ICCID by control request 554
        imei, iccid = imei_iccid(DEVICE_IDS[name])
        expected += [f"Your IMEI is {imei}", f"Your ICCID is {iccid}"]
    expected.append(f"Your system firmware version is {CURRENT_FW[name]}")
    for command in (("serial", "identify"), ("identify",)):
        code, out, err = run(*command)
        if name == "electron":                # 2.3.1, not listening: the ids need listening mode
            assert err.startswith("Could not get the IMEI and ICCID, ensure the device is in listening mode")
            assert "particle usb start-listening" in err
        else:
            assert err == ""
        assert (code, out.splitlines()) == (0, expected)


@pytest.mark.parametrize("name", ["electron", "boron"])
def test_identify_cellular_in_listening_mode_reads_imei_over_serial(sim, run, name):
    sim(profile(name, fw="2.3.1"))
    assert run("usb", "start-listening")[0] == 0
    imei, iccid = imei_iccid(DEVICE_IDS[name])
    assert run("identify") == (0, f"Your device id is {DEVICE_IDS[name]}\nYour IMEI is {imei}\n"
                                  f"Your ICCID is {iccid}\nYour system firmware version is 2.3.1\n", "")


@pytest.mark.parametrize("name", PLATFORMS)
def test_identify_old_device_os(sim, run, name):
    """The version comes over USB whatever the era; only cellular ids need listening mode."""
    sim(profile(name, fw=OLD_FW))
    run("usb", "start-listening")
    code, out, err = run("serial", "identify", "--port", "1")
    expected = [f"Your device id is {DEVICE_IDS[name]}"]
    if name in ("electron", "boron"):
        expected += [f"Your {k} is {v}" for k, v in zip(("IMEI", "ICCID"), imei_iccid(DEVICE_IDS[name]))]
    assert (code, out.splitlines(), err) == (0, expected + [f"Your system firmware version is {OLD_FW}"], "")


def test_identify_by_port_path_among_several(sim, run):
    sim(profile("photon"), profile("argon"))
    code, out, _ = run("serial", "identify", "--port", port(1))
    assert (code, out.splitlines()[0]) == (0, f"Your device id is {DEVICE_IDS['argon']}")
    code, _, err = run("serial", "identify")
    assert code == 1 and err.startswith("Could not identify device: Multiple devices found")


# --- mac ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", PLATFORMS)
def test_mac_current(sim, run, name):
    sim(profile(name, fw=CURRENT_FW[name]))
    if name in ("electron", "boron"):
        assert run("serial", "mac") == (0, "Your device does not have a MAC address\n", "")
    else:
        assert run("serial", "mac") == (0, f"Your device MAC address is {mac_of(DEVICE_IDS[name])}\n"
                                           "Interface is Wifi\n", "")


# (the P2 shipped with Device OS 5, which answers the control requests: it has no old era)
@pytest.mark.parametrize("name", ["photon", "p1", "argon"])
def test_mac_old_needs_listening_mode(sim, run, name):
    sim(profile(name, fw=OLD_FW))
    code, out, err = run("serial", "mac")
    assert (code, out) == (69, "")
    assert err.splitlines() == [
        f"Could not get MAC address: Serial timed out: the device on {port(0)} did not answer 'm' within 5 s "
        "(it answers only in listening mode)",
        "Put the device in listening mode (blinking blue): `particle usb start-listening`, or hold its "
        "MODE/SETUP button for three seconds; then run the command again."]
    run("usb", "start-listening")
    assert run("serial", "mac") == (0, f"Your device MAC address is {mac_of(DEVICE_IDS[name])}\n", "")


# --- inspect ---------------------------------------------------------------------------------------
def _current_block(name, number, version, size, max_size=None, uuid=None, deps=(), fails=()):
    lines = [f"  {name} module #{number} - version {version}",
             f"  Size: {size / 1000:g} kB" + (f" / MaxSize: {max_size / 1000:g} kB" if max_size else "")]
    if uuid:
        lines.append(f"    UUID: {uuid}")
    for check in ("Integrity", "Address Range", "Platform", "Dependencies"):
        lines.append(f"    {check}: {'FAIL' if check in fails else 'PASS'}")
    lines += [f"      {n} module #{i} - version {v}" for n, i, v in deps]
    return lines + [""]


def _user_sha(platform_name, version="2.3.1"):
    from particle_py.platforms import by_name
    from particle_py.sim import contents
    return contents.user_app(by_name(platform_name), version)[-38:-6].hex()


def test_inspect_photon_deprecated_reply(sim, run):
    """Device OS 0.8-5.5 answer GetModuleInfo with the old list: no max size, no UUID, and a
    size without the CRC word (storage.cpp: end - start; 16384-byte modules show 16.38 kB)."""
    s = sim(profile("photon", fw="2.3.1"))
    s.seed()
    code, out, err = run("serial", "inspect")
    assert (code, err) == (0, "")
    assert out.splitlines() == (
        [f"Device: {DEVICE_IDS['photon']}", "Platform: 6 - Photon", "", "Modules"]
        + _current_block("System part", 1, 2301, 16380)
        + _current_block("System part", 2, 2301, 16380, deps=[("System part", 1, 2301)])
        + _current_block("User part", 1, 6, 5320, deps=[("System part", 2, 2301)]))


def test_inspect_boron_current_reply(sim, run):
    s = sim(profile("boron", fw="6.1.0"))
    s.seed()
    code, out, err = run("serial", "inspect")
    assert (code, err) == (0, "")
    assert out.splitlines() == (
        [f"Device: {DEVICE_IDS['boron']}", "Platform: 13 - Boron", "", "Modules"]
        + _current_block("System part", 1, 2301, 16384, max_size=540672)
        # the 2.3.1 seeded in flash runs apps from the 128 KB part at 0xD4000
        + _current_block("User part", 1, 6, 5324, max_size=131072, uuid=_user_sha("boron"),
                         deps=[("System part", 1, 2301)]))


@pytest.mark.parametrize("name", ["electron", "argon"])
def test_inspect_current_other_platforms(sim, run, name):
    from particle_py.platforms import by_name
    s = sim(profile(name, fw=CURRENT_FW[name]))
    s.seed()
    platform = by_name(name)
    code, out, _ = run("serial", "inspect")
    lines = out.splitlines()
    assert code == 0 and lines[:4] == [f"Device: {DEVICE_IDS[name]}",
                                       f"Platform: {platform.platform_id} - {platform.display_name}", "", "Modules"]
    assert lines.count("    Integrity: PASS") == len(platform.system_parts) + 1
    assert "FAIL" not in out


def test_inspect_p2_lists_no_modules_the_model_does_not_place(sim, run):
    sim(profile("p2", fw="5.8.0"))
    assert run("serial", "inspect") == (0, f"Device: {DEVICE_IDS['p2']}\nPlatform: 32 - Photon 2 / P2\n\n", "")


def test_inspect_old_device_os_over_serial(sim, run):
    """Device OS before 0.8 answers only ``s`` in listening mode; printed as particle-cli <= 3.20 did."""
    s = sim(profile("photon", fw=OLD_FW))
    s.seed(version=OLD_FW)
    code, out, err = run("serial", "inspect")
    assert code == 69 and out == "" and err.startswith("Could not inspect device: Serial timed out")
    run("usb", "start-listening")
    uuid = _user_sha("photon", OLD_FW).upper()
    assert run("serial", "inspect") == (0, "\n".join([
        "Platform: 6 - Photon",
        "Modules",
        "  empty - main location, 16384 bytes max size",
        "  System module #1 - version 207, main location, 262144 bytes max size",
        "    Integrity: PASS", "    Address Range: PASS", "    Platform: PASS", "    Dependencies: PASS",
        "  System module #2 - version 207, main location, 262144 bytes max size",
        "    Integrity: PASS", "    Address Range: PASS", "    Platform: PASS", "    Dependencies: PASS",
        "      System module #1 - version 207",
        "  User module #1 - version 6, main location, 131072 bytes max size",
        f"    UUID: {uuid}",
        "    Integrity: PASS", "    Address Range: PASS", "    Platform: PASS", "    Dependencies: PASS",
        "      System module #2 - version 207",
        "  empty - factory location, 131072 bytes max size"]) + "\n", "")


@pytest.mark.parametrize("name", ["p1", "electron", "argon", "boron"])
def test_inspect_old_device_os_other_platforms(sim, run, name):
    s = sim(profile(name, fw=OLD_FW))
    s.seed(version=OLD_FW)
    run("usb", "start-listening")
    code, out, _ = run("serial", "inspect")
    from particle_py.platforms import by_name
    platform = by_name(name)
    assert code == 0 and out.splitlines()[:2] == [f"Platform: {platform.platform_id} - {platform.display_name}",
                                                  "Modules"]
    assert out.count("    Dependencies: PASS") == len(platform.system_parts) + 1 and "FAIL" not in out


def test_inspect_shows_the_missing_system_part_then_all_pass_after_flashing_it(sim, run, tmp_path):
    """System part 2 missing: the app's dependency fails (the device would be in safe mode);
    writing the part with `particle flash --usb` makes every check pass."""
    from particle_py.platforms import by_name
    from particle_py.sim import contents

    s = sim(profile("photon", fw="2.3.1"))
    s.seed(parts=[1])
    code, out, _ = run("serial", "inspect")
    assert code == 0
    assert out.splitlines()[4:] == (_current_block("System part", 1, 2301, 16380)
                                    + _current_block("User part", 1, 6, 5320, deps=[("System part", 2, 2301)],
                                                     fails=("Dependencies",)))
    address, part2 = contents.device_os(by_name("photon"), "2.3.1")[1]
    (tmp_path / "system-part2.bin").write_bytes(part2)
    assert run("flash", "--usb", tmp_path / "system-part2.bin")[0] == 0
    assert run("usb", "reset")[0] == 0        # a system part alone leaves the device in DFU mode
    code, out, _ = run("serial", "inspect")
    assert code == 0 and "FAIL" not in out and out.count("Dependencies: PASS") == 3


def test_inspect_shows_a_mismatched_system_part(sim, run):
    """System part 2 from an older Device OS than the app needs: the app's dependency fails."""
    from particle_py.platforms import by_name
    from particle_py.sim import contents

    s = sim(profile("photon", fw="2.3.1"))
    s.seed()
    bus = s.bus()
    old_part2 = contents.build_module("photon", function=contents.SYSTEM_PART, index=2, version=207,
                                      size=16384, start=0x08060000, deps=((contents.SYSTEM_PART, 1, 207),))
    bus.devices()[0].memory(0).poke(0x08060000, old_part2)
    bus.save()
    lines = run("serial", "inspect")[1].splitlines()
    part2 = lines.index("  System part module #2 - version 207")
    assert lines[part2 + 5] == "    Dependencies: PASS"
    user = lines.index("  User part module #1 - version 6")
    assert lines[user + 5:user + 7] == ["    Dependencies: FAIL", "      System part module #2 - version 2301"]
    assert by_name("photon").platform_id == 6


def test_inspect_shows_a_corrupt_and_a_foreign_module(sim, run):
    from particle_py.sim import contents

    s = sim(profile("photon", fw="5.8.0"))
    s.seed()
    bus = s.bus()
    dev = bus.devices()[0]
    from particle_py.platforms import by_name
    bad = bytearray(contents.user_app(by_name("photon")))
    bad[100] ^= 0xFF
    dev.memory(0).poke(0x080A0000, bytes(bad))
    foreign = contents.build_module("photon", function=contents.SYSTEM_PART, index=1, version=2301, size=16384,
                                    start=0x08020000, platform_id=10, deps=())
    dev.memory(0).poke(0x08020000, foreign)
    bus.save()
    lines = run("serial", "inspect")[1].splitlines()
    part1 = lines.index("  System part module #1 - version 2301")
    assert lines[part1 + 2:part1 + 6] == ["    Integrity: PASS", "    Address Range: PASS", "    Platform: FAIL",
                                          "    Dependencies: PASS"]
    user = lines.index("  User part module #1 - version 6")
    assert lines[user + 3] == "    Integrity: FAIL"


def test_core(sim, run):
    sim(profile("core"))
    assert run("serial", "list") == (0, f"Found 1 device connected via serial:\n{port(0)} - Core - "
                                        f"{DEVICE_IDS['core']}\n", "")
    code, out, err = run("serial", "mac")
    assert (code, out) == (1, "") and err.splitlines()[0] == "Unable to get MAC address of a Core"
