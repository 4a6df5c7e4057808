"""The real dfu-util and ours, side by side over the real libusb (see differential.py).

Here: every scenario of compat/ plus the first added case of each kind. The full set (and
the CI summary line) is ``.venv/bin/python tests/umockdev/differential.py``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import differential  # noqa: E402

pytestmark = pytest.mark.umockdev


def _selection() -> list:
    cases = differential.all_cases()
    chosen, kinds = [], set()
    for case in cases:
        kind = case.name.split("_", 1)[0]
        if case.source == "compat" or kind not in kinds:
            chosen.append(case)
            kinds.add(kind)
    return chosen


@pytest.mark.parametrize("case", _selection(), ids=lambda c: c.name)
def test_ours_matches_the_real_dfu_util(case, real_dfu_util):
    missing = differential.prerequisites_missing()
    if missing:
        pytest.skip(missing)
    diffs = differential.differences(case)
    assert not diffs, f"dfu-util {' '.join(case.args)} [{','.join(case.profiles)} {case.knobs}]:\n" + \
        "\n".join(diffs)


def test_the_comparison_sees_a_difference(real_dfu_util, tmp_path):
    """A different exit status, output and device content must each be reported."""
    case = differential.Case("probe", ["photon"], ["-a", "0", "-s", "0x08020000", "-D", "fw.bin"],
                             files={"fw.bin": differential.payload(100)})
    real = differential.run_case(case, "real")
    other = differential.run_case(differential.Case("probe2", ["photon"], ["-a", "0", "-s", "0x08040000", "-D",
                                                                          "fw.bin"], files=case.files), "real")
    diffs = differential.compare(real, other)
    assert any(d.startswith("stdout differs") for d in diffs)
    assert any(d.startswith("memory differs: unit0-alt0.bin") for d in diffs)
    assert any(d.startswith("requests on the wire differ") for d in diffs)
    assert differential.compare(real, real) == []


def test_progress_repaints_and_bug_address_are_the_only_normalisations():
    text = ("dfu-util 0.11\n\nCopyright 2005-2009 Weston Schmidt, Harald Welte and OpenMoko Inc.\n"
            "Copyright 2010-2021 Tormod Volden and Stefan Schmidt\n"
            "This program is Free Software and has ABSOLUTELY NO WARRANTY\n"
            "Please report bugs to somewhere\n\n"
            "\rErase   \t[                         ]   0%            0 bytes"
            "\rErase   \t[                         ]   0%            0 bytes"
            "\rErase   \t[=========================] 100%         5000 bytes\nErase    done.\n")
    out = differential.normalise(text)
    assert "Please report bugs to <address>\n" in out
    assert out.count("0%            0 bytes") == 1
    assert out.endswith("100%         5000 bytes\nErase    done.\n")
