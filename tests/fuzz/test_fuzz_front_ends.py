"""Fuzzing the outside data the other test folders do not reach yet: whole argument vectors of
both front ends (on a simulated device), files a user downloaded from a forum handed to
`binary inspect`, `flash --usb` and `keys load`, and 2xx cloud answers of any shape.

Each property: the input is used or refused with our error (exit status + a message), never a
traceback, never a hang (no real sleeps anywhere: the simulator's time is modelled), and a
refused file never touches the device. Parser-level properties live next to each parser
(grep @given); `tests/fuzz/count_examples.py` counts the examples of all of them.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
SYSEXITS = (0, 64, 65, 66, 70, 73, 74, 76)


@pytest.fixture(scope="module")
def sim_dir(tmp_path_factory):
    """One simulated Photon in DFU mode for a whole module (examples share it: state may drift,
    which is itself a fair input)."""
    from particle_py.sim.state import create_state

    root = tmp_path_factory.mktemp("fuzz")
    create_state(root / "sim", ["photon:real=1", "dfu11"], {})
    (root / "work").mkdir()
    (root / "home" / ".particle").mkdir(parents=True)
    # the cloud is a closed local port: no example ever reaches the network
    (root / "home" / ".particle" / "particle.config.json").write_text(json.dumps(
        {"flashWarningShownOn": 1, "apiUrl": "http://127.0.0.1:9", "access_token": "0" * 40}))
    return root


@contextlib.contextmanager
def environment(root):
    keep_env, keep_cwd = dict(os.environ), os.getcwd()
    for var in ("home", "HOMEPATH", "USERPROFILE"):
        os.environ.pop(var, None)
    os.environ.update({"HOME": str(root / "home"), "XDG_DATA_HOME": str(root / "data"),
                       "XDG_CACHE_HOME": str(root / "cache"), "PARTICLE_PY_SIM": str(root / "sim")})
    os.chdir(root / "work")
    try:
        yield
    finally:
        from particle_py import usb
        usb.release_simulator()
        os.chdir(keep_cwd)
        os.environ.clear()
        os.environ.update(keep_env)


def run_particle(root, argv, stdin=""):
    from particle_py.cli.particle.main import main

    out, err = io.StringIO(), io.StringIO()
    with environment(root), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        import sys
        keep_stdin, sys.stdin = sys.stdin, io.StringIO(stdin)
        try:
            code = main(argv)
        finally:
            sys.stdin = keep_stdin
    return code, out.getvalue(), err.getvalue()


def run_dfu_util(root, argv):
    from particle_py.cli.dfu_util.main import main

    out, err = io.StringIO(), io.StringIO()
    with environment(root):
        code = main(["dfu-util", *argv], stdout=out, stderr=err, environ=dict(os.environ))
    return code, out.getvalue(), err.getvalue()


def snapshot(root):
    """Every byte the simulated boards hold (flash files and plain-DFU images)."""
    return {p.name: p.read_bytes() for p in sorted((root / "sim").glob("unit*.bin"))}


# --- dfu-util: whole argument vectors ------------------------------------------------------------

# -w is left out on purpose: "wait for a device" waits until one appears, as the real one does.
DFU_OPTIONS = ["-l", "-e", "-E", "-R", "-v", "-V", "-h", "-a", "-d", "-p", "-c", "-i", "-S", "-s", "-t", "-U",
               "-D", "-Z", "-n", "--list", "--device", "--alt", "--dfuse-address", "--transfer-size",
               "--upload-size", "--serial", "--path", "--intf", "--cfg", "--devnum", "--detach-delay",
               "--reset", "--download", "--upload", "--verbose", "--detach", "--help"]
DFU_VALUES = st.sampled_from(["0", "1", "2", "x", "2b04:d006", "2b04:d006,:", ",2b04:d006", "*:*", "1-2", "1-2.3",
                              "0x08020000", "0x08020000:leave", "0x080A0000:4096", ":force:mass-erase",
                              "0x8000000:unprotect", "in.bin", "in.dfu", "out.bin", "-1", "4294967296",
                              "00000000010C", "", ":", "'@Internal Flash'", "DCT Flash", "1024", "0x"])


@SETTINGS
@given(st.lists(st.one_of(st.sampled_from(DFU_OPTIONS), DFU_VALUES, st.text(max_size=8)), max_size=7),
       st.binary(max_size=600))
def test_any_dfu_util_command_line_ends_in_a_dfu_util_exit_status(sim_dir, argv, data):
    (sim_dir / "work" / "in.bin").write_bytes(data)
    (sim_dir / "work" / "in.dfu").write_bytes(data + b"\x00\x00\x06\xd0\x04\x2b\x1a\x01UFD\x10\x00\x00\x00\x00")
    code, out, err = run_dfu_util(sim_dir, argv)
    assert code in SYSEXITS + (1, 251), (argv, code, err)
    assert "Traceback" not in err + out
    if code not in (0,):
        assert err.strip(), f"{argv}: exit {code} says nothing on stderr"


# --- particle: whole argument vectors ------------------------------------------------------------

WORDS = ["keys", "new", "load", "save", "send", "doctor", "server", "address", "protocol", "flash", "--usb",
         "usb", "list", "dfu", "reset", "start-listening", "binary", "inspect", "identify", "login", "logout",
         "whoami", "device", "add", "--protocol", "tcp", "udp", "--force", "--host", "--port", "--deviceType",
         "photon", "argon", "--help", "-h", "--version", "--token", "--username", "--password", "file.bin",
         "key.der", "key.pem", "3a0035000f47343432313031", "3a00", "nope", "--ids-only", "--exclude-dfu",
         "--product_id", "tinker", "-", "--", "--local"]


@SETTINGS
@given(st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=10)), max_size=6), st.binary(max_size=400))
def test_any_particle_command_line_ends_with_a_status_and_never_a_traceback(sim_dir, argv, data):
    for name in ("file.bin", "key.der", "key.pem"):
        (sim_dir / "work" / name).write_bytes(data)
    try:
        code, out, err = run_particle(sim_dir, argv, stdin="\n\n\n")
    except Exception as exc:       # main() re-raises only what it does not know: that is the bug
        raise AssertionError(f"particle {argv!r} raised {exc!r}") from exc
    assert isinstance(code, int) and 0 <= code < 256
    assert "Traceback" not in err + out
    if code:
        assert err.strip(), f"particle {argv}: exit {code} with nothing on stderr"


# --- files from forum posts -----------------------------------------------------------------------

@SETTINGS
@given(st.binary(max_size=3000))
def test_any_file_is_inspected_or_refused(sim_dir, data):
    (sim_dir / "work" / "file.bin").write_bytes(data)
    code, out, err = run_particle(sim_dir, ["binary", "inspect", "file.bin"])
    assert code in (0, 1, 65, 66), err
    assert (code == 0) == bool(out) and (code != 0) == bool(err.strip())


def _module_like(draw_bytes: bytes) -> bytes:
    """A real Photon app with part of it replaced: close enough to pass some checks."""
    from helpers.modules import build_module
    app = bytearray(build_module("photon", size=1024, seed=5))
    app[:len(draw_bytes)] = draw_bytes[:len(app)]
    return bytes(app)


@SETTINGS
@given(st.one_of(st.binary(max_size=2000), st.binary(min_size=1, max_size=600).map(_module_like)))
def test_flash_usb_refuses_a_broken_file_before_touching_the_device(sim_dir, data):
    (sim_dir / "work" / "file.bin").write_bytes(data)
    before = snapshot(sim_dir)
    code, out, err = run_particle(sim_dir, ["flash", "--usb", "file.bin"])
    assert "Traceback" not in err
    if code != 0:
        assert err.strip()
        assert snapshot(sim_dir) == before, "a refused file changed the device"


@SETTINGS
@given(st.one_of(st.binary(max_size=1500),
                 st.binary(max_size=200).map(lambda b: b"-----BEGIN PRIVATE KEY-----\n" + b + b"\n-----END"),
                 st.binary(max_size=200).map(lambda b: b"\x30\x82\x04" + b)))
def test_keys_load_refuses_an_unusable_key_before_touching_the_device(sim_dir, data):
    (sim_dir / "work" / "key.der").write_bytes(data)
    before = snapshot(sim_dir)
    code, out, err = run_particle(sim_dir, ["keys", "load", "key.der"])
    assert code != 0 and err.strip() and "Traceback" not in err
    assert snapshot(sim_dir) == before


# --- 2xx cloud answers of any shape --------------------------------------------------------------

json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                        max_size=4), max_leaves=12)
answers = st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=80),
                    st.fixed_dictionaries({"expires_at": st.text(max_size=30), "username": json_values,
                                           "access_token": json_values, "id": json_values}).map(
                        lambda v: json.dumps(v).encode()))


class _Canned(BaseHTTPRequestHandler):
    body = b"{}"
    status = 200

    def log_message(self, *args):
        pass

    def _answer(self):
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_GET = do_POST = do_DELETE = _answer


@pytest.fixture(scope="module")
def canned_cloud():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Canned)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@SETTINGS
@given(answers, st.sampled_from([200, 201, 400, 401, 403, 404, 429, 500, 502]))
def test_any_cloud_answer_gives_a_result_or_our_error(canned_cloud, body, status):
    from particle_py.cloud.api import ApiClient
    from particle_py.errors import ParticlePyError

    _Canned.body, _Canned.status = body, status
    client = ApiClient(canned_cloud, "0123456789abcdef0123456789abcdef01234567")
    for call in (client.whoami, client.token_info, lambda: client.claim_device("3a0035000f47343432313031"),
                 lambda: client.login("a@b.c", "pw"), client.require_fresh_token,
                 lambda: client.provision_key("3a0035000f47343432313031", "-----BEGIN PUBLIC KEY-----", "ecc")):
        try:
            result = call()
        except ParticlePyError as err:
            assert err.message.strip()
            continue
        assert isinstance(result, dict)
