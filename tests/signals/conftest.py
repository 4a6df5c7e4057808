"""Console scripts as real processes: the harness is tests/helpers/processes.py."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))      # tests/helpers as `helpers`

from helpers.processes import SignalBench  # noqa: E402


@pytest.fixture
def bench(tmp_path):
    return SignalBench(tmp_path)
