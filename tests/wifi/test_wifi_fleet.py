"""`particle wifi add|join|list|current|remove|clear --all`: a classroom's boards given one network at once;
each board holds what its row says (3.51's wifi commands take the one device attached)."""
import json

import pytest

from helpers.batch import summary_rows

PASSWORD = "particle-sim-pass"


@pytest.fixture
def boards(tmp_path, monkeypatch):
    from particle_py.sim import devices
    from particle_py.sim.bus import SimBus

    folder = tmp_path / "sim"
    devices.create(folder, ["argon", "p2", "argon", "photon"], devices.Recipe(device_os="6.2.0"))
    monkeypatch.setenv("PARTICLE_PY_SIM", str(folder))
    from tests.wifi.conftest import WifiSim

    yield WifiSim(folder), [d.profile.device_id for d in SimBus.load(folder).devices()]
    from particle_py import usb
    usb.release_simulator()


def test_add_then_join_on_every_argon_at_once(boards, run, tmp_path):
    sim, ids = boards
    path = tmp_path / "wifi.json"
    path.write_text(json.dumps({"network": "particle-sim", "security": "WPA2_PSK", "password": PASSWORD}))
    code, out, err = run("wifi", "add", "--file", path, "--all", "--platform", "argon")
    assert code == 0, out + err
    assert out.splitlines()[-1] == "2 of 2 devices: wifi add succeeded."
    rows = summary_rows(out, ids)
    assert sorted(rows) == sorted([ids[0], ids[2]])
    assert all("network 'particle-sim' added" in row for row in rows.values())
    known = [sim.wifi(i)[0] for i in range(3)]
    assert known[0] == known[2] == [("particle-sim", 3, PASSWORD)] and known[1] == []     # the P2 untouched
    code, out, err = run("wifi", "join", "--ssid", "particle-sim", "--all", "--platform", "argon")
    assert code == 0, out + err
    assert out.splitlines()[-1] == "2 of 2 devices: wifi join succeeded."
    assert [sim.wifi(i)[1] for i in (0, 2)] == ["particle-sim", "particle-sim"]
    code, out, err = run("wifi", "current", "--all", "--platform", "argon")
    assert code == 0, out + err
    assert all(row.split()[3] == "particle-sim" for row in summary_rows(out, ids).values()), out
    code, out, err = run("wifi", "list", "--all", "--platform", "argon")
    assert code == 0, out + err
    assert all("1 network: particle-sim (current)" in row for row in summary_rows(out, ids).values()), out
    code, out, err = run("wifi", "remove", "--ssid", "particle-sim", "--all", "--platform", "argon")
    assert code == 0, out + err
    assert [sim.wifi(i)[0] for i in (0, 2)] == [[], []]


def test_a_photon_in_the_batch_fails_alone(boards, run, tmp_path):
    sim, ids = boards
    path = tmp_path / "wifi.json"
    path.write_text(json.dumps({"network": "particle-sim", "security": "WPA2_PSK", "password": PASSWORD}))
    code, out, err = run("wifi", "add", "--file", path, "--all")
    assert code != 0
    assert out.splitlines()[-1] == "3 of 4 devices: wifi add succeeded."
    assert " failed: " in summary_rows(out, ids)[ids[3]]
    assert summary_rows(out, ids)[ids[3]].endswith(f"particle wifi add --file {path} --all")


def test_questions_are_for_one_device(boards, run):
    code, out, err = run("wifi", "add", "--all")
    assert code == 64
    assert err.splitlines()[0] == "With several devices, give the network in a file: --file"
