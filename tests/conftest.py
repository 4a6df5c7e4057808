"""Fixtures shared by the test folders: an isolated home, data/cache dirs and working
folder, and a runner for the `particle` front end in-process (exact stdout, stderr, exit status)."""
from __future__ import annotations

import os

import pytest


@pytest.fixture
def home(tmp_path, monkeypatch):
    """HOME (particle-cli config), XDG data/cache (backups, assets) and cwd all under tmp_path."""
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    for var in ("home", "HOMEPATH", "USERPROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("PARTICLE_PY_ASSET_URL", raising=False)
    monkeypatch.chdir(work)
    return home


@pytest.fixture
def particle(capsys):
    """particle(*args) -> (exit status, stdout, stderr), run through the real front end."""
    from particle_py.cli.particle.main import main

    def run(*args):
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err
    return run
