"""The doctor's faults and dialogue: no device, several, DFU and listening mode, no login, cloud
unreachable, a failing step, Continue/Skip/Exit, no terminal, JSON without secrets, both names,
`particle help`."""
from __future__ import annotations

import io
import json
import sys

import pytest

from tests.doctor.conftest import IDS, OWNER


class Terminal(io.StringIO):
    def isatty(self):
        return True


def as_terminal(monkeypatch, answers: str):
    monkeypatch.setattr(sys, "stdin", Terminal(answers))
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)


def test_no_device(world):
    from particle_py.sim.state import create_state
    create_state(world.state, [])
    code, out, err = world.particle("doctor", "--dry-run")
    assert code == 1
    assert "No devices found" in err and "Connect the device by USB" in err


def test_several_devices_are_named_and_one_is_chosen_by_id(world):
    from particle_py.cli.sim import main as particle_sim
    assert particle_sim(["create", "photon", "argon", "--id", IDS["photon"]]) == 0
    code, out, err = world.particle("doctor", "--dry-run")
    assert code == 1
    assert err.startswith("Several Particle devices are connected.\nChoose one: particle doctor <id>. ")
    assert IDS["photon"] in err
    code, out, err = world.particle("doctor", "--dry-run", IDS["photon"][:8])
    assert code == 0, err
    assert f"Device: Photon {IDS['photon']}" in out


def test_a_device_in_dfu_mode_is_read_where_it_is_and_restarted_by_the_repair_run(world):
    world.create("photon", "--mode", "dfu")
    code, out, err = world.particle("doctor", "--dry-run", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["diagnosis"]["mode"] == "DFU"
    assert report["diagnosis"]["led_now"] == "blinking yellow"
    # claimed, but offline in DFU mode: whether the cloud takes its key is not known from here
    assert report["diagnosis"]["led_after_reset"] == ("breathing cyan if the cloud holds the device's public key, "
                                                      "else blinking cyan with 1 orange burst")
    assert report["remaining"] == []
    assert world.led().startswith("LED: blinking yellow (DFU mode)")       # a dry run leaves it there
    code, out, err = world.particle("doctor", "--yes")
    assert code == 0, out + err
    assert "Nothing to repair." in out and "The device should now show: breathing cyan." in out
    assert world.led().startswith("LED: breathing cyan")


def test_not_logged_in_diagnoses_offline_and_repairs_what_needs_no_login(world):
    world.create("photon", "--key", "corrupt", "--server-key", "wrong", login=False)
    code, out, err = world.particle("doctor", "--dry-run", "--json")
    report = json.loads(out)
    assert report["diagnosis"]["logged_in"] is False
    assert report["diagnosis"]["needs_login"] == ["whether the device is claimed to your account",
                                                  "whether the cloud holds the device's current public key"]
    assert "cloud: not checked (not logged in" in err
    code, out, err = world.particle("doctor", "--yes")
    assert code == 1
    assert "Okay!  New keys in place, your device will not restart." in out       # the server key: no login needed
    assert ("Make a new device key: not possible without a login (run `particle login`, then `particle doctor` "
            "again)") in out
    assert "Not repaired:" in out and "The device will show: blinking cyan with 1 red burst." in out
    assert world.led().startswith("LED: blinking cyan with 1 red burst")


def test_cloud_unreachable_is_a_finding_and_the_device_side_is_still_repaired(world):
    world.create("photon", "--server-key", "wrong", login=False)
    (world.home / ".particle").mkdir(exist_ok=True)
    (world.home / ".particle" / "particle.config.json").write_text(
        json.dumps({"apiUrl": "http://127.0.0.1:9", "access_token": "x" * 40, "username": OWNER}))
    code, out, err = world.particle("doctor", "--dry-run")
    assert code == 0
    assert "  ?    cloud: not checked (Could not reach the Particle cloud at http://127.0.0.1:9" in out
    code, out, err = world.particle("doctor", "--yes")
    assert code == 0, out + err
    # the cloud was not reached: whether it holds the device's key is not known
    assert ("The device should now show: breathing cyan if the cloud holds the device's public key, else blinking "
            "cyan with 1 orange burst.") in out
    assert world.led().startswith("LED: breathing cyan")


def test_a_failing_step_stops_the_doctor_says_what_was_done_and_never_claims_success(world):
    """The device belongs to someone else: the cloud refuses the new key."""
    world.create("photon", "--key", "corrupt", "--server-key", "wrong", owner=False)
    world.cloud.db.add_device(world.device_id, "someone@example.com")
    code, out, err = world.particle("doctor", "--yes")
    assert code == 1
    assert 'The doctor stopped at "Make a new device key": ' in err
    assert "Done before it: Restore the server key" in err
    assert "Not done: Claim the device" in err
    # the cloud is asked before the device is written: its refusal leaves the device key as it was
    assert "This step changed nothing on the device." in err
    assert "The device is not repaired." in err
    assert "should now show" not in out and "restored" not in (out + err).lower()
    # again, with --json: the server key is fine now, the device key still not; the report shows
    # the key step failed again for the same reason, and the claim not tried
    code, out, err = world.particle("doctor", "--yes", "--json")
    assert code == 1
    report = json.loads(out)
    assert [(s["name"], s["status"]) for s in report["repairs"]] == [("keys_doctor", "failed"), ("claim", "not-run")]
    assert report["repaired"] is False and report["remaining"] == ["device_key_unusable", "not_claimed"]
    assert 'The doctor stopped at "Make a new device key": ' in err and "Permission Denied" in err


def test_a_healthy_device_has_nothing_to_repair(world):
    for name in ("photon", "argon"):
        world.create(name)
        assert world.led().startswith("LED: breathing cyan")
        code, out, err = world.particle("doctor", "--dry-run", "--json")
        report = json.loads(out)
        assert code == 0 and report["remaining"] == [], err
        assert report["diagnosis"]["led_now"] == "breathing cyan"
        assert "Repairs needed: none" in err
        code, out, err = world.particle("doctor", "--yes")
        assert code == 0, out + err
        assert out.splitlines()[-3:-1] == ["Nothing to repair.", "The device should now show: breathing cyan."]
        world.close()


def test_continue_skip_exit_on_a_terminal(world, monkeypatch):
    world.create("photon", "--server-key", "wrong")
    as_terminal(monkeypatch, "s\n")
    code, out, err = world.particle("doctor")
    assert code == 1
    assert ("Restore the server key: writes Particle's server key and its address to the server-key slot of the "
            "DCT, after saving the old one (particle keys server)\nContinue, Skip or Exit? [c/s/e] ") in err
    assert "  Restore the server key: skipped" in out
    assert world.led().startswith("LED: blinking cyan with 3 orange bursts")

    as_terminal(monkeypatch, "e\n")
    code, out, err = world.particle("doctor")
    assert code == 1 and "Stopped. Done: nothing. The device is not repaired." in out
    assert world.led().startswith("LED: blinking cyan with 3 orange bursts")

    as_terminal(monkeypatch, "maybe\nc\n")
    code, out, err = world.particle("doctor")
    assert code == 0, out + err
    assert err.count("Continue, Skip or Exit? [c/s/e] ") == 2
    assert world.led().startswith("LED: breathing cyan")


def test_without_a_terminal_it_asks_for_yes_before_touching_the_device(world):
    world.create("photon", "--server-key", "wrong")
    code, out, err = world.particle("doctor")
    assert code == 64
    assert err.startswith("particle doctor asks before each repair, and there is no terminal to ask on.")
    assert out == ""
    from particle_py.cli.sim import main as particle_sim
    world.capsys.readouterr()
    particle_sim(["list"])
    assert "normal mode" in world.capsys.readouterr().out          # never switched to DFU


def test_json_report_holds_no_key_or_token(world):
    import base64

    world.create("photon")
    from particle_py.keys import formats
    from particle_py.platforms import by_name
    code, out, err = world.particle("keys", "save", "saved.der")
    assert code == 0
    private = formats.trim_der((world.work / "saved.der").read_bytes())
    code, out, err = world.particle("doctor", "--dry-run", "--json")
    assert code == 0
    report = json.loads(out)          # stdout is the JSON alone
    token = json.loads((world.home / ".particle" / "particle.config.json").read_text())["access_token"]
    for secret in (private.hex(), base64.b64encode(private).decode()[:40], token):
        assert secret not in out and secret not in err
    assert report["diagnosis"]["findings"][2]["facts"]["kind"] == "PKCS#1 RSAPrivateKey"
    assert by_name("photon").device_key["tcp"].size == report["diagnosis"]["findings"][2]["facts"]["slot_bytes"]


def test_device_doctor_is_the_same_command(world):
    world.create("photon", "--server-key", "wrong")
    first = world.particle("doctor", "--dry-run")
    second = world.particle("device", "doctor", "--dry-run")
    assert first[0] == second[0] == 0
    assert first[1] == second[1]


def test_particle_help_shows_a_commands_help(world):
    code, out, err = world.particle("help", "keys", "server")
    assert code == 0
    assert out == world.particle("keys", "server", "--help")[1]
    assert out.startswith("Usage: particle keys server [OPTIONS] [filename] [outputFilename]")
    code, out, err = world.particle("help")
    assert code == 0 and "doctor" in out and "keys" in out
    code, out, err = world.particle("help", "nosuchcommand")
    assert code == 2 and "No such command 'nosuchcommand'" in err


def test_your_own_cloud_is_named_with_server_key(world):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    world.create("photon")
    own = rsa.generate_private_key(65537, 2048).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    (world.work / "my_cloud.der").write_bytes(own)
    assert world.particle("keys", "server", "my_cloud.der")[0] == 0
    code, out, err = world.particle("doctor", "--dry-run", "--server-key", "my_cloud.der")
    assert "  ok   server key: the server key in my_cloud.der, address tcp://device.spark.io:5683" in out
    code, out, err = world.particle("doctor", "--dry-run")
    assert "  FAIL blinking cyan with 3 orange bursts: the server key in the DCT at 2082 is a valid RSA key, " \
           "but not Particle's TCP server key" in out
    # the simulated cloud's key, named as your own cloud's
    cloud_key = str(world.state / "cloud" / "server_rsa.pub.der")
    code, out, err = world.particle("doctor", "--yes", "--server-key", cloud_key)
    assert code == 0, out + err
    assert (f"Restore the server key: writes the server key in {cloud_key} and its address to the server-key slot "
            "of the DCT, after saving the old one (particle keys server)") in out
    assert world.led().startswith("LED: breathing cyan")


def test_a_device_that_cannot_be_read_is_left_unwritten_and_said_so(world):
    world.create("photon", "--key", "corrupt", "--fault", "FAKE_UPLOAD_ERR=-9")
    code, out, err = world.particle("doctor", "--dry-run")
    assert code != 0
    assert err.startswith("Could not read the device: ")
    assert ("Nothing was written. The device is in DFU mode (blinking yellow): press RESET to restart it, then run "
            "the doctor again.") in err


def test_a_write_that_fails_stops_at_that_step(world):
    world.create("photon", "--server-key", "wrong", "--fault", "FAKE_WRITE_FAIL_STATUS=3")
    world.led()
    code, out, err = world.particle("doctor", "--yes")
    assert code != 0
    assert err.startswith('The doctor stopped at "Restore the server key": ')
    assert "Done before it: nothing" in err and "The device is not repaired." in err
    assert "should now show" not in out


@pytest.mark.filterwarnings("ignore::getpass.GetPassWarning")     # the password prompt on a fake terminal
def test_listening_mode_on_a_terminal_asks_for_wifi_as_serial_wifi_does(world, monkeypatch):
    """The Wi-Fi step is `particle serial wifi`'s dialogue: restarted from the doctor's DFU mode,
    back in listening mode, the network asked for over the serial port; the device stores it."""
    from particle_py.sim.serial import wifi_credentials

    world.create("photon")
    assert world.particle("usb", "start-listening")[0] == 0
    assert world.led().startswith("LED: blinking blue")
    as_terminal(monkeypatch, "c\nMy Net\n3\n2\nVery$ecret\n")
    code, out, err = world.particle("doctor")
    assert code == 0, out + err
    assert "Wi-Fi credentials for My Net stored; the device restarts" in out
    assert "Very$ecret" not in out + err
    assert wifi_credentials(world.state, 0) == [{"ssid": "My Net", "security": "WPA2", "cipher": "TKIP",
                                                 "password": "Very$ecret"}]
    assert out.splitlines()[-2] == "The device should now show: breathing cyan."
    assert world.led().startswith("LED: breathing cyan")
