"""`particle flash --usb` of a 1.5 MB P2 app, stopped by a signal before, during and after the
write: exit 128 + signal, a message that tells what the device holds (checked against the bytes
in the simulated flash), and the command that finishes the job (run, and it does)."""
from __future__ import annotations

import re
import signal

import pytest

from helpers.processes import SignalBench, class_requests, no_traceback
from particle_py.firmware.module import ModuleFunction
from particle_py.platforms import by_name
from particle_py.sim.contents import build_module, default_start

APP_SIZE = 1536 * 1024
P2 = by_name("p2")
START = default_start(P2, ModuleFunction.USER_PART, 1, APP_SIZE)
END = START + APP_SIZE


@pytest.fixture(scope="module")
def plan(tmp_path_factory):
    """An uninterrupted run on the same device gives the steps to stop at: the DNLOAD ordinals
    of the data blocks (the first erase and address commands are DNLOADs too)."""
    ref = SignalBench(tmp_path_factory.mktemp("reference"))
    ref.create("p2")
    app = build_module("p2", size=APP_SIZE, seed=7)
    (ref.work / "app.bin").write_bytes(app)
    done = ref.run("particle", "flash", "--usb", "app.bin", "--verify")
    assert done.status == 0, done.err
    assert ref.peek(0, START, APP_SIZE) == app
    dnloads = class_requests(ref.log(), 1)
    data = [n for n, e in enumerate(dnloads, 1) if e["wValue"] >= 2 and e["wLength"]]
    assert len(data) == APP_SIZE // 4096
    return {"app": app, "mid": data[len(data) // 2], "last": data[-1]}


@pytest.fixture
def p2(bench, plan):
    bench.create("p2")
    (bench.work / "app.bin").write_bytes(plan["app"])
    bench.before = bench.peek(0, START, APP_SIZE)
    assert bench.before != plan["app"]
    return bench


def _finish(bench, app):
    done = bench.run("particle", "flash", "--usb", "app.bin")
    assert done.status == 0 and "Flash success!" in done.out, done.out + done.err
    assert bench.peek(0, START, APP_SIZE) == app


# the first page head read, and one midway through the batch of heads (384 pages, one
# SET_ADDRESS): both before anything is erased or written
@pytest.mark.parametrize("pause_at", ["2@1", "2@200"], ids=["first-head", "mid-heads"])
@pytest.mark.parametrize("use_pty", [True, False], ids=["pty", "piped"])
def test_interrupted_before_any_write_leaves_the_device_as_it_was(p2, plan, use_pty, pause_at):
    p2.set_knobs(PAUSE_AFTER=pause_at)
    got = p2.run_interrupted("particle", "flash", "--usb", "app.bin", "--verify", use_pty=use_pty)
    text = got.out + got.err
    no_traceback(text)
    assert (got.status, got.signalled) == (130, False)
    assert f"Nothing of app.bin was written (0x{START:08x}-0x{END:08x} is as it was)." in text, text
    assert "To finish, run:\n  particle flash --usb app.bin --verify\n" in text.replace("\r\n", "\n")
    assert "Flash success!" not in text
    assert p2.peek(0, START, APP_SIZE) == p2.before
    p2.set_knobs()
    _finish(p2, plan["app"])


@pytest.mark.parametrize("use_pty,sig", [(True, signal.SIGINT), (False, signal.SIGINT), (False, signal.SIGTERM),
                                         (False, signal.SIGHUP)], ids=["pty-^C", "piped-INT", "piped-TERM",
                                                                       "piped-HUP"])
def test_interrupted_mid_write_says_up_to_where(p2, plan, use_pty, sig):
    p2.set_knobs(PAUSE_AFTER=f"1@{plan['mid']}")
    got = p2.run_interrupted("particle", "flash", "--usb", "app.bin", "--verify", sig=sig, use_pty=use_pty)
    text = (got.out + got.err).replace("\r\n", "\n")
    no_traceback(text)
    assert (got.status, got.signalled) == (128 + sig, False)
    label = "interrupted" if sig == signal.SIGINT else f"interrupted ({signal.Signals(sig).name})"
    found = re.search(rf"Flashing app\.bin {re.escape(label)} at 0x([0-9a-f]{{8}})\.\n", text)
    assert found, text
    reached = int(found.group(1), 16)
    assert (f"app.bin was written only up to 0x{reached:08x} (of 0x{START:08x}-0x{END:08x}); the device may "
            "not start until it is written whole.") in text
    assert "To finish, run:\n  particle flash --usb app.bin --verify\n" in text
    assert "Flash success!" not in text
    # the message is the truth: the app up to the reached address, not beyond
    assert START < reached < END and (reached - START) % 4096 == 0
    held = p2.peek(0, START, APP_SIZE)
    assert held[:reached - START] == plan["app"][:reached - START]
    assert held[reached - START:] != plan["app"][reached - START:]
    p2.set_knobs()
    _finish(p2, plan["app"])


def test_interrupted_after_the_last_block_says_written_but_not_verified(p2, plan):
    p2.set_knobs(PAUSE_AFTER=f"1@{plan['last']}")
    got = p2.run_interrupted("particle", "flash", "--usb", "app.bin", "--verify", use_pty=True)
    text = got.out.replace("\r\n", "\n")
    no_traceback(text)
    assert (got.status, got.signalled) == (130, False)
    assert (f"app.bin was sent but not read back to check it (0x{START:08x}-0x{END:08x}); treat it as NOT "
            "written.") in text
    assert "Flash success!" not in text
    assert p2.peek(0, START, APP_SIZE) == plan["app"]          # every byte went, none was checked


def test_the_simulator_folder_is_consistent_and_unlocked_after_an_interrupted_flash(p2, plan):
    """The simulator's state is saved whole (flash files and state.json agree) and its lock is
    free: the next command neither waits nor sees a torn state."""
    p2.set_knobs(PAUSE_AFTER=f"1@{plan['mid']}")
    got = p2.run_interrupted("particle", "flash", "--usb", "app.bin", sig=signal.SIGTERM)
    assert got.status == 143
    status = p2.run("particle-sim", "status")
    assert status.status == 0 and "DFU mode" in status.out, status.out + status.err
    log = p2.log()
    assert class_requests(log, 1)                # the wire log of the interrupted run was kept


def test_closing_the_terminal_mid_write_stops_at_a_chunk_and_exits_129(p2, plan):
    """Nobody can read the report any more; the status and the device still tell the truth, and
    the same command finishes the job."""
    p2.set_knobs(PAUSE_AFTER=f"1@{plan['mid']}")
    got = p2.run_interrupted("particle", "flash", "--usb", "app.bin", hang_up=True)
    assert (got.status, got.signalled) == (129, False)
    held = p2.peek(0, START, APP_SIZE)
    written = next(i for i in range(0, APP_SIZE, 4096) if held[i:i + 4096] != plan["app"][i:i + 4096])
    assert 0 < written and held[:written] == plan["app"][:written]
    p2.set_knobs()
    _finish(p2, plan["app"])
