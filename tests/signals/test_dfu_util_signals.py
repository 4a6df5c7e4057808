"""`dfu-util -D` stopped by a signal ends as the C program does: killed by that signal, nothing
printed after its own lines, no traceback; the simulator's folder is saved whole and unlocked, and
the device holds the image up to a block boundary (dfu-util 0.11 erases first, then writes)."""
from __future__ import annotations

import signal

import pytest

from helpers.processes import SignalBench, class_requests, no_traceback
from particle_py.firmware.module import ModuleFunction
from particle_py.platforms import by_name
from particle_py.sim.contents import build_module, default_start

SIZE = 512 * 1024
START = default_start(by_name("p2"), ModuleFunction.USER_PART, 1, SIZE)
ARGS = ("dfu-util", "-a", "0", "-s", f"0x{START:08x}", "-D", "app.bin")


@pytest.fixture(scope="module")
def blocks(tmp_path_factory):
    ref = SignalBench(tmp_path_factory.mktemp("reference"))
    ref.create("p2")
    app = build_module("p2", size=SIZE, seed=3)
    (ref.work / "app.bin").write_bytes(app)
    done = ref.run(*ARGS)
    assert done.status == 0, done.err
    dnloads = class_requests(ref.log(), 1)
    data = [n for n, e in enumerate(dnloads, 1) if e["wValue"] >= 2 and e["wLength"]]
    return {"app": app, "mid": data[len(data) // 2], "last": data[-1]}


@pytest.fixture
def p2(bench, blocks):
    bench.create("p2")
    (bench.work / "app.bin").write_bytes(blocks["app"])
    return bench


@pytest.mark.parametrize("use_pty,sig", [(True, signal.SIGINT), (False, signal.SIGINT), (False, signal.SIGTERM)],
                         ids=["pty-^C", "piped-INT", "piped-TERM"])
def test_dfu_util_download_dies_by_the_signal_between_blocks(p2, blocks, use_pty, sig):
    p2.set_knobs(PAUSE_AFTER=f"1@{blocks['mid']}")
    got = p2.run_interrupted(*ARGS, sig=sig, use_pty=use_pty)
    no_traceback(got.out, got.err)
    assert (got.status, got.signalled) == (128 + sig, True)
    assert "Download done." not in got.out and "File downloaded successfully" not in got.out
    held = p2.peek(0, START, SIZE)
    written = next(i for i in range(0, SIZE + 1, 4096) if i == SIZE or held[i:i + 4096] != blocks["app"][i:i + 4096])
    assert 0 < written < SIZE
    assert held[:written] == blocks["app"][:written]
    assert held[written:] == b"\xff" * (SIZE - written)          # erased, not yet written
    # the folder is saved and unlocked: the same command, run again, finishes the job
    p2.set_knobs()
    again = p2.run(*ARGS)
    assert again.status == 0, again.err
    assert p2.peek(0, START, SIZE) == blocks["app"]


def test_dfu_util_signalled_as_it_finishes_leaves_no_traceback(p2, blocks):
    """The last block: the old simulator printed a traceback from its log flush here."""
    p2.set_knobs(PAUSE_AFTER=f"1@{blocks['last']}")
    got = p2.run_interrupted(*ARGS, use_pty=True)
    no_traceback(got.out)
    assert (got.status, got.signalled) == (130, True)
    assert p2.peek(0, START, SIZE) == blocks["app"]
    status = p2.run("particle-sim", "status")
    assert status.status == 0, status.err
