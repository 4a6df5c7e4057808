"""The fault matrix's signal family (tests/faults/matrix.py, issue 23's block), one cell end to
end: real signals at spread DNLOAD steps of `particle update`, every report checked against the
flash (the whole table runs in scripts/fault-report)."""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))

import matrix  # noqa: E402


def test_update_x_signal_cell_is_truthful():
    result = matrix.run_cell(matrix.by_name("update"), matrix.SIGNAL_FAMILY)
    assert result.runs >= 20
    assert result.failures == []
    # the steps reach every state: untouched, part-written, and finished
    assert {"old", "partial", "new"} <= set(result.device)
