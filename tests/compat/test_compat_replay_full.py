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


@pytest.mark.replay
def test_new_combinations_pass():
    out = io.StringIO()
    status = cli.main([str(RECORDED.with_name("new-combinations-0.11.md"))], out=out)
    assert (out.getvalue().splitlines()[-1], status) == ("20 passed, 0 failed", 0), out.getvalue()
