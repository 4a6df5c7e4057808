"""A simulator folder with a running simulated cloud and its owner logged in (as tests/recipes'
world): the JSON and plan tests run real flows against it."""
from __future__ import annotations

import json
import re

OWNER = "owner@example.com"


class World:
    cloud = None

    def __init__(self, tmp_path, monkeypatch, capsys):
        from helpers.home import isolate
        from helpers.official import seed_server_keys

        self.state, self.work = tmp_path / "sim", tmp_path / "work"
        self.home = isolate(tmp_path, monkeypatch)
        (self.home / ".particle").mkdir()
        monkeypatch.setenv("PARTICLE_PY_SIM", str(self.state))
        seed_server_keys(tmp_path / "cache")
        self._capsys = capsys

    def sim(self, *args) -> str:
        from particle_py.cli.sim import main as particle_sim

        self._capsys.readouterr()
        code = particle_sim(list(args))
        out = self._capsys.readouterr().out
        assert code == 0, out
        return out

    def make(self, platform, *extra, **options) -> list[str]:
        """Devices of ``platform`` (``--count``-like: extra args pass to `particle-sim create`); their ids."""
        args = ["create", platform, "--owner", OWNER, *extra]
        for name, value in options.items():
            args += [f"--{name.replace('_', '-')}", value]
        out = self.sim(*args)
        ids = re.findall(r" ([0-9a-f]{24}) ", out)
        if self.cloud is None:
            from particle_py.sim import cloud as sim_cloud

            self.cloud = sim_cloud.start(self.state / "cloud" / "cloud.sqlite")
            self.token = self.cloud.db.issue_token(OWNER)
            (self.home / ".particle" / "particle.config.json").write_text(json.dumps(
                {"apiUrl": self.cloud.url, "access_token": self.token, "username": OWNER,
                 "flashWarningShownOn": 1}))
        return ids

    def stop(self) -> None:
        if self.cloud is not None:
            self.cloud.stop()
