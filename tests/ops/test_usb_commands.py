"""particle usb list|dfu|reset|start-listening and particle identify on simulated devices."""
import pytest


def test_list_shows_normal_and_dfu_devices(sim, run, profile, device_ids):
    sim(profile("argon", "normal"), profile("photon"))
    code, out, err = run("usb", "list")
    assert code == 0 and err == ""
    assert out.splitlines() == [f"<unknown> [{device_ids['argon']}] (Argon)",
                                f"<unknown> [{device_ids['photon']}] (Photon, DFU)"]
    assert run("usb", "list", "--ids-only")[1].splitlines() == [device_ids["argon"], device_ids["photon"]]
    assert run("usb", "list", "photon")[1].splitlines() == [f"<unknown> [{device_ids['photon']}] (Photon, DFU)"]
    assert run("usb", "list", device_ids["argon"][:6])[1].splitlines() == [
        f"<unknown> [{device_ids['argon']}] (Argon)"]
    assert run("usb", "list", "--exclude-dfu")[1].splitlines() == [f"<unknown> [{device_ids['argon']}] (Argon)"]


def test_list_with_nothing_attached(sim, run):
    sim()
    assert run("usb", "list") == (0, "No devices found.\n", "")
    assert run("usb", "list", "--ids-only") == (0, "", "")


def test_dfu_switches_a_running_device(sim, run, profile, device_ids):
    s = sim(profile("boron", "normal"))
    code, out, _ = run("usb", "dfu")
    assert (code, out) == (0, "Done.\n")
    assert run("usb", "list")[1] == f"<unknown> [{device_ids['boron']}] (Boron, DFU)\n"
    assert s.devices()[0].pid == 0xD00D
    # already in DFU: nothing to do, still done
    assert run("usb", "dfu", device_ids["boron"]) == (0, "Done.\n", "")


def test_dfu_unknown_device(sim, run, profile):
    sim(profile("boron", "normal"))
    code, out, err = run("usb", "dfu", "DOESNOTEXIST")
    assert code == 1 and err.splitlines()[0] == "Device not found: DOESNOTEXIST"


def test_reset_leaves_dfu(sim, run, profile, device_ids):
    s = sim(profile("argon", boot="normal"))
    assert run("usb", "reset") == (0, "Done.\n", "")
    assert run("usb", "list")[1] == f"<unknown> [{device_ids['argon']}] (Argon)\n"
    assert s.devices()[0].pid == 0xC00C


def test_reset_of_a_running_device(sim, run, profile, device_ids):
    # boot=normal: the profile's flash is empty, and an empty P2 would stay in its DFU bootloader
    s = sim(profile("p2", "normal", boot="normal"))
    assert run("usb", "reset") == (0, "Done.\n", "")
    assert [d.pid for d in s.devices()] == [0xC020]


def test_start_listening(sim, run, profile, device_ids):
    sim(profile("boron", "normal"))
    assert run("usb", "start-listening") == (0, "Done.\n", "")
    assert run("usb", "list")[1] == f"<unknown> [{device_ids['boron']}] (Boron, LISTENING)\n"


def test_start_listening_needs_normal_mode(sim, run, profile):
    sim(profile("boron"))
    code, out, err = run("usb", "start-listening")
    assert code == 1 and out == ""
    assert err.splitlines()[0] == "The device is in DFU mode; listening mode needs it running its firmware"


def test_identify(sim, run, profile, device_ids):
    sim(profile("electron", "normal", fw="2.3.1"))
    code, out, err = run("identify")
    assert code == 0
    assert out.splitlines() == [f"Your device id is {device_ids['electron']}",
                                "Your system firmware version is 2.3.1"]


def test_identify_errors(sim, run, profile):
    sim(profile("electron", "normal"), profile("argon", "normal"))
    code, _, err = run("identify")
    assert code == 1
    assert err.splitlines()[0] == ("Could not identify device: Multiple devices found. Connect only one "
                                   "device when running in non-interactive mode.")
    sim(profile("electron"))
    code, _, err = run("identify")
    assert code == 1 and err.startswith("Could not identify device: The device is in DFU mode")


@pytest.mark.parametrize("name", ["photon", "boron"])
def test_flash_device_os_and_app_then_the_device_runs(sim, run, profile, device_ids, tmp_path, name):
    """A running device is switched to DFU by flash, gets Device OS + app in one command (given
    app first), leaves DFU and boots them: identify answers from normal mode."""
    from particle_py.platforms import by_name
    from particle_py.sim import contents

    platform = by_name(name)
    s = sim(profile(name, "normal"))
    files = []
    app = contents.user_app(platform)
    (tmp_path / "app.bin").write_bytes(app)
    files.append(tmp_path / "app.bin")
    parts = contents.device_os(platform)
    for n, (address, module) in reversed(list(enumerate(parts, 1))):
        (tmp_path / f"system-part{n}.bin").write_bytes(module)
        files.append(tmp_path / f"system-part{n}.bin")
    code, out, err = run("flash", "--usb", *files)
    assert code == 0, err
    assert out.splitlines()[-len(parts) - 2:] == [f"Flashing system-part{n}.bin" for n in range(1, len(parts) + 1)] + \
        ["Flashing app.bin", "Flash success!"]
    assert [d.pid for d in s.devices()] == [platform.usb_ids[1]]
    for address, module in parts:
        assert s.peek(0, address, len(module)) == module
    start = int.from_bytes(app[platform.module_info_offset:platform.module_info_offset + 4], "little")
    assert s.peek(0, start, len(app)) == app         # where the app is linked (Boron, 1.5.2: 0xD4000)
    assert run("identify")[1].splitlines()[0] == f"Your device id is {device_ids[name]}"


def test_core_is_found_again_in_dfu_although_its_serial_changes(sim, run, profile, tmp_path):
    """The Core's DFU bootloader does not report the device id as serial."""
    s = sim(profile("core", "normal"))
    assert run("usb", "dfu") == (0, "Done.\n", "")
    assert [d.pid for d in s.devices()] == [0x607F]
    old_app = bytes((i * 13) % 256 for i in range(78000))      # a pre-0.4 app: no module header
    (tmp_path / "firmware.bin").write_bytes(old_app)
    code, out, err = run("flash", "--usb", tmp_path / "firmware.bin")
    assert code == 0, err
    assert out.splitlines()[-1] == "Flash success!"
    assert s.peek(0, 0x08005000, len(old_app)) == old_app


@pytest.mark.parametrize("knobs", [{"FAKE_REENUM_DELAY_MS": "5000"}, {"FAKE_REENUM_NEW_PORT": "1"}])
def test_dfu_switch_survives_slow_or_moved_re_enumeration(sim, run, profile, device_ids, knobs):
    s = sim(profile("argon", "normal"), knobs=knobs)
    assert run("usb", "dfu") == (0, "Done.\n", "")
    assert [d.pid for d in s.devices()] == [0xD00C]


def test_dfu_switch_gives_up_with_particle_cli_words(sim, run, profile):
    sim(profile("argon", "normal"), knobs={"FAKE_REENUM_DELAY_MS": "120000"})
    code, out, err = run("usb", "dfu")
    assert code == 1
    assert err.splitlines()[0] == ("Unable to reconnect to the device. Try again or run particle update "
                                   "to repair the device")


def test_flash_keeps_to_its_device_when_another_board_appears(sim, run, profile, device_ids, tmp_path):
    from helpers.modules import build_module

    s = sim(profile("argon", "normal"), knobs={"FAKE_SECOND_DEVICE_AFTER": "3"})
    app = build_module("argon", size=6000)
    (tmp_path / "a.bin").write_bytes(app)
    code, out, err = run("flash", "--usb", tmp_path / "a.bin")
    assert code == 0, err
    assert f"Flashing argon device {device_ids['argon']}" in out.splitlines()
    mine = [d for d in s.devices() if d.profile.device_id == device_ids["argon"]]
    assert len(s.devices()) == 2 and len(mine) == 1
    assert mine[0].memory(0).peek(0xB4000, len(app)) == app


def test_list_shows_cloud_names_when_logged_in(sim, run, profile, device_ids, isolated_home, tmp_path):
    import json

    from particle_py.sim import cloud as sim_cloud

    sim(profile("argon", "normal"), profile("photon"), profile("boron"))
    with sim_cloud.start(tmp_path / "cloud.sqlite") as cloud:
        cloud.db.add_user("me@example.com", "pw")
        token = cloud.db.issue_token("me@example.com")
        cloud.db.add_device(device_ids["argon"], owner="me@example.com", name="zebra", connected=True)
        cloud.db.add_device(device_ids["photon"], owner="me@example.com", name="aardvark")
        cloud.db.add_device(device_ids["boron"], owner="someone-else", name="theirs")
        (isolated_home / ".particle" / "particle.config.json").write_text(json.dumps(
            {"access_token": token, "apiUrl": cloud.url, "flashWarningShownOn": 1}))
        code, out, err = run("usb", "list")
        assert code == 0, err
        assert out.splitlines() == [f"<unknown> [{device_ids['boron']}] (Boron, DFU)",
                                    f"aardvark [{device_ids['photon']}] (Photon, DFU)",
                                    f"zebra [{device_ids['argon']}] (Argon)"]
        assert run("usb", "list", "online")[1].splitlines() == [f"zebra [{device_ids['argon']}] (Argon)"]
        assert run("usb", "list", "zebra")[1].splitlines() == [f"zebra [{device_ids['argon']}] (Argon)"]
        # commands take the name too
        assert run("usb", "dfu", "zebra") == (0, "Done.\n", "")
        assert run("usb", "list", "zebra")[1].splitlines() == [f"zebra [{device_ids['argon']}] (Argon, DFU)"]
        code, _, err = run("usb", "reset", "nosuchname")
        assert code == 1 and err.splitlines()[0] == "Device not found: nosuchname"


def test_online_filter_needs_a_login(sim, run, profile):
    sim(profile("argon", "normal"))
    code, _, err = run("usb", "list", "online")
    assert code == 1 and err.startswith("The 'online' filter needs the cloud: log in first")


def test_a_refused_dfu_request_is_not_reported_done(sim, run, profile):
    s = sim(profile("argon", "normal"), knobs={"FAKE_STALL_REQUEST": "1"})     # INIT stalls
    code, out, err = run("usb", "dfu")
    assert code == 1 and out == ""
    assert err.startswith("Could not switch the device to DFU mode")
    assert "!!! The device needs to be in DFU mode for this command." in err
    assert [d.pid for d in s.devices()] == [0xC00C]


@pytest.mark.parametrize("knob", ["FAKE_STALL_AFTER", "FAKE_TIMEOUT_AFTER"])
def test_reset_that_is_not_confirmed_and_not_done_is_an_error(sim, run, profile, knob):
    # transfer 3 is the CHECK of the RESET request (after the serial number and the INIT): the
    # device took it but never answered
    s = sim(profile("argon", "normal"), knobs={knob: "2"})
    code, out, err = run("usb", "reset")
    assert code != 0 and out == ""
    assert err.startswith("The device did not confirm the request")
