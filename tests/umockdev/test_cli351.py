"""particle-cli 3.51.0 judges particle-py: every row of cli351_cases.py, run by both tools on
copies of one simulated device under umockdev, must end with the same exit statuses, the same
output (minus the written-down differences) and the same device (mode, LED, flash bytes)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import cli351  # noqa: E402
from cli351_cases import CASES, DIFFERENCES  # noqa: E402

# the `cli351` fixture (conftest.py) skips, or fails in CI, when 3.51.0 or Node 22 is missing
pytestmark = [pytest.mark.umockdev, pytest.mark.peers, pytest.mark.usefixtures("cli351")]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_351_and_ours_leave_the_same(case, tmp_path):
    reason = cli351.skip_reason(case)
    if reason:
        pytest.skip(reason)
    result = cli351.run_case(case, tmp_path)
    assert len(result.theirs.steps) == len(case.steps)
    assert not result.differences(), "\n".join(result.differences())


def test_the_judge_sees_a_device_that_differs(tmp_path):
    """The comparison can fail: one side's device put in listening mode shows up."""
    case = next(c for c in CASES if c.id == "usb-list-argon-normal")
    result = cli351.run_case(case, tmp_path)
    assert result.differences() == []
    listening = cli351.Case("listen", "argon", "normal", (("usb", "start-listening"),))
    cli351._run_side(listening, [str(cli351.our_particle())], tmp_path / "again", tmp_path / "origin",
                     {"PARTICLE_PY_LIBUSB": "system"})
    after = cli351.device_after(tmp_path / "again" / "state")
    assert after[0]["led"] == "blinking blue" and result.theirs.device[0]["led"] == "breathing cyan"
    assert after[0]["flash"] == result.theirs.device[0]["flash"]


def test_every_written_down_difference_is_used():
    used = {key for case in CASES for key in case.differences}
    assert used == set(DIFFERENCES)
