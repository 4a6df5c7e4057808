"""particle serial wifi: the `w` dialogue with every security type, from --file and from
prompts; what the device model stored; the password never printed."""
import json

import pytest

from helpers.serial_profiles import profile

PEM_CERT = "-----BEGIN CERTIFICATE-----\nMIIBsimulated\n-----END CERTIFICATE-----"
PEM_KEY = "-----BEGIN PRIVATE KEY-----\nMIIEsimulated\n-----END PRIVATE KEY-----"
PEM_CA = "-----BEGIN CERTIFICATE-----\nMIICAsimulated\n-----END CERTIFICATE-----"

CASES = [
    ({"network": "open-cafe", "security": "NONE"}, {"ssid": "open-cafe", "security": "unsecured"}),
    ({"network": "old-router", "security": "WEP", "password": "0123456789"},
     {"ssid": "old-router", "security": "WEP", "password": "0123456789"}),
    ({"network": "home", "security": "WPA_AES", "password": "pa ss"},
     {"ssid": "home", "security": "WPA", "cipher": "AES", "password": "pa ss"}),
    ({"network": "home", "security": "WPA_TKIP", "password": "x"},
     {"ssid": "home", "security": "WPA", "cipher": "TKIP", "password": "x"}),
    ({"network": "home", "security": "WPA_AES+TKIP", "password": "x"},
     {"ssid": "home", "security": "WPA", "cipher": "AES+TKIP", "password": "x"}),
    ({"network": "home", "security": "WPA2_AES", "password": "s3cret!"},
     {"ssid": "home", "security": "WPA2", "cipher": "AES", "password": "s3cret!"}),
    ({"network": "home", "security": "WPA2_TKIP", "password": "y"},
     {"ssid": "home", "security": "WPA2", "cipher": "TKIP", "password": "y"}),
    ({"network": "home", "security": "WPA2_AES+TKIP", "password": "z"},
     {"ssid": "home", "security": "WPA2", "cipher": "AES+TKIP", "password": "z"}),
]
ENTERPRISE = [
    ({"network": "corp", "security": "WPA2_802.1x", "eap": "peap", "username": "alice",
      "outer_identity": " anon ", "root_ca": PEM_CA, "password": "hunter2"},
     {"ssid": "corp", "security": "WPA2 Enterprise", "cipher": "AES", "eap": "PEAP/MSCHAPv2", "username": "alice",
      "outer_identity": "anon", "root_ca": PEM_CA, "password": "hunter2"}),
    ({"network": "corp", "security": "WPA_802.1x", "eap": "tls", "client_certificate": PEM_CERT,
      "private_key": PEM_KEY, "outer_identity": "", "root_ca": ""},
     {"ssid": "corp", "security": "WPA Enterprise", "cipher": "AES", "eap": "EAP-TLS",
      "client_certificate": PEM_CERT, "private_key": PEM_KEY, "outer_identity": "", "root_ca": ""}),
]


def _listening(sim, run, name, **opts):
    s = sim(profile(name, **opts))
    assert run("usb", "start-listening")[0] == 0
    return s


@pytest.mark.parametrize("given,stored", CASES)
@pytest.mark.parametrize("name", ["photon", "argon", "p2"])
def test_wifi_from_file_every_security_type(sim, run, tmp_path, name, given, stored):
    s = _listening(sim, run, name)
    (tmp_path / "wifi.json").write_text(json.dumps(given))
    code, out, err = run("serial", "wifi", "--file", tmp_path / "wifi.json")
    assert (code, out, err) == (0, "Done! Your device should now restart.\n", "")
    assert s.wifi() == [stored]
    if len(given.get("password", "")) >= 6:          # the log holds hex; short strings occur by chance
        assert given["password"] not in (s.dir / "log.jsonl").read_text()


@pytest.mark.parametrize("given,stored", ENTERPRISE)
@pytest.mark.parametrize("name", ["photon", "p1"])
def test_wifi_enterprise_from_file(sim, run, tmp_path, name, given, stored):
    s = _listening(sim, run, name, fw="0.7.0")
    (tmp_path / "wifi.json").write_text(json.dumps(given))
    assert run("serial", "wifi", "--file", tmp_path / "wifi.json") == (0, "Done! Your device should now restart.\n", "")
    assert s.wifi() == [stored]


def test_wifi_leaves_listening_mode_and_keeps_credentials_across_a_reset(sim, run, tmp_path):
    s = _listening(sim, run, "photon")
    (tmp_path / "w.json").write_text(json.dumps({"network": "a", "security": "WPA2_AES", "password": "p"}))
    run("serial", "wifi", "--file", tmp_path / "w.json")
    assert "LISTENING" not in run("usb", "list")[1]
    assert run("usb", "reset")[0] == 0
    assert s.wifi()[0]["ssid"] == "a"


def test_wifi_interactive_never_echoes_the_password(sim, run, monkeypatch):
    from typer.testing import CliRunner
    from particle_py.cli.particle.main import build_app

    s = _listening(sim, run, "photon")
    result = CliRunner().invoke(build_app(), ["serial", "wifi"], input="My Net\n3\n2\nVery$ecret\n")
    assert result.exit_code == 0, result.output
    assert "Very$ecret" not in result.output
    assert result.output.rstrip().endswith("Done! Your device should now restart.")
    assert s.wifi() == [{"ssid": "My Net", "security": "WPA2", "cipher": "TKIP", "password": "Very$ecret"}]


def test_wifi_interactive_enterprise_peap(sim, run):
    from typer.testing import CliRunner
    from particle_py.cli.particle.main import build_app

    s = _listening(sim, run, "photon")
    result = CliRunner().invoke(build_app(), ["serial", "wifi"],
                                input="corp\n5\n1\n0\nbob\n\n\nletmein\n")
    assert result.exit_code == 0, result.output
    assert "letmein" not in result.output
    assert s.wifi() == [{"ssid": "corp", "security": "WPA2 Enterprise", "cipher": "AES", "eap": "PEAP/MSCHAPv2",
                         "username": "bob", "outer_identity": "", "root_ca": "", "password": "letmein"}]


def test_wifi_needs_listening_mode(sim, run, tmp_path):
    s = sim(profile("photon"))
    (tmp_path / "w.json").write_text(json.dumps({"network": "a", "security": "NONE"}))
    code, out, err = run("serial", "wifi", "--file", tmp_path / "w.json")
    assert (code, out) == (69, "")
    assert err.splitlines()[0] == ("Serial timed out while initially listening to device, please ensure device "
                                   "is in listening mode with particle usb start-listening")
    assert s.wifi() == []


@pytest.mark.parametrize("name", ["electron", "boron"])
def test_wifi_on_a_cellular_device(sim, run, tmp_path, name):
    sim(profile(name))
    (tmp_path / "w.json").write_text(json.dumps({"network": "a"}))
    code, out, err = run("serial", "wifi", "--file", tmp_path / "w.json")
    assert (code, out) == (64, "") and err.splitlines()[0] == "The device does not support Wi-Fi"


def test_wifi_recommends_the_new_commands_on_device_os_6_2(sim, run, tmp_path):
    s = _listening(sim, run, "p2", fw="6.2.0")
    (tmp_path / "w.json").write_text(json.dumps({"network": "n", "security": "WPA2_AES", "password": "p"}))
    code, out, _ = run("serial", "wifi", "--file", tmp_path / "w.json")
    assert code == 0 and out.splitlines() == [
        "[Recommendation]",
        "Use the improved Wi-Fi configuration commands for this device-os version (>= 6.2.0)",
        "See 'particle wifi --help' for more details on available commands", "",
        "Done! Your device should now restart."]
    assert s.wifi()[0]["ssid"] == "n"


@pytest.mark.parametrize("content,message", [
    ("{", "is not a JSON file particle-py can read"),
    ('{"security": "NONE"}', "names no network"),
    ('{"network": "a", "pasword": "typo"}', "has keys particle-py does not know: pasword"),
])
def test_wifi_bad_file(sim, run, tmp_path, content, message):
    _listening(sim, run, "photon")
    (tmp_path / "w.json").write_text(content)
    code, out, err = run("serial", "wifi", "--file", tmp_path / "w.json")
    assert code == 65 and out == "" and message in err.splitlines()[0]
    assert run("serial", "wifi", "--file", tmp_path / "missing.json")[0] == 66
