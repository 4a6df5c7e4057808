"""A test's own home: HOME (particle-cli's config), the XDG data and cache folders (backups,
downloaded assets) and the working folder, all under tmp_path."""
from __future__ import annotations

import json

import pytest


def isolate(tmp_path, monkeypatch):
    """HOME, XDG data/cache and the working folder under tmp_path; no particle-cli config yet."""
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    for var in ("home", "HOMEPATH", "USERPROFILE", "PARTICLE_PY_ASSET_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(work)
    return home


def isolate_home(tmp_path, monkeypatch):
    """``isolate``, with a particle-cli config whose first-flash notice was already shown."""
    home = isolate(tmp_path, monkeypatch)
    (home / ".particle").mkdir(exist_ok=True)
    (home / ".particle" / "particle.config.json").write_text(json.dumps({"flashWarningShownOn": 1}))
    return home


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """Every test of a folder whose conftest imports this: ``isolate_home``."""
    return isolate_home(tmp_path, monkeypatch)
