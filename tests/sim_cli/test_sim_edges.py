"""Issue 23, finding 13 (particle-sim's part), the simulator folder's file modes, and issue 22's
"status shows 2.3.2 for a 2.3.1 device": every bad argument or damaged folder is a clean error with
the next step and a non-zero exit, never "internal error"; what particle and dfu-util say of a
damaged folder too."""
import json
import os
import stat

import pytest

from particle_py.cli.sim import main as sim_main


def run(capsys, *argv):
    status = sim_main([str(a) for a in argv])
    out = capsys.readouterr()
    return status, out.out, out.err


def particle(capsys, *argv):
    from particle_py.cli.particle.main import main
    status = main([str(a) for a in argv])
    out = capsys.readouterr()
    return status, out.out, out.err


def dfu_util(capsys, *argv):
    from particle_py.cli.dfu_util.main import main
    status = main(["dfu-util"] + [str(a) for a in argv])
    out = capsys.readouterr()
    return status, out.out, out.err


VERSION_HINT = ("Give major.minor.patch, such as 1.5.2, 2.3.1 or 5.0.0 (major up to 65, minor up to 9, patch up to "
                "99, optionally with a tag such as -rc.1)")


@pytest.mark.parametrize("argv,message,hint,code", [
    (["create", "photon", "--device-os", "99999.1.1"],
     "--device-os '99999.1.1': not a Device OS version the simulator can model", VERSION_HINT + ", or 'none'.", 2),
    (["create", "photon", "--device-os", "66.0.0"],
     "--device-os '66.0.0': not a Device OS version the simulator can model", VERSION_HINT + ", or 'none'.", 2),
    (["firmware", "photon", "--device-os", "../../../x", "--dir", "{tmp}/f"],
     "--device-os '../../../x': not a Device OS version the simulator can model", VERSION_HINT + ".", 2),
    (["firmware", "photon", "--dir", "/dev/null"],
     "/dev/null is not a folder: cannot write firmware files there.",
     "Give a folder with --dir (it is made when missing).", 2),
    (["cloud", "--port", "99999", "--state", "{tmp}/c"],
     "--port 99999: a TCP port is 0 to 65535", "Give one in that range; 0 picks a free port (printed).", 2),
    (["cloud", "--port", "-1", "--state", "{tmp}/c"],
     "--port -1: a TCP port is 0 to 65535", "Give one in that range; 0 picks a free port (printed).", 2),
])
def test_a_bad_argument_is_a_usage_error_with_the_fix(capsys, tmp_path, monkeypatch, argv, message, hint, code):
    monkeypatch.setenv("PARTICLE_PY_SIM", str(tmp_path / "sim"))
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert run(capsys, *argv) == (code, "", f"{message}\n{hint}\n")
    assert not (tmp_path / "sim").exists() and not (tmp_path / "c").exists() and not (tmp_path / "f").exists()
    assert not list(tmp_path.rglob("*.bin"))


def test_firmware_with_a_good_version_still_writes_its_files(capsys, tmp_path):
    status, out, err = run(capsys, "firmware", "photon", "--device-os", "2.3.1", "--dir", tmp_path / "f")
    assert (status, err) == (0, "") and out.count("Wrote ") == 3


def test_particle_py_sim_naming_a_file(capsys, tmp_path, monkeypatch):
    afile = tmp_path / "afile"
    afile.write_text("not a folder")
    monkeypatch.setenv("PARTICLE_PY_SIM", str(afile))
    hint = "Give a folder (particle-sim create photon --state DIR makes one) in --state or PARTICLE_PY_SIM."
    for argv in (["create", "photon"], ["status"], ["list"]):
        assert run(capsys, *argv) == (2, "", f"{afile} is a file, not a simulator state folder.\n{hint}\n")
    assert run(capsys, "cloud") == (73, "", f"Cannot use {afile}/cloud for the simulated cloud's state: Not a "
                                            "directory\nGive a folder with --state, or point PARTICLE_PY_SIM at a "
                                            "simulator folder (particle-sim create photon makes one).\n")
    code, out, err = particle(capsys, "usb", "list")
    assert (code, out) == (1, "")
    assert err == (f"PARTICLE_PY_SIM names {afile}, a file, not a simulator folder\nPoint it at a folder "
                   "(particle-sim create photon --state DIR makes one), or unset PARTICLE_PY_SIM to use real "
                   "devices.\n")
    assert afile.read_text() == "not a folder"


DAMAGE = [
    ('{"devices": [', "state.json is not complete JSON"),
    ("\xff\xfe", "state.json is not complete JSON"),
    ("[]", "state.json does not hold a JSON object"),
    ('{"devices": 5}', "state.json has no device list"),
    ('{"devices": [{"spec": "photon"}]}', "a device record in state.json is incomplete"),
    ('{"clock_us": "soon"}', "state.json has a clock_us that is not a number"),
    ('{"devices": [{"spec": "no-such-board", "unit": 0, "devnum": 5, "ports": [2]}]}',
     "a device in state.json cannot be rebuilt (ValueError)"),
]


@pytest.mark.parametrize("text,why", DAMAGE)
def test_a_damaged_state_json_is_named_with_the_fix_by_every_front_end(capsys, tmp_path, monkeypatch, text, why):
    folder = tmp_path / "sim"
    monkeypatch.setenv("PARTICLE_PY_SIM", str(folder))
    assert run(capsys, "create", "photon")[0] == 0
    (folder / "state.json").write_bytes(text.encode("latin-1"))
    message = f"The simulator state in {folder} is damaged: {why}"
    hint = (f"Make its devices again, which replaces them: particle-sim create photon --state {folder} (with the "
            "platforms you want); or point PARTICLE_PY_SIM at another folder.")
    assert run(capsys, "status") == (65, "", f"{message}\n{hint}\n")
    assert particle(capsys, "usb", "list") == (65, "", f"{message}\n{hint}\n")
    code, out, err = dfu_util(capsys, "-l")
    assert code == 74 and "internal error" not in out + err
    assert err.endswith(f"dfu-util: unable to initialize libusb: {message}\n{hint}\n")
    assert (folder / "state.json").read_bytes() == text.encode("latin-1")        # nothing overwritten
    # and the fix the hint names works
    assert run(capsys, "create", "photon")[0] == 0
    assert particle(capsys, "usb", "list")[0] == 0


@pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")
def test_the_folder_files_holding_keys_and_passwords_are_owner_only(capsys, tmp_path, monkeypatch):
    folder = tmp_path / "sim"
    monkeypatch.setenv("PARTICLE_PY_SIM", str(folder))
    old = os.umask(0)                   # the worst umask: only our own modes protect the files
    try:
        assert run(capsys, "create", "photon", "argon")[0] == 0
        assert particle(capsys, "usb", "list")[0] == 0                       # writes the log
        from particle_py.sim.cloud_db import CloudDb
        CloudDb(folder / "cloud" / "cloud.sqlite")
    finally:
        os.umask(old)
    modes = {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in folder.rglob("*")}
    assert modes and {name: mode for name, mode in modes.items() if mode & 0o077} == {}
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {"state.json", "unit0-alt1.bin", "log.jsonl", "cloud/cloud.sqlite", "cloud/server_rsa.pem"} <= set(modes)


def test_status_names_the_release_a_module_version_belongs_to(capsys, tmp_path, monkeypatch):
    """Particle's 2.3.1 system parts carry module version 2302: that is 2.3.1, not "2.3.2"."""
    from particle_py.platforms import by_name
    from particle_py.sim import contents
    from particle_py.sim.bus import SimBus
    from particle_py.release_table import RELEASES

    assert {m["module_version"] for m in RELEASES["2.3.1"]["photon"]["modules"]
            if m["function"] == "system part"} == {2302}
    folder = tmp_path / "sim"
    monkeypatch.setenv("PARTICLE_PY_SIM", str(folder))
    assert run(capsys, "create", "photon", "--device-os", "2.3.1")[0] == 0
    photon = by_name("photon")
    with SimBus.session(folder) as bus:
        for index, address in enumerate(photon.system_parts, 1):
            deps = ((contents.SYSTEM_PART, index - 1, 2302),) if index > 1 else ()
            bus.devices()[0].memory(0).poke(address, contents.build_module(
                photon, function=contents.SYSTEM_PART, index=index, version=2302, size=16384, start=address,
                deps=deps, seed=index))
    assert "  Device OS: 2.3.1" in run(capsys, "status")[1].splitlines()
