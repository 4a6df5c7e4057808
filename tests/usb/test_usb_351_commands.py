"""particle-cli 3.51's usb commands (stop-listening, listen, safe-mode, setup-done, cloud-status,
network-interfaces, env, send-request; [devices...] and --all) on simulated Photon, Argon,
Boron, P2 and M-SoM: what the user sees, the exit status, what the device holds and shows after."""
from __future__ import annotations

import pytest

from helpers.cli import run  # noqa: F401  (fixture)

PLATFORMS = ["photon", "argon", "boron", "p2", "msom"]
DISPLAY = {"photon": "Photon", "argon": "Argon", "boron": "Boron", "p2": "Photon 2 / P2", "msom": "M-SoM"}


@pytest.fixture
def made(tmp_path, monkeypatch):
    """Devices as `particle-sim create` makes them (Device OS, Tinker, keys, the cloud knows
    them); returns the folder and the device ids."""
    from particle_py.sim import devices

    def make(*names, **recipe):
        folder = tmp_path / "sim"
        devices.create(folder, list(names), devices.Recipe(**recipe))
        monkeypatch.setenv("PARTICLE_PY_SIM", str(folder))
        from particle_py.sim.bus import SimBus
        ids = [d.profile.device_id for d in SimBus.load(folder).devices()]
        return folder, ids
    yield make
    from particle_py import usb
    usb.release_simulator()


@pytest.fixture
def profiles(tmp_path, monkeypatch):
    """Bare devices from profile strings (no contents; fw= sets the Device OS they report)."""
    from particle_py.sim.state import create_state

    def make(*specs):
        folder = tmp_path / "sim"
        create_state(folder, list(specs), {})
        monkeypatch.setenv("PARTICLE_PY_SIM", str(folder))
        return folder
    yield make
    from particle_py import usb
    usb.release_simulator()


def status(folder) -> list[str]:
    from particle_py.sim import devices
    return devices.status(folder)


def leds(folder) -> list[str]:
    return [line.strip() for line in status(folder) if line.strip().startswith(("LED:", "why:"))]


def bus_devices(folder):
    from particle_py.sim.bus import SimBus
    return SimBus.load(folder).devices()


def requests_sent(folder) -> list[int]:
    """The control request types sent (SERVICE_INIT's wIndex), in order."""
    from particle_py.sim.bus import read_log
    return [e["wIndex"] for e in read_log(folder) if e.get("event") == "control"
            and e["bmRequestType"] == 0xC0 and e["bRequest"] == 1]


# --- safe mode ---------------------------------------------------------------------------------
@pytest.mark.parametrize("platform", PLATFORMS)
def test_safe_mode_restarts_into_safe_mode_and_reset_leaves_it(made, run, platform):
    folder, (device_id,) = made(platform)
    assert run("usb", "safe-mode") == (0, "Done.\n", "")
    assert leds(folder) == ["LED: breathing magenta (safe mode, connected to the cloud)",
                            "why: safe mode was requested over USB: Device OS runs, the application does not"]
    # Device OS reports NORMAL in safe mode (config.cpp getDeviceMode): the list shows no mode
    assert run("usb", "list") == (0, f"<unknown> [{device_id}] ({DISPLAY[platform]})\n", "")
    assert run("usb", "cloud-status", device_id) == (0, "connected\n", "")
    assert run("usb", "reset") == (0, "Done.\n", "")
    assert leds(folder)[0] == "LED: breathing cyan (connected to the cloud)"
    assert "application valid" in leds(folder)[1]


def test_safe_mode_lasts_one_boot_even_across_processes(made, run):
    folder, (device_id,) = made("argon")
    assert run("usb", "safe-mode", device_id) == (0, "Done.\n", "")
    # another command (another load of the bus) still sees the device in safe mode
    assert run("usb", "start-listening") == (0, "Done.\n", "")
    assert run("usb", "stop-listening") == (0, "Done.\n", "")
    assert leds(folder)[0] == "LED: breathing magenta (safe mode, connected to the cloud)"
    assert bus_devices(folder)[0].safe_mode


@pytest.mark.parametrize("platform", ["photon", "argon", "p2"])
def test_safe_mode_of_a_device_in_dfu_mode_says_how(made, run, platform):
    folder, _ = made(platform, mode="dfu")
    code, out, err = run("usb", "safe-mode")
    assert (code, out) == (1, "")
    assert err.splitlines()[0] == "The device is in DFU mode; safe mode needs it running its firmware"
    assert leds(folder)[0] == "LED: blinking yellow (DFU mode)"


# --- listening mode ----------------------------------------------------------------------------
@pytest.mark.parametrize("platform", PLATFORMS)
def test_listen_alias_and_stop_listening(made, run, platform):
    folder, (device_id,) = made(platform)
    assert run("usb", "listen") == (0, "Done.\n", "")
    assert run("usb", "list")[1] == f"<unknown> [{device_id}] ({DISPLAY[platform]}, LISTENING)\n"
    assert leds(folder)[0] == "LED: blinking blue (listening mode)"
    assert run("usb", "cloud-status", device_id) == (0, "disconnected\n", "")
    assert run("usb", "stop-listening", device_id) == (0, "Done.\n", "")
    assert run("usb", "list")[1] == f"<unknown> [{device_id}] ({DISPLAY[platform]})\n"
    assert leds(folder)[0] == "LED: breathing cyan (connected to the cloud)"


def test_several_devices_need_an_id_or_all(made, run):
    folder, ids = made("argon", "boron")
    code, out, err = run("usb", "stop-listening")
    assert (code, out) == (1, "")
    assert err.splitlines()[0] == ("Multiple devices found. Connect only one device when running in "
                                   "non-interactive mode.")
    assert run("usb", "start-listening", "--all") == (0, "Done.\n", "")
    assert [d.mode for d in bus_devices(folder)] == [1, 1]
    assert run("usb", "stop-listening", ids[1]) == (0, "Done.\n", "")
    assert [d.mode for d in bus_devices(folder)] == [1, 0]
    assert run("usb", "stop-listening", *ids) == (0, "Done.\n", "")
    assert [d.mode for d in bus_devices(folder)] == [0, 0]
    code, _, err = run("usb", "safe-mode", "0123456789ab")
    assert code == 1 and err.splitlines()[0] == "Device not found: 0123456789ab"
    assert leds(folder)[0] == "LED: breathing cyan (connected to the cloud)"


def test_all_goes_on_past_a_device_in_dfu_mode(made, run):
    from particle_py.sim import devices
    folder, ids = made("argon", "boron")
    devices.press(folder, "dfu", ids[0])
    code, out, err = run("usb", "safe-mode", "--all")
    assert (code, out) == (1, "")
    assert err.splitlines()[0] == "The device is in DFU mode; safe mode needs it running its firmware"
    lines = leds(folder)
    assert lines[0] == "LED: blinking yellow (DFU mode)"
    assert lines[2] == "LED: breathing magenta (safe mode, connected to the cloud)"



def test_platform_and_mode_filters_pick_the_devices(made, run):
    """particle-py's --platform and --mode, as its other device commands have them."""
    from particle_py.sim.device import DfuDevice
    folder, ids = made("argon", "boron", "argon")
    assert run("usb", "start-listening", "--all", "--platform", "argon") == (0, "Done.\n", "")
    assert [d.mode for d in bus_devices(folder)] == [1, 0, 1]
    assert run("usb", "stop-listening", "--all", "--mode", "listening") == (0, "Done.\n", "")
    assert [d.mode for d in bus_devices(folder)] == [0, 0, 0]
    # a filter that leaves two and no --all: the list of them, nothing done
    code, out, err = run("usb", "dfu", "--platform", "argon")
    assert (code, out) == (1, "")
    assert err.startswith("2 devices found, and no device was named: ")
    assert not any(isinstance(d, DfuDevice) for d in bus_devices(folder))
    assert run("usb", "dfu", "--platform", "boron") == (0, "Done.\n", "")
    assert [isinstance(d, DfuDevice) for d in bus_devices(folder)] == [False, True, False]
    assert run("usb", "reset", "--all", "--mode", "dfu") == (0, "Done.\n", "")
    assert not any(isinstance(d, DfuDevice) for d in bus_devices(folder))
    code, _, err = run("usb", "reset", "--all", "--platform", "photon")
    assert code == 1 and err.startswith("No devices found")

# --- setup done --------------------------------------------------------------------------------
def setup_byte(folder) -> bytes:
    from particle_py.sim import boot
    alt, address = boot.SETUP_DONE_DCT
    return bus_devices(folder)[0].memory(alt).peek(address, 1)


@pytest.mark.parametrize("platform", ["argon", "boron"])
def test_setup_done_on_gen3_below_4(made, run, platform):
    folder, (device_id,) = made(platform, device_os="2.3.1")
    assert setup_byte(folder) == b"\x01"
    assert run("usb", "setup-done", "--reset") == (0, "Done.\n", "")
    assert setup_byte(folder) == b"\xff"
    assert leds(folder)[0] == "LED: blinking blue (listening mode)"
    # without the flag Device OS 2.x starts in listening mode at every boot
    assert run("usb", "reset") == (0, "Done.\n", "")
    assert leds(folder) == ["LED: blinking blue (listening mode)",
                            "why: setup is not done (the DCT's setup-done flag is not set: particle usb setup-done)"]
    assert run("usb", "list")[1] == f"<unknown> [{device_id}] ({DISPLAY[platform]}, LISTENING)\n"
    assert run("usb", "setup-done", device_id) == (0, "Done.\n", "")
    assert setup_byte(folder) == b"\x01"
    assert leds(folder)[0] == "LED: breathing cyan (connected to the cloud)"
    assert run("usb", "reset") == (0, "Done.\n", "")
    assert leds(folder)[0] == "LED: breathing cyan (connected to the cloud)"


def test_setup_done_on_gen3_from_4_cannot_be_cleared(made, run):
    folder, _ = made("argon", device_os="4.0.2")
    assert run("usb", "setup-done") == (0, "Done.\n", "")
    code, out, err = run("usb", "setup-done", "--reset")
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"The device {bus_devices(folder)[0].profile.device_id} refused the setup-done flag (Not supported)",
        "Device OS 4.0 and later no longer keep the setup-done flag: there is nothing to clear."]
    assert leds(folder)[0] == "LED: breathing cyan (connected to the cloud)"
    # nothing was kept: a reset does not start listening mode
    assert run("usb", "reset") == (0, "Done.\n", "")
    assert leds(folder)[0] == "LED: breathing cyan (connected to the cloud)"


@pytest.mark.parametrize("platform", ["photon", "p2", "msom"])
def test_setup_done_leaves_other_generations_alone(made, run, platform):
    from particle_py import control_codes as codes
    folder, _ = made(platform)
    assert run("usb", "setup-done") == (0, "Done.\n", "")
    assert run("usb", "setup-done", "--reset") == (0, "Done.\n", "")
    assert codes.SET_DEVICE_SETUP_DONE not in requests_sent(folder)
    assert leds(folder)[0] == "LED: breathing cyan (connected to the cloud)"


# --- cloud status ------------------------------------------------------------------------------
@pytest.mark.parametrize("platform", PLATFORMS)
def test_cloud_status_follows_the_boot_model(made, run, platform):
    folder, (device_id,) = made(platform)
    assert run("usb", "cloud-status", device_id) == (0, "connected\n", "")
    assert run("usb", "cloud-status", device_id, "--until", "connected") == (0, "connected\n", "")


def test_cloud_status_connecting_with_a_wrong_server_key(made, run):
    folder, (device_id,) = made("boron", server_key="wrong")
    assert leds(folder)[0].startswith("LED: blinking cyan with 3 orange bursts")
    assert run("usb", "cloud-status", device_id) == (0, "connecting\n", "")
    code, out, err = run("usb", "cloud-status", device_id, "--until", "connected", "--timeout", "2000")
    assert (code, out) == (1, "")
    assert err.splitlines()[0] == "Timed out waiting for status"


def test_cloud_status_needs_a_device_argument_and_a_known_state(made, run):
    made("argon")
    code, _, err = run("usb", "cloud-status")
    assert code == 2 and "Missing argument" in err
    code, _, err = run("usb", "cloud-status", "abc", "--until", "online")
    assert code == 2 and "--until" in err


def test_cloud_status_on_a_device_os_without_it(profiles, run):
    profiles("photon-normal:id=3a0035000f47343432313031,fw=1.0.1,boot=normal")
    code, out, err = run("usb", "cloud-status", "3a0035000f47343432313031")
    assert (code, out) == (1, "")
    assert err.splitlines() == ["The device's Device OS does not report its cloud connection status",
                                "The request needs Device OS 1.1.0 on Gen2 devices, 0.9.0 on Gen3: run `particle update`."]


def test_cloud_status_of_a_device_in_dfu_mode(made, run):
    _, (device_id,) = made("p2", mode="dfu")
    code, out, err = run("usb", "cloud-status", device_id)
    assert (code, out) == (1, "")
    assert err.splitlines()[0] == "The device is in DFU mode; the cloud status needs it running its firmware"


# --- network interfaces ------------------------------------------------------------------------
def expected_interfaces(platform: str, device_id: str) -> list[str]:
    """What the simulated device holds, in the lines particle-cli 3.51 prints for it."""
    import ipaddress
    from particle_py.sim import device_info
    kinds = {"photon": ["wifi"], "argon": ["wifi"], "p2": ["wifi"], "boron": ["cellular"],
             "msom": ["wifi", "cellular"]}[platform]
    lines = [f"Device ID: {device_id} ({DISPLAY[platform]})",
             "\tlo0(LOOPBACK): flags=73<UP,LOOPBACK,LOWER_UP> mtu 0", "\t\tinet 127.0.0.1 netmask 255.0.0.0"]
    for kind in kinds:
        address, prefix = device_info.ipv4_address(kind, device_id)
        ip = ipaddress.IPv4Address(address)
        if kind == "wifi":
            mac = ":".join(f"{b:02x}" for b in device_info.mac_address(device_id))
            lines += ["\twl4(WIFI): flags=32835<UP,BROADCAST,LOWER_UP,MULTICAST> mtu 1500",
                      f"\t\tinet {ip} netmask 255.255.255.0", f"\t\tether {mac}"]
        else:
            assert prefix == 32
            lines += ["\tpp3(PPP): flags=32977<UP,POINTOPOINT,LOWER_UP,NOARP,MULTICAST> mtu 1500",
                      f"\t\tinet {ip} netmask 255.255.255.255"]
    return lines


@pytest.mark.parametrize("platform", PLATFORMS)
def test_network_interfaces(made, run, platform):
    _, (device_id,) = made(platform)
    code, out, err = run("usb", "network-interfaces")
    assert (code, err) == (0, "")
    assert out.splitlines() == expected_interfaces(platform, device_id)


def test_network_interfaces_of_all_devices(made, run):
    _, ids = made("boron", "msom")
    code, out, err = run("usb", "network-interfaces", "--all")
    assert (code, err) == (0, "")
    assert out.splitlines() == expected_interfaces("boron", ids[0]) + expected_interfaces("msom", ids[1])


def test_network_interfaces_of_a_device_in_dfu_mode(made, run):
    _, (device_id,) = made("argon", mode="dfu")
    code, out, err = run("usb", "network-interfaces")
    assert (code, out) == (1, "")
    assert err == (f"Error getting network interfaces (Argon / {device_id}): The device is in DFU mode; "
                   "reading its network interfaces needs it running its firmware\n\n"
                   f"Run `particle usb reset` (or press RESET) and try again. (device {device_id})\n")


# --- env ---------------------------------------------------------------------------------------
ENV_DEVICES = ["argon-normal:id=e00fce68a1b2c3d4e5f60718,fw=6.4.0,boot=normal",
               "msom-normal:id=0a10aced2021949400000001,fw=6.4.2,boot=normal"]


def test_env_on_device_os_6_4(profiles, run):
    profiles(*ENV_DEVICES)
    assert run("usb", "env", "--all") == (0, "Device: e00fce68a1b2c3d4e5f60718 (Argon)\n\n"
                                             "  No environment variables set\n"
                                             "Device: 0a10aced2021949400000001 (M-SoM)\n\n"
                                             "  No environment variables set\n", "")
    code, out, err = run("usb", "env", "e00fce68a1b2c3d4e5f60718", "--json")
    assert (code, err) == (0, "")
    assert out == ('[\n  {\n    "deviceId": "e00fce68a1b2c3d4e5f60718",\n    "platformId": 12,\n'
                   '    "platform": "Argon",\n    "env": {}\n  }\n]\n')


@pytest.mark.parametrize("platform", PLATFORMS)
def test_env_before_6_4_says_which_version_adds_it(made, run, platform):
    made(platform)
    assert run("usb", "env") == (1, "", "USB env is only supported on Device OS 6.4.0 or later\n")


def test_env_json_keeps_each_device_answer(profiles, run):
    profiles(ENV_DEVICES[0], "boron-normal:id=e00fce68f1e2d3c4b5a69788,fw=6.1.0,boot=normal")
    code, out, err = run("usb", "env", "--all", "--json")
    import json
    assert (code, err) == (1, "")
    assert json.loads(out) == [
        {"deviceId": "e00fce68a1b2c3d4e5f60718", "platformId": 12, "platform": "Argon", "env": {}},
        {"deviceId": "e00fce68f1e2d3c4b5a69788", "platformId": 13, "platform": "Boron",
         "error": "USB env is only supported on Device OS 6.4.0 or later"}]


def test_env_table_as_particle_cli_draws_it():
    from particle_py.cli.particle.usb import env_lines
    from particle_py.control.env import EnvReply, EnvVar
    from particle_py.ops.usb_commands import DeviceAnswer
    answer = DeviceAnswer("e00fce68a1b2c3d4e5f60718", 12, "Argon",
                          EnvReply((EnvVar("ZONE", "eu", False), EnvVar("A", "1", True))))
    assert env_lines(answer) == ["Device: e00fce68a1b2c3d4e5f60718 (Argon)", "",
                                 "┌──────┬───────┬──────────┐\n"
                                 "│ Name │ Value │ Scope    │\n"
                                 "├──────┼───────┼──────────┤\n"
                                 "│ A    │ 1     │ Firmware │\n"
                                 "├──────┼───────┼──────────┤\n"
                                 "│ ZONE │ eu    │ Cloud    │\n"
                                 "└──────┴───────┴──────────┘"]


# --- application requests ----------------------------------------------------------------------
@pytest.mark.parametrize("platform", PLATFORMS)
def test_send_request_to_tinker_is_not_supported(made, run, platform):
    from particle_py import control_codes as codes
    from particle_py.sim.bus import read_log
    folder, (device_id,) = made(platform)
    assert run("usb", "send-request", '{"op":"status"}') == (
        1, f"Device {device_id}:\n",
        "Your firmware doesn't include a handler for application-specific requests. Define "
        "ctrl_request_custom_handler in your code and try again.\n")
    sent = [e for e in read_log(folder) if e.get("event") == "control" and e["bmRequestType"] == 0x40
            and e["bRequest"] == codes.SERVICE_SEND]
    assert bytes.fromhex(sent[-1]["data"]) == b'{"op":"status"}'
    assert codes.APP_CUSTOM in requests_sent(folder)
    assert run("usb", "send-request", "x", "--silent") == (1, "-120\n", "")


def test_send_request_output_lines():
    from particle_py.cli.particle.usb import request_error_line
    assert request_error_line(-160, "abc") == "Error sending request to device abc: TIMEOUT_ERROR"
    assert request_error_line(-7, "abc") == "Error sending request to device abc: -7"


def test_send_request_to_a_device_in_dfu_mode(made, run):
    _, (device_id,) = made("boron", mode="dfu")
    code, out, err = run("usb", "send-request", "hello")
    assert (code, out) == (1, "")
    assert err == (f"Error sending request to device {device_id}: The device is in DFU mode; an application "
                   "request needs it running its firmware\n"
                   f"Run `particle usb reset` (or press RESET) and try again. (device {device_id})\n")


@pytest.mark.parametrize("command", [["send-request", "hello"], ["network-interfaces"], ["env"]])
def test_a_device_that_leaves_during_the_request(profiles, run, command):
    # the device drops off the bus after its third transfer: inside the request's exchange
    profiles("argon-normal:id=e00fce68a1b2c3d4e5f60718,fw=6.4.0,boot=normal,UNPLUG_AFTER=2")
    code, out, err = run("usb", *command)
    assert code != 0 and out == ""
    lines = err.splitlines()
    assert "Cannot send a control request to 2b04:c00c (LIBUSB_ERROR_NO_DEVICE)" in lines[0]
    assert lines[-1] == ("The device did not take the request: check the USB cable (no hub), or press its RESET "
                         "button, then run the command again.")


def test_cloud_status_of_a_device_that_leaves(profiles, run):
    profiles("argon-normal:id=e00fce68a1b2c3d4e5f60718,boot=normal,UNPLUG_AFTER=2")
    code, out, err = run("usb", "cloud-status", "e00fce68a1b2c3d4e5f60718")
    assert code != 0 and out == ""
    lines = err.splitlines()
    assert lines[0] == ("Cannot send a control request to 2b04:c00c (LIBUSB_ERROR_NO_DEVICE: the device was "
                        "disconnected)")
    assert lines[-1] == ("The device did not take the request: check the USB cable (no hub), or press its RESET "
                         "button, then run the command again.")


def test_network_interfaces_on_a_device_os_without_the_request(profiles, run):
    profiles("photon-normal:id=3a0035000f47343432313031,fw=0.7.0,boot=normal")
    assert run("usb", "network-interfaces") == (
        1, "", "Error getting network interfaces (Photon / 3a0035000f47343432313031): Not supported\n\n"
               "Reading interfaces over USB needs Device OS 0.8.0 on Gen2 devices, 0.9.0 on Gen3: run "
               "`particle update`, or `particle serial inspect`.\n")
