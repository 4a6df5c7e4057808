"""particle serial monitor, the baud-rate tricks, and the faults: busy port, permission denied,
no answer, garbage and partial replies, a device unplugged mid-dialogue, --port mistakes.
Every one ends with a message and a next step, never a traceback."""
import json

import pytest

from helpers.serial_profiles import DEVICE_IDS, profile


def port(n):
    from particle_py.sim.serial import port_name
    return port_name(n)


# --- monitor -------------------------------------------------------------------------------------
def test_monitor_prints_what_the_app_writes_until_the_device_resets(sim, run):
    s = sim(profile("argon"))
    s.script(["Hello from the app\r\n", "tick 1\r\n", {"event": "reset"}, "never seen\r\n"])
    assert run("serial", "monitor") == (0, f'Opening serial monitor for com port: " {port(0)} "\n'
                                           "Serial monitor opened successfully:\n"
                                           "Hello from the app\r\ntick 1\r\n\nSerial connection closed.\n", "")


def test_monitor_follow_reconnects_after_a_reset_and_ctrl_c_ends_it_with_0(sim, run):
    s = sim(profile("photon"))
    s.script(["boot 1\n", {"event": "reset"}, "boot 2\n", {"event": "reset"}, "boot 3\n"])
    code, out, err = run("serial", "monitor", "--follow")
    # after the script, the simulated user presses Ctrl-C
    assert (code, err) == (0, "")
    assert out == ("Polling for available serial device...\n"
                   f'Opening serial monitor for com port: " {port(0)} "\n'
                   "Serial monitor opened successfully:\nboot 1\n"
                   "\nSerial connection closed.  Attempting to reconnect...\n"
                   "Serial monitor opened successfully:\nboot 2\n"
                   "\nSerial connection closed.  Attempting to reconnect...\n"
                   "Serial monitor opened successfully:\nboot 3\n\n")
    assert [d.pid for d in s.devices()] == [0xC006]


def test_monitor_follow_waits_for_an_unplugged_device_until_ctrl_c(sim, run):
    s = sim(profile("boron"))
    s.script(["last words\n", {"event": "unplug"}])
    code, out, _ = run("serial", "monitor", "--follow")
    assert code == 0 and out.endswith("last words\n\nSerial connection closed.  Attempting to reconnect...\n\n")
    assert s.devices() == []


def test_monitor_picks_by_port(sim, run):
    s = sim(profile("photon"), profile("argon"))
    s.script(["argon says hi\n"], index=1)
    code, out, _ = run("serial", "monitor", "--port", "2")
    assert code == 0 and "argon says hi" in out and f'" {port(1)} "' in out


# --- baud-rate tricks ----------------------------------------------------------------------------
def test_14400_baud_resets_into_dfu_and_28800_enters_listening_mode(sim, run):
    from particle_py.serial_link.transport import touch_baud

    s = sim(profile("photon"), profile("argon"))
    touch_baud(port(1), 28800)
    assert run("usb", "list")[1].splitlines()[1] == f"<unknown> [{DEVICE_IDS['argon']}] (Argon, LISTENING)"
    touch_baud(port(0), 14400)
    assert run("usb", "list")[1].splitlines()[0] == f"<unknown> [{DEVICE_IDS['photon']}] (Photon, DFU)"
    assert run("serial", "list")[1].splitlines() == ["Found 1 device connected via serial:",
                                                     f"{port(0)} - Argon - {DEVICE_IDS['argon']}"]
    assert [d.pid for d in s.devices()] == [0xD006, 0xC00C]


# --- faults --------------------------------------------------------------------------------------
def test_port_busy_names_the_usual_holders(sim, run):
    s = sim(profile("photon", fw="0.7.0"))
    s.faults(open="busy")
    code, out, err = run("serial", "inspect")
    assert (code, out) == (75, "")
    message, hint = err.splitlines()
    assert message == f"Could not inspect device: Serial port {port(0)} is busy: another program has it open"
    assert "particle serial monitor" in hint and "Arduino IDE" in hint and "screen" in hint
    assert "ModemManager" in hint


def test_permission_denied_names_the_dialout_group(sim, run):
    s = sim(profile("photon", fw="0.7.0"))
    s.faults(open="denied")
    code, _, err = run("serial", "mac")
    assert code == 77
    assert err.splitlines()[0] == f"Could not get MAC address: Permission denied opening serial port {port(0)}"
    assert "sudo usermod -a -G dialout $USER" in err


@pytest.mark.parametrize("reply,command", [("garbage", "inspect"), ("partial", "inspect"), ("garbage", "mac")])
def test_garbage_or_partial_reply(sim, run, reply, command):
    s = sim(profile("photon", fw="0.7.0"))
    s.seed(version="0.7.0")
    run("usb", "start-listening")
    s.faults(reply=reply)
    code, out, err = run("serial", command)
    assert (code, out) == (76, "")
    assert "particle-py cannot read" in err.splitlines()[0]
    assert "particle usb start-listening" in err.splitlines()[1]


def test_unplugged_in_the_middle_of_the_wifi_dialogue(sim, run, tmp_path):
    s = sim(profile("photon"))
    run("usb", "start-listening")
    s.faults(unplug_after_bytes=6)            # 'w' and the SSID go out, then the cable
    (tmp_path / "w.json").write_text(json.dumps({"network": "home", "security": "WPA2_AES", "password": "pw"}))
    code, out, err = run("serial", "wifi", "--file", tmp_path / "w.json")
    assert (code, out) == (69, "")
    assert err.splitlines()[0] == (f"The device on {port(0)} went away while writing (reset, DFU mode or "
                                   "unplugged), in the middle of the Wi-Fi setup: the credentials were not "
                                   "confirmed stored")
    assert s.devices() == []


def test_no_answer_mid_dialogue_is_not_reported_as_stored(sim, run, tmp_path):
    s = sim(profile("photon"))
    run("usb", "start-listening")
    s.faults(reply="partial")                 # half a prompt: the dialogue never gets going
    (tmp_path / "w.json").write_text(json.dumps({"network": "home", "security": "NONE"}))
    code, out, err = run("serial", "wifi", "--file", tmp_path / "w.json")
    assert code == 69 and "Done!" not in out
    assert s.wifi() == []


def test_several_devices_without_a_terminal_are_listed(sim, run):
    sim(profile("photon", fw="0.7.0"), profile("argon", fw="0.7.0"))
    code, out, err = run("serial", "mac")
    assert (code, out) == (64, "")
    assert err.splitlines() == ["Several devices are connected; which one did you mean?",
                                f"  1: {port(0)} - Photon - {DEVICE_IDS['photon']}",
                                f"  2: {port(1)} - Argon - {DEVICE_IDS['argon']}",
                                "Name it with --port (a number from this list, or the port's path)."]


def test_several_devices_on_a_terminal_asks_for_a_number(sim, monkeypatch):
    from particle_py.serial_link import ports

    sim(profile("photon"), profile("argon"))
    shown = []

    def ask(devices):
        shown.extend(d.line() for d in devices)
        return devices[1]
    assert ports.choose(None, interactive=True, ask=ask).device_id == DEVICE_IDS["argon"]
    assert shown == [f"{port(0)} - Photon - {DEVICE_IDS['photon']}", f"{port(1)} - Argon - {DEVICE_IDS['argon']}"]


def test_port_mistakes(sim, run):
    sim(profile("photon"))
    code, _, err = run("serial", "inspect", "--port", "3")
    assert code == 64 and err.splitlines()[0] == "There is no serial device number 3 (found 1)"
    code, _, err = run("serial", "inspect", "--port", "/dev/ttyNOPE")
    assert code == 69 and "/dev/ttyNOPE is not a Particle device's port" in err
    sim()
    code, _, err = run("serial", "inspect")
    assert code == 69 and err.startswith("No serial port identified")


def test_open_errors_from_the_operating_system():
    """pyserial's errors (as on Linux, macOS and Windows) become the same three messages."""
    import errno

    from particle_py.serial_link.transport import open_error

    busy = open_error("/dev/ttyACM0", OSError(errno.EBUSY, "Device or resource busy"))
    assert busy.message == "Serial port /dev/ttyACM0 is busy: another program has it open"
    locked = open_error("/dev/ttyACM0", Exception("Could not exclusively lock port /dev/ttyACM0: "
                                                  "[Errno 11] Resource temporarily unavailable"))
    assert locked.exit_code == 75
    windows = open_error("COM3", Exception("could not open port 'COM3': PermissionError(13, 'Access is denied.', "
                                           "None, 5)"))
    assert windows.message == "Serial port COM3 is busy: another program has it open"
    denied = open_error("/dev/ttyACM0", Exception("[Errno 13] could not open port /dev/ttyACM0: "
                                                  "[Errno 13] Permission denied: '/dev/ttyACM0'"))
    assert denied.exit_code == 77 and "dialout" in denied.hint
    missing = open_error("/dev/ttyACM9", Exception("[Errno 2] could not open port /dev/ttyACM9: "
                                                   "[Errno 2] No such file or directory: '/dev/ttyACM9'"))
    assert missing.message == "Serial port /dev/ttyACM9 does not exist"


def test_a_simulator_folder_without_devices_is_named_with_the_fix(run, tmp_path, monkeypatch):
    monkeypatch.setenv("PARTICLE_PY_SIM", str(tmp_path))
    assert run("serial", "list") == (1, "", f"PARTICLE_PY_SIM is set, but {tmp_path} holds no simulated devices\n"
                                            "Create some (particle-sim create photon-normal), or unset "
                                            "PARTICLE_PY_SIM to use real devices.\n")


def test_real_pyserial_on_a_missing_path():
    from particle_py.errors import ParticlePyError
    from particle_py.serial_link.backend import PYSERIAL
    from particle_py.serial_link.transport import open_port

    with pytest.raises(ParticlePyError) as info:
        open_port("/dev/particle-py-no-such-port", 9600, PYSERIAL)
    assert info.value.message == "Serial port /dev/particle-py-no-such-port does not exist"


def test_monitor_of_a_device_in_listening_mode_ends_with_ctrl_c(sim, run):
    sim(profile("photon"))
    run("usb", "start-listening")
    assert run("serial", "monitor") == (0, f'Opening serial monitor for com port: " {port(0)} "\n'
                                           "Serial monitor opened successfully:\n\n", "")


def test_device_os_without_the_control_protocol_is_asked_over_serial(sim, run):
    """A Device OS that stalls Particle's control requests: listening mode by the 28800-baud
    trick, then `s` and `m` over serial."""
    from particle_py.serial_link.transport import touch_baud

    s = sim(profile("photon", fw="0.7.0", FAKE_STALL_REQUEST=1))
    s.seed(version="0.7.0")
    touch_baud(port(0), 28800)
    code, out, err = run("serial", "inspect")
    assert (code, err) == (0, "") and out.splitlines()[:2] == ["Platform: 6 - Photon", "Modules"]
    assert run("serial", "mac")[1].startswith("Your device MAC address is ")


def test_identify_when_the_version_request_stalls(sim, run):
    sim(profile("argon", FAKE_STALL_REQUEST=0x50))
    code, out, err = run("identify")
    assert (code, out) == (74, "")
    assert err.splitlines()[0] == ("Could not identify device: Cannot send a control request to 2b04:c00c "
                                 "(LIBUSB_ERROR_PIPE: the device stalled (refused) the request)")
