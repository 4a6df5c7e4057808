"""The fault matrix's signal family (tests/faults/matrix.py, issue 23's block), cell by cell end
to end: real signals at spread DNLOAD steps, every report checked against the flash (the whole
table runs in scripts/fault-report)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "faults"))

import matrix  # noqa: E402


@pytest.mark.parametrize("op", ["update", "keys server"])
def test_signal_cell_is_truthful(op):
    """update: part-written modules told from the write record; keys server: a signal before the
    slot write said only "Interrupted." (now: the device still has its previous server key)."""
    result = matrix.run_cell(matrix.by_name(op), matrix.SIGNAL_FAMILY)
    assert result.runs >= 12
    assert result.failures == []
    assert {"old", "new"} <= set(result.device)
