import json

import pytest


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """particle-cli config under tmp_path, with the first-flash notice already shown."""
    home = tmp_path / "home"
    (home / ".particle").mkdir(parents=True)
    (home / ".particle" / "particle.config.json").write_text(json.dumps({"flashWarningShownOn": 1}))
    for var in ("home", "HOMEPATH", "USERPROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return home
