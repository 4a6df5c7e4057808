"""The same interruptions with the real libusb (umockdev): the signal reaches the command while
libusb waits for the simulated device, libusb goes on waiting (it retries after EINTR), and the
command acts on the signal when the transfer is done."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from helpers.processes import GUARD_S, Child, SignalBench, class_requests, no_traceback, script
from particle_py.firmware.module import ModuleFunction
from particle_py.platforms import by_name
from particle_py.sim.contents import build_module, default_start

pytestmark = pytest.mark.umockdev

ROOT = Path(__file__).resolve().parents[2]
SIZE = 256 * 1024
START = default_start(by_name("p2"), ModuleFunction.USER_PART, 1, SIZE)


def _umockdev_missing():
    if not shutil.which("umockdev-wrapper"):
        return "umockdev-wrapper not installed (scripts/install-peers)"
    probe = subprocess.run(["/usr/bin/python3", "-c", "import gi; gi.require_version('UMockdev', '1.0')"],
                           capture_output=True)
    return None if probe.returncode == 0 else "python3-gi / gir1.2-umockdev-1.0 missing"


@pytest.fixture
def um(bench):
    missing = _umockdev_missing()
    if missing:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(missing)
        pytest.skip(missing)
    bench.create("p2")
    bench.app = build_module("p2", size=SIZE, seed=5)
    (bench.work / "app.bin").write_bytes(bench.app)
    return bench


def _start(bench, *command) -> Child:
    (bench.state / "paused").unlink(missing_ok=True)
    env = bench.env()
    env.pop("PARTICLE_PY_SIM")
    argv = [str(ROOT / "scripts" / "umockdev-run"), "--state", str(bench.state), "--", *command]
    return Child(argv, env, str(bench.work), use_pty=False)


def _command_pid(bridge_pid: int) -> int:
    """The command the bridge started (its only child)."""
    deadline = time.monotonic() + GUARD_S
    while time.monotonic() < deadline:
        children = Path(f"/proc/{bridge_pid}/task/{bridge_pid}/children").read_text().split()
        if children:
            return int(children[0])
        time.sleep(0.01)
    pytest.fail("the bridge started no command")


def _delivered(pid: int, sig: int) -> None:
    """kill() leaves the signal pending until the process takes it: wait until it has (libusb,
    woken in poll(), sees EINTR and waits on for the transfer)."""
    bit = 1 << (sig - 1)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                      if ":" in line)
        if not (int(fields["SigPnd"], 16) | int(fields["ShdPnd"], 16)) & bit:
            return
        time.sleep(0.002)
    pytest.fail("the signal was never taken")


def _interrupt(bench, child: Child, sig) -> None:
    paused = bench.state / "paused"
    deadline = time.monotonic() + GUARD_S
    while not paused.exists():
        assert child.proc.poll() is None, bytes(child.buffers["err"]).decode()
        assert time.monotonic() < deadline, "the device never paused"
        time.sleep(0.005)
    pid = _command_pid(child.pid)
    os.kill(pid, sig)
    _delivered(pid, sig)
    paused.unlink()


def _reference(bench, *command) -> list:
    done = _start(bench, *command).wait()
    assert done.status == 0, done.err
    dnloads = class_requests(bench.log(), 1)
    blocks = [n for n, e in enumerate(dnloads, 1) if e["wValue"] >= 2 and e["wLength"]]
    bench.create("p2")
    bench.clear_log()
    return blocks


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_flash_under_umockdev_stops_between_chunks_and_says_where(um, sig):
    command = (script("particle"), "flash", "--usb", "app.bin")
    blocks = _reference(um, *command)
    um.set_knobs(PAUSE_AFTER=f"1@{blocks[len(blocks) // 2]}")
    child = _start(um, *command)
    _interrupt(um, child, sig)
    got = child.wait()
    no_traceback(got.out, got.err)
    assert (got.status, got.signalled) == (128 + sig, False)
    found = re.search(r"app\.bin was written only up to 0x([0-9a-f]{8}) ", got.err)
    assert found, got.err
    reached = int(found.group(1), 16)
    held = um.peek(0, START, SIZE)
    assert START < reached < START + SIZE
    assert held[:reached - START] == um.app[:reached - START] and held[reached - START:] != um.app[reached - START:]


def test_our_dfu_util_under_umockdev_dies_by_the_signal_and_the_state_is_saved(um):
    command = (script("dfu-util"), "-a", "0", "-s", f"0x{START:08x}", "-D", "app.bin")
    blocks = _reference(um, *command)
    um.set_knobs(PAUSE_AFTER=f"1@{blocks[len(blocks) // 2]}")
    child = _start(um, *command)
    _interrupt(um, child, signal.SIGINT)
    got = child.wait()
    no_traceback(got.out, got.err)
    assert got.status == 130                     # the bridge passes on 128 + the signal that ended it
    held = um.peek(0, START, SIZE)
    written = next(i for i in range(0, SIZE + 1, 4096) if i == SIZE or held[i:i + 4096] != um.app[i:i + 4096])
    assert 0 < written < SIZE and held[written:] == b"\xff" * (SIZE - written)
