"""The whole recorded file through our dfu-util: every scenario of every version must pass.
Select it alone with `pytest -m replay`; the same run is `scripts/compat-replay compat/dfu-util/scenarios.md`."""
import io
from pathlib import Path

import pytest

from compat.replay import cli

RECORDED = Path(__file__).resolve().parents[2] / "compat" / "dfu-util" / "scenarios.md"


@pytest.mark.replay
def test_every_recorded_scenario_passes():
    out = io.StringIO()
    status = cli.main([str(RECORDED), "-j", "2"], out=out)
    lines = out.getvalue().splitlines()
    assert lines[-1] == "272 passed, 0 failed", "\n".join(lines[:40] + ["..."] + lines[-1:])
    assert status == 0
