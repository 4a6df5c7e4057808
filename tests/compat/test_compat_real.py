"""--real: the recorded 0.11 blocks against the real dfu-util under scripts/umockdev-run."""
import io
import shutil
from pathlib import Path

import pytest

from compat.replay import cli
from compat.replay.runner import real_missing

RECORDED = Path(__file__).resolve().parents[2] / "compat" / "dfu-util" / "scenarios.md"

pytestmark = [pytest.mark.umockdev,
              pytest.mark.skipif(bool(real_missing()) or not shutil.which("umockdev-wrapper"),
                                 reason="needs /usr/bin/dfu-util and umockdev")]


@pytest.mark.parametrize("name", ["list_photon", "no_device", "dfuse_ul_exists"])
def test_real_dfu_util_replays_a_recorded_scenario(name):
    out = io.StringIO()
    status = cli.main(["--real", "-k", name, str(RECORDED)], out=out)
    assert (out.getvalue(), status) == ("1 passed, 0 failed\n", 0)
