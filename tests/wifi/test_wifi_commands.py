"""`particle wifi ...` on simulated Argon, P2 and M-SoM: particle-cli 3.51's output and exit
status, what the device holds afterwards, and the requests on the wire."""
import json

import pytest

from helpers.simulator import DEVICE_IDS

IDS = dict(DEVICE_IDS, msom="0a10aced202194944a00e4f1")     # as conftest.py's

PASSWORD = "particle-sim-pass"
WPA2 = 3

ADDED = ("Wi-Fi network 'particle-sim' added successfully.\n"
         "To join this network, run particle wifi join --ssid <SSID>\n\n")


def credentials(tmp_path, **fields):
    path = tmp_path / "credentials.json"
    path.write_text(json.dumps(fields))
    return path


def wifi_requests(log):
    """(request type, payload hex) of each control request sent (SERVICE_INIT, then its data)."""
    sent = []
    for e in log:
        if e.get("event") != "control" or e["bmRequestType"] not in (0x40, 0xC0):
            continue
        if e["bRequest"] == 1:
            sent.append([e["wIndex"], ""])
        elif e["bRequest"] == 3 and sent:
            sent[-1][1] += e["data"]
    return [tuple(s) for s in sent if 500 <= s[0] <= 507]


@pytest.mark.parametrize("platform", ["argon", "p2", "msom"])
def test_add_then_join_then_list_and_current(platform, device, run, tmp_path):
    sim = device(platform)
    path = credentials(tmp_path, network="particle-sim", security="WPA2_PSK", password=PASSWORD)

    assert run("wifi", "add", "--file", path) == (0, ADDED, "")
    assert sim.wifi() == ([("particle-sim", WPA2, PASSWORD)], None)      # stored, not joined
    assert run("wifi", "list") == (0, "List of Wi-Fi networks on the device:\n\n- particle-sim (WPA2_PSK)\n\n", "")

    assert run("wifi", "join", "--ssid", "particle-sim") == (
        0, "Wi-Fi network 'particle-sim' configured successfully. Attemping to join...\n"
           "Use particle wifi current to check the current network.\n", "")
    assert sim.wifi()[1] == "particle-sim"
    assert run("wifi", "current") == (0, "Current Wi-Fi network:\n\n- SSID: particle-sim\n  BSSID: 02:50:51:00:00:01\n"
                                         "  Channel: 6\n  RSSI: -48\n\n", "")
    assert run("wifi", "list")[1] == ("List of Wi-Fi networks on the device:\n\n"
                                      "- particle-sim (WPA2_PSK) - current network\n\n")
    # particle-usb's bytes: ssid, security 3, credentials {type 1, password}, hidden false
    set_request = (507, "0a0c" + b"particle-sim".hex() + "1803" + "2215" + "0801" + "1211" + PASSWORD.encode().hex()
                   + "3000")
    assert wifi_requests(sim.log())[0] == set_request


def test_join_new_network_stores_it_and_connects(device, run, tmp_path):
    sim = device("p2")
    path = credentials(tmp_path, network="sim-cafe", security="NONE")
    assert run("wifi", "join", "--file", path) == (
        0, "Wi-Fi network 'sim-cafe' configured successfully. Attempting to join...\n"
           "Use particle wifi current to check the current network.\n", "")
    assert sim.wifi() == ([("sim-cafe", 0, "")], "sim-cafe")
    # no password: ssid and security 0 only, as particle-usb sends it
    assert wifi_requests(sim.log()) == [(500, "0a08" + b"sim-cafe".hex() + "1800")]


def test_join_of_an_ssid_no_access_point_broadcasts_fails_at_once_and_stores_nothing(device, run, tmp_path):
    sim = device("p2")
    path = credentials(tmp_path, network="nobody-home", security="WPA2_PSK", password="whatever1")
    code, out, err = run("wifi", "join", "--file", path)
    assert (code, out) == (1, "")
    assert err == ("Unable to join Wi-Fi network 'nobody-home': Invalid state\n"
                   "1. Please check the network credentials.\n2. Please verify that the Access Point is in range.\n"
                   "3. If you are using a hidden network, please add the hidden network credentials first using "
                   "'particle wifi add'.\n")
    assert sim.wifi() == ([], None)
    assert len(wifi_requests(sim.log())) == 1          # "Invalid state" is not tried again


def test_join_with_a_wrong_password_on_argon_is_tried_three_times(device, run, tmp_path):
    sim = device("argon")
    path = credentials(tmp_path, network="particle-sim", security="WPA2_PSK", password="not-the-password")
    assert run("wifi", "join", "--file", path) == (1, "", "Unable to join Wi-Fi network 'particle-sim': "
                                                           "Request error\n")
    assert [t for t, _ in wifi_requests(sim.log())] == [500, 500, 500]
    assert sim.wifi() == ([], None)


def test_join_known_of_an_unknown_network(device, run):
    device("msom")
    assert run("wifi", "join", "--ssid", "nosuch") == (
        1, "", "Unable to join a known Wi-Fi network 'nosuch': Not found\nIf you are using a hidden network, please "
               "add the hidden network credentials first using 'particle wifi add'.\n")


def test_remove_keeps_the_connection_until_a_reset_and_clear_empties_the_list(device, run, tmp_path):
    sim = device("p2")
    run("wifi", "join", "--file", credentials(tmp_path, network="particle-sim", security="WPA2_PSK",
                                              password=PASSWORD))
    run("wifi", "add", "--file", credentials(tmp_path, network="sim-cafe", security="NONE"))
    assert run("wifi", "remove", "--ssid", "particle-sim") == (
        0, "Wi-Fi network particle-sim removed from device's list successfully.\n"
           "To disconnect from the network, run particle usb reset.\n\n", "")
    assert sim.wifi() == ([("sim-cafe", 0, "")], "particle-sim")
    assert run("usb", "reset")[0] == 0
    assert sim.wifi() == ([("sim-cafe", 0, "")], "sim-cafe")             # auto-connect after the restart
    assert run("wifi", "clear") == (0, "Wi-Fi networks cleared successfully.\n", "")
    assert run("wifi", "list") == (0, "List of Wi-Fi networks on the device:\n\nNo Wi-Fi networks found.\n", "")
    assert run("usb", "reset")[0] == 0
    assert sim.wifi() == ([], None)
    assert run("wifi", "current") == (1, "", "Unable to fetch current Wi-Fi network: No Wi-Fi network connected\n")


def test_remove_without_ssid(device, run):
    device("p2")
    assert run("wifi", "remove") == (1, "", "Please provide a network name to remove using the --ssid flag.\n")


def test_add_on_a_device_os_without_the_request_says_which_version_adds_it(device, run, tmp_path):
    sim = device("p2", fw="5.8.0")
    path = credentials(tmp_path, network="particle-sim", security="WPA2_PSK", password=PASSWORD)
    assert run("wifi", "add", "--file", path) == (
        1, "", "Unable to add Wi-Fi network 'particle-sim': Not supported\n"
               "This feature is likely not supported on this firmware version.\n"
               "Update to device-os 6.2.0 or use 'particle wifi join --help' to join a network.\n"
               "Alternatively, check 'particle serial wifi'.\n")
    assert sim.wifi() == ([], None)


@pytest.mark.parametrize("platform,name", [("photon", "photon"), ("p1", "p1")])
def test_gen2_points_to_serial_wifi(platform, name, sim, run):
    ids = dict(IDS, p1="2d0042000847353138383138")
    sim(f"{platform}-normal:id={ids[platform]}")
    assert run("wifi", "list") == (1, "", f"The 'particle wifi' commands are not supported on this device "
                                          f"({ids[platform]} / {name}).\nUse 'particle serial wifi' instead.\n")


def test_a_device_without_wifi(sim, run):
    sim("boron-normal:id=" + IDS["boron"])
    assert run("wifi", "current") == (1, "", f"This device ({IDS['boron']} / boron) does not support Wi-Fi.\n")


def test_a_device_in_dfu_mode_is_told_how(sim, run):
    sim("p2:id=" + IDS["p2"])
    code, out, err = run("wifi", "list")
    assert (code, out) == (1, "")
    assert err.startswith(f"The device ({IDS['p2']} / p2) is in DFU mode;")
    assert "particle usb reset" in err


@pytest.mark.parametrize("content,message", [
    ("{not json", "is not valid JSON at line 1, column 2"),
    ('{"security": "WPA2_PSK", "password": "secret-pass-1"}', "No network name found in the file"),
    ('{"network": "particle-sim", "password": "secret-pass-1"}', "Unknown security type: undefined"),
    ('{"network": "particle-sim", "security": "WPA9"}', "Unknown security type: WPA9"),
    ('["particle-sim"]', "No network name found in the file"),
])
def test_bad_credentials_files(content, message, device, run, tmp_path):
    sim = device("p2")
    path = tmp_path / "credentials.json"
    path.write_text(content)
    code, out, err = run("wifi", "add", "--file", path)
    assert code != 0 and out == ""
    assert message in err.splitlines()[0]
    assert "secret-pass-1" not in err
    assert sim.wifi() == ([], None)
    assert wifi_requests(sim.log()) == []


def test_missing_credentials_file(device, run, tmp_path):
    device("p2")
    code, out, err = run("wifi", "join", "--file", tmp_path / "none.json")
    assert (code, out) == (66, "")
    assert err.startswith(f"{tmp_path / 'none.json'} does not exist\n")


def test_the_password_is_never_printed_even_with_verbose(device, run, tmp_path):
    device("p2")
    path = credentials(tmp_path, network="particle-sim", security="WPA2_PSK", password=PASSWORD)
    for args in (("-v", "wifi", "add", "--file", path), ("-v", "wifi", "join", "--file", path),
                 ("-v", "wifi", "list"), ("-v", "wifi", "current")):
        code, out, err = run(*args)
        assert code == 0
        assert PASSWORD not in out + err


def test_several_devices_without_an_id_are_not_guessed(sim, run):
    sim(f"p2-normal:id={IDS['p2']},fw=6.2.0", f"argon-normal:id={IDS['argon']},fw=6.2.0")
    code, out, err = run("wifi", "list")
    assert (code, out) == (1, "")
    assert err.startswith("Multiple devices found. Connect only one device when running in non-interactive mode.\n")
    assert IDS["p2"] in err and IDS["argon"] in err


def test_the_command_serial_wifi_points_to_exists(run):
    # `particle serial wifi` on Device OS 6.2+ says "See 'particle wifi --help'": it answers
    code, out, err = run("wifi", "--help")
    assert (code, err) == (0, "")
    assert "Configure Wi-Fi credentials to your device (Supported on Gen 3+ devices)" in out
    for name, text in [("add", "Adds a Wi-Fi network to your device"), ("join", "Joins a Wi-Fi network"),
                       ("clear", "Clears the list of Wi-Fi networks on your device"),
                       ("list", "Lists the Wi-Fi networks on your device"),
                       ("remove", "Removes a Wi-Fi network from the device"),
                       ("current", "Gets the current Wi-Fi network")]:
        assert any(line.split(None, 1) == [name, text] for line in out.splitlines()), name
    code, out, _ = run("wifi", "join", "--help")
    assert code == 0 and "--ssid" in out and "--file" in out and '"security": "WPA2_PSK"' in out


def test_a_device_that_leaves_usb_during_the_request_is_reported_as_a_state(device, run, tmp_path):
    # the credentials reach the device, then it disappears before its answer is read
    sim = device("p2", knobs={"UNPLUG_AFTER": "3"})
    path = credentials(tmp_path, network="particle-sim", security="WPA2_PSK", password=PASSWORD)
    code, out, err = run("wifi", "add", "--file", path)
    assert (code, out) == (74, "")
    assert err.startswith("The device left USB during the request (adding Wi-Fi network 'particle-sim'); it may or "
                          "may not hold the change")
    assert err.rstrip().endswith("Connect it again, see what it holds with `particle wifi list`, then run the command "
                                 "again (it is safe to repeat).")
    assert PASSWORD not in err and "Traceback" not in err
    # the unplugged board kept what reached it (its file, as its flash)
    held = json.loads((sim.dir / "unit0-wifi.json").read_text())
    assert [n["ssid"] for n in held["known"]] == ["particle-sim"]
