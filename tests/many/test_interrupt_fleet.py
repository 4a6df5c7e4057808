"""Ctrl-C in the middle of `particle update --all` or `flash --usb --all`: every device stops at a safe point and the
summary says what each one holds and the command that finishes it."""
import os
import signal
import sys
import time

import pytest

from helpers.processes import SignalBench
from tests.doctor.conftest import device_os_folders

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="signals to a child process, /proc")


def _ctrl_c_while_paused(bench, child):
    """SIGINT once the boards wait at their paused DNLOAD (the PAUSE_AFTER knob), then let them
    go on; the child's outcome."""
    paused = bench.state / "paused"
    deadline = time.monotonic() + 60
    while not paused.exists():
        assert child.use_pty or child.proc.poll() is None, child.wait().out     # on a pty: the deadline
        assert time.monotonic() < deadline, "no device paused"
        time.sleep(0.01)
    time.sleep(0.3)                     # the other boards reach their pause too
    child.interrupt(signal.SIGINT)
    time.sleep(0.3)
    paused.unlink()
    return child.wait()

def test_ctrl_c_stops_every_device_and_reports_each(tmp_path):
    from particle_py.cli.sim import main as particle_sim

    bench = SignalBench(tmp_path)
    folders = device_os_folders()
    if not folders:
        pytest.skip("needs particle-cli's Device OS files in the peer cache (scripts/install-peers)")
    # every board waits (in wall time) at its 5th DNLOAD while the file 'paused' exists
    assert particle_sim(["create", "photon", "--count", "3", "--device-os", "1.4.4", "--state", str(bench.state),
                         "--fault", "PAUSE_AFTER=1@5"]) == 0
    child = bench.start("particle", "update", "--all", "--no-download",
                        PARTICLE_PY_DEVICE_OS_FROM=os.pathsep.join(folders))
    outcome = _ctrl_c_while_paused(bench, child)
    assert outcome.status == 130, outcome.out + outcome.err
    rows = outcome.out.splitlines()[-4:]
    assert rows[-1] == "0 of 3 devices: update succeeded."
    for row in rows[:3]:
        device_id = row.split()[0]
        assert " stopped: Update of Device OS 2.3.1 interrupted while writing photon-system-part" in row, row
        assert row.endswith(f"particle update {device_id}"), row
    assert "Traceback" not in outcome.err


@pytest.mark.parametrize("use_pty", [False, True], ids=["piped", "terminal"])
def test_ctrl_c_in_flash_all_says_what_each_device_holds(tmp_path, use_pty):
    from particle_py.cli.sim import main as particle_sim
    from particle_py.sim.contents import build_module

    bench = SignalBench(tmp_path)
    app = bench.work / "app.bin"
    app.write_bytes(build_module("photon", size=65536, seed=3))
    assert particle_sim(["create", "photon", "--count", "3", "--state", str(bench.state),
                         "--fault", "PAUSE_AFTER=1@5"]) == 0
    child = bench.start("particle", "flash", "--usb", "--all", "app.bin", use_pty=use_pty)
    outcome = _ctrl_c_while_paused(bench, child)
    assert outcome.status == 130, outcome.out + outcome.err
    rows = outcome.out.splitlines()[-4:]
    assert rows[-1].endswith(" of 3 devices: flash succeeded.") and not rows[-1].startswith("3 "), rows
    # a write under way is finished (never cut short); each row says what its device holds
    from particle_py.firmware import module
    from particle_py.sim.bus import SimBus

    payload = module.parse(app.read_bytes())
    boards = {d.profile.device_id: d for d in SimBus.load(bench.state).devices()}
    for row in rows[:3]:
        device_id = row.split()[0]
        if "  ok" in row:
            assert "flashed app.bin" in row
        else:
            assert " stopped: " in row and row.endswith(f"particle flash --usb {device_id} app.bin"), row
        if "everything was written" in row or "  ok" in row:
            held = boards[device_id].memory(0).peek(payload.prefix.start, len(payload.payload()))
            assert held == payload.payload(), row
    assert "Traceback" not in outcome.err
