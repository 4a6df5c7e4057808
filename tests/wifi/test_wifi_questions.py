"""The Wi-Fi questions of `particle wifi add|join` (3.51's prompts), answered by a scripted user
through the front end's seam (ops.wifi takes the asking callable): what is asked, in what order,
what reaches the device, and that the password is asked as a secret and never reported."""
from particle_py import events
from particle_py.ops import wifi

PASSWORD = "particle-sim-pass"


def scripted(answers, asked):
    def ask(question):
        asked.append((question.kind, question.message, question.choices))
        return answers.pop(0)
    return ask


def test_manual_entry(device):
    sim = device("p2")
    asked, recorder = [], events.Recorder()
    ssid = wifi.add(ask=scripted([False, "  particle-sim  ", "WPA2_PSK", PASSWORD, False], asked), reporter=recorder)
    assert ssid == "particle-sim"
    assert asked == [("confirm", "Would you like to scan for Wi-Fi networks?", ()),
                     ("input", "SSID", ()),
                     ("choice", "Select the security type for your Wi-Fi network:",
                      ("NO_SECURITY", "WEP", "WPA_PSK", "WPA2_PSK", "WPA3_PSK")),
                     ("secret", "Wi-Fi Password", ()),
                     ("confirm", "Is this a hidden network?", ())]
    assert sim.wifi() == ([("particle-sim", 3, PASSWORD)], None)
    assert PASSWORD not in repr(recorder.events)


def test_open_network_asks_no_password(device):
    sim = device("argon")
    asked = []
    wifi.add(ask=scripted([False, "sim-cafe", "NO_SECURITY", False], asked))
    assert [kind for kind, _, _ in asked] == ["confirm", "input", "choice", "confirm"]
    assert sim.wifi() == ([("sim-cafe", 0, "")], None)


def test_scan_then_choose_then_join(device):
    sim = device("msom")
    asked = []
    joined = wifi.join(ask=scripted([True, "[rescan networks]", "particle-sim", PASSWORD], asked))
    assert joined == wifi.Joined("particle-sim", False)
    choice = ("choice", "Select the Wi-Fi network with which you wish to connect your device:",
              ("[rescan networks]", "particle-sim", "sim-cafe", "sim-wpa3"))
    assert asked == [("confirm", "Would you like to scan for Wi-Fi networks?", ()), choice, choice,
                     ("secret", "Wi-Fi Password", ())]
    assert sim.wifi() == ([("particle-sim", 3, PASSWORD)], "particle-sim")


def test_joining_from_listening_mode_leaves_it(device, run, tmp_path):
    import json

    sim = device("p2")
    assert run("usb", "start-listening")[0] == 0
    path = tmp_path / "c.json"
    path.write_text(json.dumps({"network": "sim-cafe", "security": "NONE"}))
    code, out, _ = run("wifi", "join", "--file", path)
    assert code == 0 and out.startswith("Exiting listening mode...\nWi-Fi network 'sim-cafe' configured")
    assert sim.devices()[0].mode == 0
