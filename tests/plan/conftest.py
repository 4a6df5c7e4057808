import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "json"))


@pytest.fixture
def world(tmp_path, monkeypatch, capsys):
    from cloud_world import World

    w = World(tmp_path, monkeypatch, capsys)
    yield w
    w.stop()
