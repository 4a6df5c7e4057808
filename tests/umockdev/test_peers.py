"""Real particle-cli releases against the simulated devices over the real libusb.

1.16.0 runs dfu-util from PATH: with the real dfu-util it must reproduce its recording in
compat/recorded/, and with OUR dfu-util first on PATH it must print the same and leave the
device holding the same bytes. 3.43.1 (DFU through the `usb` npm module) must reproduce its
recording. Every session ends with checks of what the device holds.
"""
from __future__ import annotations

import difflib
import importlib.util
import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import peers  # noqa: E402

pytestmark = [pytest.mark.umockdev, pytest.mark.peers]


def device_memory(state: Path, alt: int, address: int, length: int) -> bytes:
    from particle_py.sim.bus import SimBus

    return SimBus.load(state).devices()[0].memory(alt).read(address, length)


_BUG_ADDRESS = re.compile(r"^Please report bugs to .*$", re.M)


def bug_address_normalised(text: str) -> str:
    """dfu-util's banner names where to report bugs; ours names particle-py (as compat-replay allows)."""
    return _BUG_ADDRESS.sub("Please report bugs to <address>", text)


def assert_same_as_recording(result: peers.SessionResult) -> None:
    want = peers.recorded_transcript(result.session)
    assert want is not None, f"no recording: run tests/umockdev/peers.py --record {result.session.name}"
    want = bug_address_normalised(want)
    got = bug_address_normalised(result.transcript().lstrip("\n"))
    if want != got:
        diff = "\n".join(difflib.unified_diff(want.split("\n"), got.split("\n"), "recorded", "now", lineterm="",
                                              n=2))
        pytest.fail(f"{result.session.name} with dfu-util {result.dfu_util} differs from its recording:\n{diff}")


def assert_device_holds_what_was_written(result: peers.SessionResult) -> None:
    """The DCT and the user part hold the files the CLI wrote (as the CLI left them on disk)."""
    work, state = result.work, result.state
    steps = [" ".join(s.argv) for s in result.steps]
    if "keys load key.der" in steps:
        key = (work / "key.der").read_bytes()        # 1.x pads the file to an even length first
        assert device_memory(state, 1, 34, len(key)) == key
    if "keys save saved.der" in steps:
        assert (work / "saved.der").read_bytes() == device_memory(state, 1, 34, 612)
    if "keys save before.der" in steps:
        assert (work / "before.der").read_bytes() == b"\xff" * 612     # a blank simulated DCT
    if any(s.startswith("keys server") for s in steps):
        server = peers.inputs()["server.der"]
        blob = device_memory(state, 1, 2082, 512)
        assert blob[:len(server)] == server
        assert blob[384:390] == bytes([0, 4, 127, 0, 0, 1])        # address TLV: IPv4 127.0.0.1
    if any(" ".join(s.argv) == "flash --usb app.bin" and s.status == 0 for s in result.steps):
        app = (work / "app.bin").read_bytes()
        assert device_memory(state, 0, 0x080A0000, len(app)) == app


def _run(session_name: str, tmp_path: Path, dfu_util: str) -> peers.SessionResult:
    result = peers.run_session(peers.BY_NAME[session_name], dfu_util, base=tmp_path)
    return result


OLD_SESSIONS = [s.name for s in peers.SESSIONS if s.cli == "1.16.0"]
NEW_SESSIONS = [s.name for s in peers.SESSIONS if s.cli == "3.43.1"]


@pytest.mark.parametrize("session", OLD_SESSIONS)
def test_cli_1_16_with_real_dfu_util_reproduces_its_recording(session, cli_old, real_dfu_util, tmp_path):
    result = _run(session, tmp_path, real_dfu_util)
    assert_same_as_recording(result)
    assert_device_holds_what_was_written(result)


@pytest.mark.parametrize("session", OLD_SESSIONS)
def test_cli_1_16_with_our_dfu_util_first_on_path(session, cli_old, umockdev, tmp_path):
    ours = peers.our_dfu_util()
    if not ours.exists() or importlib.util.find_spec("particle_py.cli.dfu_util.main") is None:
        pytest.skip("our dfu-util is not built yet (particle_py/cli/dfu_util/main.py)")
    result = _run(session, tmp_path, str(ours))
    # every command completes as with the real dfu-util, printing the same, and the device holds the same
    assert_same_as_recording(result)
    assert_device_holds_what_was_written(result)


@pytest.mark.parametrize("session", NEW_SESSIONS)
def test_cli_3_43_reproduces_its_recording(session, cli_new, tmp_path):
    result = _run(session, tmp_path, peers.REAL_DFU_UTIL)
    assert_same_as_recording(result)
    assert_device_holds_what_was_written(result)
