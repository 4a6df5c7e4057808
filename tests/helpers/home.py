"""An isolated particle-cli home for a test: config under tmp_path, first-flash notice shown."""
from __future__ import annotations

import json


def isolate_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".particle").mkdir(parents=True)
    (home / ".particle" / "particle.config.json").write_text(json.dumps({"flashWarningShownOn": 1}))
    for var in ("home", "HOMEPATH", "USERPROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return home
