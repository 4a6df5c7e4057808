import sys
from pathlib import Path

import pytest

# The bench is a development tool (tools/bench.py), not part of the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """particle-cli config under tmp_path, with the first-flash notice already shown."""
    from helpers.home import isolate_home
    return isolate_home(tmp_path, monkeypatch)
