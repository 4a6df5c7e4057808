"""Outside input never crashes or hangs us (issue 11): odd USB descriptors, serial numbers that
look like paths, special and huge files, files where folders belong and the reverse, folders
created 0700 whatever the umask, and property tests for the parsers touched."""
from __future__ import annotations

import io
import json
import os
import stat

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edge_helpers import DEVICE_IDS, profile
from helpers.modules import build_module
from particle_py.keys import formats

PHOTON_ALT0 = "@Internal Flash   /0x08000000/03*016Ka,01*016Kg,01*064Kg,07*128Kg"


def _no_traceback(*texts):
    for text in texts:
        assert "Traceback" not in text


# --- descriptors ------------------------------------------------------------------------------

@pytest.mark.parametrize("layout,why", [
    ("@Internal Flash /0x08000000/03*016Ka,01*016Kg,01*064Kg,07*0Kg", "segment 4 has page size 0"),
    ("@Internal Flash /0x08000000/99999999*1Bg", "more than 65536 pages"),
    ("@Internal Flash /0xFFFF0000/16*128Kg", "segment 1 runs past the 4 GiB address space"),
    ("@Internal Flash /0x08000000/-5*4Kg", "segment 1 has -5 pages"),
])
def test_an_impossible_layout_is_a_clear_error_naming_the_device(sim, run, tmp_path, layout, why):
    s = sim(profile("photon"), knobs={"ALT0_NAME": layout})
    app = tmp_path / "app.bin"
    app.write_bytes(build_module("photon", size=5000))
    before = s.devices()[0].memory(0).peek(0x080A0000, 5000)
    code, out, err = run("flash", "--usb", app)
    assert code == 74 and "Flash success!" not in out
    assert err.startswith(f'The Photon {DEVICE_IDS["photon"]} (alt 0) reports a memory layout particle-py cannot '
                          f'use: "{layout[:200]}" ({why})\n')
    assert s.devices()[0].memory(0).peek(0x080A0000, 5000) == before
    _no_traceback(out, err)


def test_keys_address_on_a_layout_claiming_a_hundred_million_pages(sim, run):
    sim(profile("argon"), knobs={"ALT1_NAME": "@DCT Flash /0x00000000/99999999*1Bg"})
    code, out, err = run("keys", "address")
    assert code == 74 and "(more than 65536 pages)" in err and '"@DCT Flash /0x00000000/99999999*1Bg"' in err


@pytest.mark.parametrize("serial", ["../../../escaped", "..", "a/b", "C:\\x", "id\x1b[2J", ""])
def test_a_serial_number_never_becomes_a_path(sim, run, tmp_path, serial):
    sim(profile("argon"), knobs={"SERIAL": serial})
    work = tmp_path / "work"
    for args in (("keys", "new"), ("keys", "save"), ("keys", "load")):
        code, out, err = run(*args)
        assert code == 1, args
        assert "The device shows no device ID over USB, so there is no default file name." in err
        assert "Give a file name on the command line." in err
        _no_traceback(out, err)
    assert sorted(p.name for p in work.iterdir()) == []
    assert not (tmp_path / "escaped").exists() and not (tmp_path.parent / "escaped").exists()
    # with a file name the key work goes on; the backup folder is not named after the serial
    assert run("keys", "new", "mine", "--protocol", "udp")[0] == 0
    code, out, err = run("keys", "load", "mine.der")
    assert code == 0, err
    assert [p.name for p in (tmp_path / "data" / "particle-py" / "key-backups").iterdir()] == ["unknown-device"]


# --- special and huge files -----------------------------------------------------------------------

def _special_files(tmp_path):
    fifo = tmp_path / "fifo.bin"
    os.mkfifo(fifo)
    big = tmp_path / "big.bin"
    with open(big, "wb") as fh:               # sparse: 3 GB on paper, nothing on disk
        fh.truncate(3 * 1024 ** 3)
    return {"/dev/zero": ("/dev/zero is a character device, not a firmware file", "Not a regular file"),
            "/dev/urandom": ("/dev/urandom is a character device, not a firmware file", "Not a regular file"),
            str(fifo): (f"{fifo} is a FIFO (named pipe), not a firmware file", "Not a regular file"),
            str(big): (f"{big} is 3221225472 bytes, more than any firmware file can be (8388608 bytes)",
                       "File too large")}


def test_special_and_huge_files_are_refused_without_reading_them(sim, run, tmp_path):
    s = sim(profile("photon"))
    before = len(s.log())
    for path, (message, reason) in _special_files(tmp_path).items():
        code, out, err = run("binary", "inspect", path)
        assert (code, out, err.splitlines()[0]) == (1, "", message)
        code, out, err = run("flash", "--usb", path)
        assert code == 1 and err.splitlines()[0] == message and "Nothing was written." in err
        from particle_py.cli.dfu_util.main import main as dfu_util
        sink_out, sink_err = io.StringIO(), io.StringIO()
        code = dfu_util(["dfu-util", "-a", "0", "-s", "0x080A0000", "-D", path], stdout=sink_out, stderr=sink_err)
        assert code == 66
        assert sink_err.getvalue().endswith(f"dfu-util: Could not open file {path} for reading: {reason}\n")
    assert len(s.log()) == before                   # the device was never spoken to


def test_a_fifo_or_folder_given_as_a_key_file(sim, run, tmp_path):
    sim(profile("argon"))
    fifo = tmp_path / "k.der"
    os.mkfifo(fifo)
    code, out, err = run("keys", "load", fifo)
    assert code == 1 and err.splitlines()[0] == f"{fifo} is a FIFO (named pipe), not a key file"
    code, out, err = run("keys", "server", tmp_path)
    assert code == 1 and err.splitlines()[0] == f"{tmp_path} is a folder, not a key file"


# --- files and folders where the other belongs ---------------------------------------------------------

def test_a_file_where_a_folder_is_expected(run, tmp_path):
    (tmp_path / "work" / "afile").write_text("x")
    code, out, err = run("keys", "new", "afile/x", "--protocol", "udp")
    assert code == 1 and err.startswith("Error creating keys: Could not write afile/x.")
    assert "afile is a file, not a folder" in err


@pytest.mark.parametrize("folder", ["d1.pem", "d1.der", "d1.pub.pem"])
def test_a_folder_where_a_file_is_expected_writes_nothing(run, tmp_path, folder):
    work = tmp_path / "work"
    (work / folder).mkdir()
    code, out, err = run("keys", "new", "d1", "--protocol", "udp")
    assert code == 1 and f"Could not write {folder}: it is a folder" in err
    assert sorted(p.name for p in work.iterdir()) == [folder]


def test_a_folder_where_the_local_backup_goes(sim, run, tmp_path):
    sim(profile("argon"))
    work = tmp_path / "work"
    assert run("keys", "new", "nk2", "--protocol", "udp")[0] == 0
    (work / "backup_ec_nk2.der").mkdir()
    code, out, err = run("keys", "load", "nk2.der")
    assert code == 1 and "Could not write backup_ec_nk2.der: it is a folder" in err
    _no_traceback(out, err)


# --- nothing replaced silently ------------------------------------------------------------------

def test_keys_save_refuses_an_existing_pub_pem_as_it_refuses_the_der(sim, run, tmp_path):
    sim(profile("argon"))
    work = tmp_path / "work"
    assert run("keys", "new", "k", "--protocol", "udp")[0] == 0 and run("keys", "load", "k.der")[0] == 0
    (work / "s2.pub.pem").write_text("mine\n")
    code, out, err = run("keys", "save", "s2.der")
    assert code == 1 and err.startswith("The file s2.pub.pem already exists, please specify a different file, "
                                        "or use the --force flag.")
    assert (work / "s2.pub.pem").read_text() == "mine\n" and not (work / "s2.der").exists()
    assert run("keys", "save", "s2.der", "--force")[0] == 0
    assert (work / "s2.pub.pem").read_text().startswith("-----BEGIN PUBLIC KEY-----")


def test_keys_server_device_type_keeps_an_existing_output_aside(run, tmp_path):
    work = tmp_path / "work"
    (work / "server.pub.pem").write_bytes(formats.public_pem(formats.generate("ec")))
    (work / "out.der").write_bytes(b"precious")
    code, out, err = run("keys", "server", "server.pub.pem", "out.der", "--deviceType", "argon")
    assert code == 0, err
    kept = [p for p in work.iterdir() if p.name.startswith("out.") and p.name != "out.der"]
    assert len(kept) == 1 and kept[0].read_bytes() == b"precious"
    assert f"Kept the previous file as {kept[0].name}" in out


# --- folders 0700 whatever the umask ---------------------------------------------------------------

def test_folders_that_hold_keys_and_tokens_are_0700_under_umask_0(sim, run, tmp_path, isolated_home):
    import shutil

    from particle_py.sim import cloud as sim_cloud

    shutil.rmtree(isolated_home / ".particle")
    sim(profile("argon"))
    old = os.umask(0)
    try:
        with sim_cloud.start(tmp_path / "cloud.sqlite") as cloud:
            cloud.db.add_user("a@example.com", "pw")
            from particle_py.cloud.config import Settings
            Settings().update(apiUrl=cloud.url)               # creates ~/.particle
            assert run("login", "-u", "a@example.com", "-p", "pw")[0] == 0
        assert run("keys", "new", "k", "--protocol", "udp")[0] == 0
        assert run("keys", "load", "k.der")[0] == 0
        assert run("keys", "new", "deep/er/k2", "--protocol", "udp")[0] == 0
    finally:
        os.umask(old)
    folders = [isolated_home / ".particle", tmp_path / "work" / "deep", tmp_path / "work" / "deep" / "er"]
    backups = tmp_path / "data" / "particle-py" / "key-backups"
    folders += [backups.parent, backups, backups / DEVICE_IDS["argon"]]
    for folder in folders:
        assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700, folder
    assert json.loads((isolated_home / ".particle" / "particle.config.json").read_text())["access_token"]


def test_particle_sim_help_says_its_folders_hold_keys(capsys):
    from particle_py.cli.sim import main
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "holds device keys" in text


# --- property tests for the parsers touched ---------------------------------------------------------

_layout_text = st.builds(lambda name, addr, segs: f"@{name}/0x{addr:08x}/" + ",".join(segs),
                         st.text(alphabet="Flash Internal", max_size=12), st.integers(0, 0xFFFFFFFF),
                         st.lists(st.builds(lambda n, s, m, t: f"{n}*{s}{m}{t}", st.integers(-5, 10 ** 9),
                                            st.integers(-5, 10 ** 6), st.sampled_from("BKM x"),
                                            st.sampled_from("abcdefg")), max_size=8))


@settings(max_examples=300, deadline=None)
@given(_layout_text | st.text(max_size=120))
def test_any_layout_gives_a_bounded_map_or_our_error(text):
    from particle_py.dfu.layout import LayoutLimitError
    from particle_py.ops.memory import MemoryMap
    try:
        mm = MemoryMap.from_layout_string(text, "The test device")
    except LayoutLimitError as err:
        assert err.message.startswith("The test device reports a memory layout particle-py cannot use: ")
        assert err.hint and not any(ord(c) < 32 for c in err.message)
    else:
        assert len(mm.pages) <= 1 << 16 and all(p.size > 0 for p in mm.pages)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80) | st.none())
def test_a_serial_number_gives_an_id_of_letters_and_digits_or_none(raw):
    import re

    from particle_py.ops.discovery import _clean_serial
    assert re.fullmatch(r"[0-9a-z]{0,64}", _clean_serial(raw))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=3000) | st.sampled_from([build_module("photon", size=600),
                                                  formats.device_der(formats.generate("ec")),
                                                  formats.public_pem(formats.generate("ec"))]).flatmap(
    lambda good: st.integers(0, len(good)).map(lambda cut: good[:cut])))
def test_classify_names_any_bytes(data):
    from particle_py.firmware.classify import classify
    kind = classify(data)
    assert kind.kind in ("empty", "module", "private-key", "public-key", "dfu-file", "other") and kind.description


def test_a_device_name_from_the_cloud_is_shown_escaped_in_usb_list(sim, run, isolated_home):
    import sys as _sys
    from pathlib import Path as _Path
    _sys.path.insert(0, str(_Path(__file__).resolve().parents[1] / "cloud"))
    from hostile import HostileApi

    sim(profile("argon", "normal"))
    with HostileApi("127.0.0.1") as api:
        api.on(f"/v1/devices/{DEVICE_IDS['argon']}", 200,
               b'{"id": "%s", "name": "\\u001b[2J\\u001b[Hmy_argon\\u0007", "connected": true}'
               % DEVICE_IDS["argon"].encode())    # a record names its device (cloud.api.device_record)
        (isolated_home / ".particle" / "particle.config.json").write_text(json.dumps(
            {"apiUrl": api.url, "access_token": "t" * 40, "flashWarningShownOn": 1}))
        code, out, err = run("usb", "list")
    assert code == 0, err
    assert "\x1b" not in out + err and "\x07" not in out
    assert "\\x1b[2J\\x1b[Hmy_argon\\x07" in out
