"""Fixtures for the keys tests: an isolated home, data/cache dirs and working folder,
and a runner for the `particle` front end in-process (exact stdout, stderr, exit status)."""
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


def mode(path) -> int:
    return os.stat(path).st_mode & 0o777


@pytest.fixture
def cloud(tmp_path, home):
    """A simulated cloud on loopback, with particle-cli's config pointing at it."""
    import json

    from particle_py.sim import cloud as sim_cloud

    running = sim_cloud.start(tmp_path / "cloud" / "cloud.sqlite")
    running.db.add_user("alice@example.com", "correct horse")
    (home / ".particle").mkdir(exist_ok=True)
    (home / ".particle" / "particle.config.json").write_text(json.dumps({"apiUrl": running.url}))
    yield running
    running.stop()


@pytest.fixture
def logged_in(cloud, home):
    """alice is logged in (token in the config, as particle-cli leaves it)."""
    import json

    token = cloud.db.issue_token("alice@example.com")
    path = home / ".particle" / "particle.config.json"
    path.write_text(json.dumps({"apiUrl": cloud.url, "access_token": token, "username": "alice@example.com"}))
    return token
