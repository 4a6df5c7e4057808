"""particle-sim as a user drives it: create devices with contents, read the LED, press buttons."""
import json

import pytest

from particle_py.cli.sim import main as sim_main
from particle_py.sim.bus import SimBus


def run(capsys, *argv):
    status = sim_main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


@pytest.fixture
def state(tmp_path, monkeypatch):
    folder = tmp_path / "sim"
    monkeypatch.setenv("PARTICLE_PY_SIM", str(folder))
    return folder


ID = "0123456789abcdef01234567"


@pytest.mark.parametrize("args, led, why", [
    ((), "breathing cyan", "Device OS and user application valid"),
    (("--key", "pkcs8"), "blinking cyan with 1 red burst", "not a PKCS#1 RSAPrivateKey DER"),
    (("--key", "corrupt"), "blinking cyan with 1 red burst", "not a PKCS#1 RSAPrivateKey DER"),
    (("--key", "missing"), "blinking cyan with 1 orange burst", "the device key slot is empty"),
    (("--server-key", "wrong"), "blinking cyan with 3 orange bursts", "is not an RSA server key the cloud answers with"),
    (("--cloud-key", "other"), "blinking cyan with 1 orange burst", "the cloud holds another public key"),
    (("--app", "none"), "breathing magenta", "no valid user application at 0x080a0000"),
])
def test_create_then_status_shows_the_led_and_why(capsys, state, args, led, why):
    status, out, _ = run(capsys, "create", "photon", "--id", ID, *args)
    assert status == 0
    assert out.startswith(f"Created Photon {ID} [2b04:c006] on 1-2, normal mode\n")
    status, out, _ = run(capsys, "status")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == f"Photon {ID} [2b04:c006] on 1-2, normal mode"
    assert lines[1].startswith(f"  LED: {led} (")
    assert why in lines[2]


def test_a_device_with_no_device_os_is_in_dfu_mode_as_its_led_says(capsys, state):
    status, out, _ = run(capsys, "create", "photon", "--id", ID, "--device-os", "none")
    assert status == 0
    assert out.startswith(f"Created Photon {ID} [2b04:d006] on 1-2, DFU mode\n")
    lines = run(capsys, "status")[1].splitlines()
    assert lines[:4] == [f"Photon {ID} [2b04:d006] on 1-2, DFU mode", "  LED: blinking yellow (DFU mode)",
                         "  why: in the DFU bootloader",
                         "  after a reset: blinking yellow (Device OS system part 1 at 0x08020000: empty "
                         "(erased flash))"]
    assert lines[4] == "  Device OS: none (no valid system part 1)"


def test_the_seed_threads_own_commands_with_stand_in_files(capsys, state, tmp_path, monkeypatch):
    """particle-sim firmware writes files named as Particle's releases; the seed thread's dfu-util
    commands flash them; status and identify then show the version they claim."""
    import io
    from particle_py.cli.dfu_util.main import main as dfu_util
    from particle_py.cli.particle.main import main as particle
    monkeypatch.chdir(tmp_path)
    run(capsys, "create", "photon", "--id", ID, "--device-os", "none", "--app", "none")
    status, out, _ = run(capsys, "firmware", "photon", "--device-os", "0.4.7")
    assert status == 0
    assert out.splitlines()[0] == ("Wrote system-part1-0.4.7-photon.bin (16384 bytes, goes to 0x08020000): "
                                   "dfu-util -d 2b04:d006 -a 0 -s 0x8020000 -D system-part1-0.4.7-photon.bin")
    for args in (["-s", "0x8020000", "-D", "system-part1-0.4.7-photon.bin"],
                 ["-s", "0x8060000:leave", "-D", "system-part2-0.4.7-photon.bin"]):
        dfu_util(["dfu-util", "-d", "2b04:d006", "-a", "0", *args], stdout=io.StringIO(), stderr=io.StringIO())
    lines = run(capsys, "status")[1].splitlines()
    assert lines[0] == f"Photon {ID} [2b04:c006] on 1-2, normal mode"
    assert lines[1].startswith("  LED: breathing magenta (safe mode")      # no app yet
    assert "  Device OS: 0.4.7" in lines
    capsys.readouterr()
    assert particle(["identify"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "Your system firmware version is 0.4.7"


def test_unplug_and_plug_back_keeps_the_flash_and_boots(capsys, state):
    run(capsys, "create", "argon", "--id", ID)
    status, out, _ = run(capsys, "unplug")
    assert (status, out) == (0, f"Unplugged Argon {ID} (plug it back in: particle-sim plug)\n")
    assert run(capsys, "list")[1] == f"Argon {ID}: unplugged (particle-sim plug)\n"
    status, out, _ = run(capsys, "plug", "--dfu")
    assert out == f"Argon {ID} [2b04:d00c] on 1-2, DFU mode: blinking yellow (DFU mode; in the DFU bootloader)\n"
    run(capsys, "unplug")
    status, out, _ = run(capsys, "plug")
    assert out.startswith(f"Argon {ID} [2b04:c00c] on 1-2, normal mode: breathing cyan")
    assert run(capsys, "plug")[0] == 2          # nothing left to plug in


def test_udp_platforms_hold_sec1_keys_at_3106(capsys, state):
    run(capsys, "create", "boron", "--id", ID)
    _, out, _ = run(capsys, "status")
    assert "LED: breathing cyan" in out
    assert "protocol: udp; device key at DCT 3106: SEC1 EC DER, 121 bytes; server key at DCT 3298: 320-byte blob" in out


def test_buttons_move_between_modes_and_reset_boots_from_contents(capsys, state):
    run(capsys, "create", "electron", "--id", ID)
    status, out, _ = run(capsys, "button", "dfu")
    assert status == 0
    assert out == f"Electron {ID} [2b04:d00a] on 1-2, DFU mode: blinking yellow (DFU mode; in the DFU bootloader)\n"
    bus = SimBus.load(state)
    assert [(d.vid, d.pid) for d in bus.devices()] == [(0x2B04, 0xD00A)]
    _, out, _ = run(capsys, "button", "listen")
    assert "listening mode: blinking blue" in out
    _, out, _ = run(capsys, "button", "reset")
    assert out.startswith(f"Electron {ID} [2b04:c00a] on 1-2, normal mode: breathing cyan")


def test_reset_of_a_device_without_device_os_stays_in_dfu(capsys, state):
    run(capsys, "create", "photon", "--id", ID, "--device-os", "none", "--mode", "dfu")
    _, out, _ = run(capsys, "button", "reset")
    assert out.startswith(f"Photon {ID} [2b04:d006] on 1-2, DFU mode: blinking yellow")


def test_errors_say_what_to_do(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("PARTICLE_PY_SIM", raising=False)
    status, _, err = run(capsys, "status")
    assert status == 2
    assert err == ("No simulator state folder given.\n"
                   "Pass --state DIR or set PARTICLE_PY_SIM=DIR (particle-sim create makes one).\n")
    status, _, err = run(capsys, "status", "--state", str(tmp_path / "empty"))
    assert status == 2 and "Create one: particle-sim create photon" in err
    status, _, err = run(capsys, "create", "photon", "--state", str(tmp_path / "s"), "--key", "weird")
    assert status == 2 and err == "--key 'weird': expected one of good, corrupt, missing, pkcs8\n"
    status, _, err = run(capsys, "button", "wiggle", "--state", str(tmp_path / "s"))
    assert status == 2 and "Use one of: reset, dfu, listen" in err


def test_the_cloud_remembers_the_device_and_its_owner(capsys, state):
    run(capsys, "create", "argon", "--id", ID, "--owner", "someone@example.com")
    from particle_py.sim.cloud_db import CloudDb
    db = CloudDb(state / "cloud" / "cloud.sqlite")
    try:
        device = db.device(ID)
        assert device["owner"] == "someone@example.com"
        assert device["public_key"]
    finally:
        db.close()
    saved = json.loads((state / "state.json").read_text())
    assert saved["devices"][0]["spec"] == f"argon-normal:id={ID}"


def test_cloud_help_lists_its_options_and_the_default_user(capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    status, out, _ = run(capsys, "cloud", "--help")
    assert status == 0
    for option in ("--state", "--port", "--user", "--device", "--server-key", "--address", "--use",
                   "--background", "--stop"):
        assert option in out, option
    assert "me@example.com, password particle" in out


def test_a_background_cloud_has_the_default_user_and_stops(capsys, state, tmp_path, monkeypatch):
    """particle-sim cloud --background --use: login works with the printed user, no --user needed."""
    from particle_py.cli.particle.main import main as particle
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    run(capsys, "create", "photon", "--id", ID)
    try:
        status, out, _ = run(capsys, "cloud", "--background", "--use")
        assert status == 0, out
        assert "Users: me@example.com   (log in: particle login -u me@example.com -p particle)" in out
        assert particle(["login", "-u", "me@example.com", "-p", "particle"]) == 0
        assert capsys.readouterr().out == "> Successfully completed login!\n"
    finally:
        status, out, _ = run(capsys, "cloud", "--stop")
    assert status == 0 and out.startswith("Stopped the simulated cloud (process ")
    assert run(capsys, "cloud", "--stop")[0] == 1
