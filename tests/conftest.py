"""Fixtures shared by the test folders: an isolated home, data/cache dirs and working
folder, and a runner for the `particle` front end in-process (exact stdout, stderr, exit status)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))        # tests/helpers as `helpers`

from helpers.cli import particle  # noqa: E402,F401  (particle(*args) -> (exit status, stdout, stderr))


@pytest.fixture
def home(tmp_path, monkeypatch):
    """HOME (particle-cli config), XDG data/cache (backups, assets) and cwd all under tmp_path."""
    from helpers.home import isolate

    return isolate(tmp_path, monkeypatch)
