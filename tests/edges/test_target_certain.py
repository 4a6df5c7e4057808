"""No write before the target is certain (issue 11): a device id or name is resolved, and every
file is classified, before any device changes mode; --force tells what the device will do."""
from __future__ import annotations

import pytest

from edge_helpers import DEVICE_IDS, profile
from helpers.modules import build_module
from particle_py.keys import formats

WRONG_TARGETS = ["0123456789abcdef01234567", "paste-device-id", "my_photon", "abcdef"]


@pytest.mark.parametrize("target", WRONG_TARGETS)
def test_keys_doctor_with_a_wrong_id_or_name_changes_nothing(sim, run, logged_in, target):
    s = sim(profile("argon", "normal"))
    code, out, err = run("keys", "doctor", target)
    assert code == 1
    assert f"Device not found: {target}" in err and "Nothing was changed on the device." in err
    assert s.dfu_mode_requests() == [] and not s.in_dfu()
    assert "Switching device to DFU mode" not in out


@pytest.mark.parametrize("target", WRONG_TARGETS)
def test_flash_to_a_wrong_id_or_name_changes_nothing(sim, run, tmp_path, target):
    s = sim(profile("argon", "normal"))
    app = tmp_path / "app.bin"
    app.write_bytes(build_module("argon", size=5000))
    code, out, err = run("flash", "--usb", target, app)
    assert code == 1 and f"Device not found: {target}" in err
    assert s.dfu_mode_requests() == [] and not s.in_dfu()


def test_the_right_id_still_works(sim, run, tmp_path):
    s = sim(profile("argon", "normal"))
    app = tmp_path / "app.bin"
    app.write_bytes(build_module("argon", size=5000))
    code, out, err = run("flash", "--usb", DEVICE_IDS["argon"][:8], app)
    assert code == 0, err
    assert len(s.dfu_mode_requests()) == 1


@pytest.mark.parametrize("case", ["wrong platform", "empty", "not a module", "a key"])
def test_a_wrong_file_is_refused_before_the_device_changes_mode(sim, run, tmp_path, case):
    s = sim(profile("argon", "normal"))
    data = {"wrong platform": build_module("photon", size=5000), "empty": b"",
            "not a module": b"\x00" * 5000, "a key": formats.device_der(formats.generate("ec"))}[case]
    f = tmp_path / "file.bin"
    f.write_bytes(data)
    code, out, err = run("flash", "--usb", f)
    assert code == 1 and "nothing was written" in err.lower()
    assert s.dfu_mode_requests() == [] and not s.in_dfu()


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_keys_server_refuses_a_device_private_key_before_touching_the_device(sim, run, tmp_path, kind):
    s = sim(profile("argon", "normal"))
    key = tmp_path / "mykey.der"
    key.write_bytes(formats.device_der(formats.generate(kind)))
    code, out, err = run("keys", "server", key)
    words = {"ec": "EC, SEC1 EC private key", "rsa": "RSA, PKCS#1 RSA private key"}[kind]
    assert code == 1 and out == ""
    assert err.splitlines()[0] == (f"{key} is a private key ({words}, DER); `keys server` needs the server's "
                                   f"public key (DER or PEM).")
    assert "Nothing was changed on the device." in err and "particle keys load" in err
    assert s.dfu_mode_requests() == [] and not s.in_dfu()
    # the offline form refuses it too, and writes no file
    code, out, err = run("keys", "server", key, "out.der", "--deviceType", "argon")
    assert code == 1 and "is a private key" in err
    assert not (tmp_path / "work" / "out.der").exists()


@pytest.mark.parametrize("name,data,what", [
    ("app.bin", build_module("photon", size=3000), "it is a Particle firmware module"),
    ("empty.der", b"", "it is an empty file"),
])
def test_keys_load_names_what_a_wrong_file_is(sim, run, tmp_path, name, data, what):
    s = sim(profile("argon", "normal"))
    f = tmp_path / name
    f.write_bytes(data)
    code, out, err = run("keys", "load", f)
    assert code == 1 and what in err
    assert s.dfu_mode_requests() == [] and not s.in_dfu()


def _particle_sim(*args):
    from particle_py.cli.sim import main
    return main(list(args))


def _led(capsys):
    capsys.readouterr()
    assert _particle_sim("status") == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("built_for,words", [(12, "an Argon app"), (8, "a P1 app")])
def test_a_forced_wrong_platform_app_is_written_and_the_truth_is_told(tmp_path, monkeypatch, capsys, run,
                                                                     built_for, words):
    monkeypatch.setenv("PARTICLE_PY_SIM", str(tmp_path / "sim"))
    assert _particle_sim("create", "photon", "--id", DEVICE_IDS["photon"]) == 0
    app = build_module("photon", platform_id=built_for, size=6000, seed=4)
    (tmp_path / "other.bin").write_bytes(app)
    code, out, err = run("flash", "--usb", "--force", tmp_path / "other.bin")
    assert code == 0
    assert "Flash success!" not in out and out.splitlines()[-1] == "Flash done (forced)."
    assert err == (f"Warning: The Photon cannot run {words} (other.bin): it will boot into safe mode "
                   "(breathing magenta).\nFlash a module built for the Photon to get it running.\n")
    assert "breathing magenta" in _led(capsys)          # and that is what the device does


def test_a_forced_bad_crc_app_is_told_too(tmp_path, monkeypatch, capsys, run):
    monkeypatch.setenv("PARTICLE_PY_SIM", str(tmp_path / "sim"))
    assert _particle_sim("create", "photon", "--id", DEVICE_IDS["photon"]) == 0
    (tmp_path / "c.bin").write_bytes(build_module("photon", bad_crc=True, size=3000))
    code, out, err = run("flash", "--usb", "--force", tmp_path / "c.bin")
    assert code == 0 and out.splitlines()[-1] == "Flash done (forced)."
    assert err.startswith("Warning: c.bin fails its CRC check, so the Photon will not run it: it will boot into "
                          "safe mode (breathing magenta).\n")
    assert "breathing magenta" in _led(capsys)


def test_keys_server_refuses_a_key_of_the_wrong_type_before_the_mode_switch(sim, run, tmp_path):
    s = sim(profile("argon", "normal"))                 # an Argon needs an EC server key
    key = tmp_path / "server.pub.pem"
    key.write_bytes(formats.public_pem(formats.generate("rsa")))
    code, out, err = run("keys", "server", key)
    assert code == 1 and "is an RSA key but this device's protocol needs an EC (P-256) server key" in err
    assert "Nothing was changed on the device." in err
    assert s.dfu_mode_requests() == [] and not s.in_dfu()
    key.write_bytes(formats.public_pem(formats.generate("ec")))
    code, out, err = run("keys", "server", key)
    assert code == 0, err
    assert len(s.dfu_mode_requests()) == 1
