"""Sulu (platform 38, new in particle-cli 3.51.0 through device-constants): created, listed,
flashed and its keys repaired in the simulator, as any platform the table knows."""
from pathlib import Path

from helpers.modules import build_module
from particle_py.cli.sim import main as sim_main
from particle_py.keys import formats
from particle_py.platforms import by_name

SULU_ID = "0a10aced202194944a00ee38"


def sim_cli(capsys, *argv):
    capsys.readouterr()
    status = sim_main(list(argv))
    out = capsys.readouterr()
    return status, out.out, out.err


def test_sulu_is_created_and_listed(capsys, tmp_path, monkeypatch, run):
    monkeypatch.setenv("PARTICLE_PY_SIM", str(tmp_path / "state"))
    status, out, _ = sim_cli(capsys, "create", "sulu", "--id", SULU_ID)
    assert status == 0
    assert out.splitlines()[0] == f"Created Sulu {SULU_ID} [2b04:c026] on 1-2, normal mode"
    assert sim_cli(capsys, "list")[1] == f"Sulu {SULU_ID} [2b04:c026] on 1-2, normal mode\n"
    assert run("usb", "list") == (0, f"<unknown> [{SULU_ID}] (Sulu)\n", "")
    status, out, _ = sim_cli(capsys, "create", "sulu", "--mode", "dfu", "--id", SULU_ID)
    assert out.splitlines()[0] == f"Created Sulu {SULU_ID} [2b04:d026] on 1-2, DFU mode"
    assert run("usb", "list") == (0, f"<unknown> [{SULU_ID}] (Sulu, DFU)\n", "")


def test_an_app_is_flashed_to_a_running_sulu_byte_for_byte(sim, run, tmp_path):
    s = sim(f"sulu-normal:id={SULU_ID}")
    app = build_module("sulu", size=7000, seed=38)
    (tmp_path / "app.bin").write_bytes(app)
    code, out, err = run("flash", "--usb", tmp_path / "app.bin")
    assert code == 0, err
    assert out.splitlines()[-3:] == [f"Flashing sulu device {SULU_ID}", "Flashing app.bin", "Flash success!"]
    # the user part grows left: the app ends at the region's end
    end = by_name("sulu").user_part.address
    assert s.peek(0, end - len(app), len(app)) == app


def test_keys_doctor_repairs_a_sulus_key(sim, cloud, run):
    s = sim(f"sulu:id={SULU_ID}")
    slot = by_name("sulu").device_key["udp"]
    old = formats.device_der(formats.generate("ec"))
    s.poke(slot.alt, slot.address, old)
    code, out, err = run("keys", "doctor", SULU_ID)
    assert (code, err) == (0, ""), err
    # a new Sulu's server key slot is empty: nothing to prove the key with, and it says so
    assert "The new key was not proven: the server key slot (DCT 3298) is empty." in out.splitlines()
    assert "Okay!  New keys" not in out
    new = Path(f"{SULU_ID}_ec_new.der").read_bytes()
    assert s.peek(slot.alt, slot.address, len(new)) == new
    assert Path(f"backup_ec_{SULU_ID}_ec_new.der").read_bytes()[:len(old)] == old
    assert cloud.db.handshake(SULU_ID, formats.public_der(formats.parse_key(new).key)) == "ok"
