"""The one error path of particle, particle-sim and dfu-util (particle_py/cli/runner.py), seen
from outside: the installed console scripts as real processes. Usage errors, closed pipes,
legacy console encodings and an early Ctrl-C end with a message and the right status, never
a traceback; the status is the one the work earned."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from helpers.processes import Child, no_traceback, script


# --- usage errors -------------------------------------------------------------------------------

@pytest.mark.parametrize("argv,status,err_end", [
    (["particle", "nosuch"], 2, "Error: No such command 'nosuch'.\n"),
    (["particle", "keys", "load", "a", "b", "c", "d"], 2, "Error: Got unexpected extra argument(s) (b c d)\n"),
    (["particle", "flash", "--nosuch"], 2, "Error: No such option: --nosuch\n"),
    (["particle", "keys", "send", "x", "y", "--product_id", "abc"], 2, None),
    (["particle-sim", "nosuch"], 2, "Error: No such command 'nosuch'.\n"),
    (["particle-sim", "create"], 2, "Error: Missing argument 'platforms'.\n"),
    (["particle-sim", "button"], 2, "Error: Missing argument 'action'.\n"),
    (["dfu-util", "--nosuch"], 64, None),
    (["dfu-util", "-D"], 64, None),
    (["dfu-util", "-a"], 64, None),
])
def test_usage_errors_are_a_message_and_a_status(bench, argv, status, err_end):
    got = bench.run(*argv)
    no_traceback(got.out, got.err)
    assert got.status == status, got.err
    if argv[0] == "dfu-util":
        assert got.err.startswith(f"{argv[0]}: "), got.err      # getopt's own words, as the C program
    elif err_end is not None:
        assert got.err.lower().endswith(err_end.lower()), got.err     # typer versions differ in case only
    else:
        assert "\nError: Invalid value for '--product_id'" in got.err, got.err


@pytest.mark.parametrize("argv", [["particle", "--version"], ["particle-sim", "--version"], ["dfu-util", "-V"]])
def test_version_of_every_front_end(bench, argv):
    got = bench.run(*argv)
    assert got.status == 0 and got.err == "", got.err
    from particle_py import __version__
    first = got.out.split("\n")[0]
    if argv[0] == "particle":
        assert got.out == f"particle-py {__version__}\n"       # it says which program answers `particle`
    else:
        assert first in ("0.1.0", "dfu-util 0.11") or got.out.startswith("dfu-util 0.11\n")


# --- the status the work earned -------------------------------------------------------------------

def test_particle_sim_cloud_on_a_busy_port_fails(bench):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        got = bench.run("particle-sim", "cloud", "--port", str(port), "--state", str(bench.tmp / "cloud"))
    no_traceback(got.err)
    assert got.status == 1
    assert got.err.startswith(f"particle-sim cloud: cannot listen on 127.0.0.1:{port}: "), got.err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_particle_sim_cloud_stopped_by_a_signal_is_a_normal_end(bench, sig):
    child = bench.start("particle-sim", "cloud", "--state", str(bench.tmp / "cloud"))
    deadline = time.monotonic() + 60
    while b"listening on" not in child.buffers["out"]:
        assert time.monotonic() < deadline and child.proc.poll() is None, bytes(child.buffers["err"])
        time.sleep(0.01)
    child.interrupt(sig)
    got = child.wait()
    no_traceback(got.err)
    assert (got.status, got.signalled) == (0, False)


def test_an_operation_error_gets_its_own_status(bench):
    got = bench.run("particle", "flash", "tinker")
    assert got.status == 64
    assert got.err == "particle-py flashes over USB only: add --usb\nExample: particle flash --usb firmware.bin\n"


# --- closed pipes ---------------------------------------------------------------------------------

def _with_closed_stdout(bench, *argv):
    read, write = os.pipe()
    os.close(read)                    # the reader is gone before the first line is written
    try:
        proc = subprocess.run([script(argv[0]), *argv[1:]], stdout=write, stderr=subprocess.PIPE,
                              env=bench.env(), cwd=bench.work, timeout=120)
    finally:
        os.close(write)
    return proc.returncode, proc.stderr.decode()


@pytest.mark.parametrize("argv", [["particle", "--help"], ["particle", "keys", "--help"],
                                  ["particle-sim", "--help"], ["particle", "usb", "list"]])
def test_particle_and_particle_sim_finish_their_work_when_the_reader_is_gone(bench, argv):
    bench.create("photon-normal")
    code, err = _with_closed_stdout(bench, *argv)
    no_traceback(err)
    assert (code, err) == (0, "")


@pytest.mark.parametrize("argv", [["dfu-util", "-l"], ["dfu-util", "-V"]])
def test_dfu_util_dies_by_sigpipe_like_the_c_program(bench, argv):
    bench.create("photon")
    code, err = _with_closed_stdout(bench, *argv)
    assert (code, err) == (-signal.SIGPIPE, "")


def test_head_closing_the_pipe_after_one_line(bench):
    """`dfu-util -l | head -1` and `particle --help | head -1` in a shell."""
    bench.create("photon", "argon", "boron", "p2")
    for argv in (["dfu-util", "-l"], ["particle", "--help"], ["particle", "keys", "--help"]):
        read, write = os.pipe()
        head = subprocess.Popen(["head", "-1"], stdin=read, stdout=subprocess.PIPE)
        proc = subprocess.Popen([script(argv[0]), *argv[1:]], stdout=write, stderr=subprocess.PIPE,
                                env=bench.env(), cwd=bench.work)
        os.close(read)
        os.close(write)
        first = head.communicate(timeout=120)[0].decode()
        err = proc.communicate(timeout=120)[1].decode()
        no_traceback(err)
        assert err == "" and first.count("\n") == 1, (argv, err)
        assert proc.returncode in ((0, -signal.SIGPIPE) if argv[0] == "dfu-util" else (0,))


# --- legacy console encodings ------------------------------------------------------------------------

@pytest.mark.parametrize("encoding", ["cp1252", "ascii"])
def test_a_non_ascii_file_name_under_a_legacy_code_page(bench, encoding):
    name = "ñame-Łódź"                 # ñ is in cp1252, Ł and ó... not all of it: a real mix
    got = bench.run("particle", "keys", "new", name, "--protocol", "tcp", PYTHONIOENCODING=encoding)
    no_traceback(got.out, got.err)
    assert got.status == 0, got.err
    assert (bench.work / f"{name}.der").exists() and (bench.work / f"{name}.pub.pem").exists()
    # cp1252 shows what it can and escapes the rest; on an ASCII stream typer writes UTF-8 instead
    shown = name.encode(encoding, "backslashreplace") if encoding != "ascii" else name.encode()
    assert got.raw_out == b"New key " + shown + b".der created\n"


def test_keys_load_with_a_non_ascii_name_under_cp1252(bench):
    bench.create("photon:real=1")
    made = bench.run("particle", "keys", "new", "clé-ключ", "--protocol", "tcp")
    assert made.status == 0
    got = bench.run("particle", "keys", "load", "clé-ключ.der", PYTHONIOENCODING="cp1252")
    no_traceback(got.out, got.err)
    assert got.status == 0, got.err
    assert b"Key cl\xe9-\\u043a\\u043b\\u044e\\u0447.der written to device\n" in got.raw_out, got.raw_out


def test_dfu_util_with_a_non_ascii_file_name_under_ascii(bench):
    bench.create("photon")
    Path(bench.work / "прошивка.bin").write_bytes(b"\x00" * 64)
    got = bench.run("dfu-util", "-a", "0", "-s", "0x080A0000", "-D", "прошивка.bin", PYTHONIOENCODING="ascii")
    no_traceback(got.out, got.err)
    assert got.status == 0, got.err
    assert "\\u043f\\u0440\\u043e" in got.out + got.err or "Download done." in got.out


# --- Ctrl-C in the first moments ------------------------------------------------------------------

def _our_handlers_in_place(pid) -> bool:
    """SIGTERM is caught only once the runner has put its handlers in (Python itself does not)."""
    try:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                      if ":" in line)
    except FileNotFoundError:
        return True
    return bool(int(fields["SigCgt"], 16) & (1 << (signal.SIGTERM - 1)))


@pytest.mark.parametrize("argv", [["particle", "keys", "--help"], ["particle", "usb", "list"],
                                  ["particle-sim", "status"], ["dfu-util", "-l"]])
@pytest.mark.parametrize("use_pty", [False, True], ids=["piped", "pty"])
def test_ctrl_c_as_soon_as_the_handlers_are_in(bench, argv, use_pty):
    bench.create("photon", "argon")
    child = Child([script(argv[0]), *argv[1:]], bench.env(), str(bench.work), use_pty)
    deadline = time.monotonic() + 60
    while not _our_handlers_in_place(child.pid) and time.monotonic() < deadline:
        time.sleep(0.0005)
    child.interrupt(signal.SIGINT)
    got = child.wait()
    no_traceback(got.out, got.err)
    if argv[0] == "dfu-util":
        assert got.signalled and got.status == 130 or got.status == 0
    else:
        assert not got.signalled and got.status in (0, 130)
        if got.status == 130 and not use_pty:
            assert got.err.endswith("Interrupted.\n")


@pytest.mark.parametrize("argv", [["particle", "keys", "--help"], ["particle-sim", "--help"], ["dfu-util", "-l"]])
def test_ctrl_c_right_after_the_start(bench, argv):
    """SIGINT at once: it lands before Python's own handler (the process dies by it, silently, as a
    C program would) or in our code (exit 130); never a traceback of ours."""
    child = Child([script(argv[0]), *argv[1:]], bench.env(), str(bench.work), use_pty=False)
    child.interrupt(signal.SIGINT)
    got = child.wait()
    if "init_import_site" in got.err or "Fatal Python error: init_" in got.err:
        # CPython's own start-up (site import, init_sys_streams under load): before any of our code
        pytest.skip("the signal landed in CPython's own start-up, before any of our code")
    no_traceback(got.out, got.err)
    assert got.status == 130 and got.err in ("", "Interrupted.\n"), got
