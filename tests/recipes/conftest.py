import json
import re
import sys
from pathlib import Path

import pytest

# tests/helpers is shared test code; make it importable as `helpers`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

OWNER = "owner@example.com"


@pytest.fixture
def world(tmp_path, monkeypatch, capsys):
    """A simulator folder with a running cloud, its owner logged in, official files in the cache.

    Returns an object with .make(platform, **create options) -> device id, .cloud, .work, .led()."""
    from helpers.home import isolate
    from helpers.official import seed_server_keys
    from particle_py.cli.sim import main as particle_sim
    from particle_py.sim import cloud as sim_cloud

    state, work = tmp_path / "sim", tmp_path / "work"
    home = isolate(tmp_path, monkeypatch)
    (home / ".particle").mkdir()
    monkeypatch.setenv("PARTICLE_PY_SIM", str(state))
    seed_server_keys(tmp_path / "cache")

    class World:
        cloud = None

        def make(self, platform, *extra, **options):
            args = ["create", platform, "--owner", OWNER, *extra]
            for name, value in options.items():
                args += [f"--{name.replace('_', '-')}", value]
            capsys.readouterr()
            assert particle_sim(args) == 0, capsys.readouterr()
            line = capsys.readouterr().out.splitlines()[0]
            device_id = re.search(r" ([0-9a-f]{24}) ", line).group(1)
            if self.cloud is None:
                self.cloud = sim_cloud.start(state / "cloud" / "cloud.sqlite", handshakes=True)
                monkeypatch.setenv("PARTICLE_PY_CLOUD_HOSTS", f"@{state / 'cloud'}")
                token = self.cloud.db.issue_token(OWNER)
                (home / ".particle" / "particle.config.json").write_text(json.dumps(
                    {"apiUrl": self.cloud.url, "access_token": token, "username": OWNER,
                     "flashWarningShownOn": 1}))
            return device_id

        def led(self) -> str:
            """The LED of device 1 as `particle-sim status` shows it, e.g. 'breathing cyan'."""
            capsys.readouterr()
            assert particle_sim(["status"]) == 0
            text = capsys.readouterr().out
            led_line = next(ln for ln in text.splitlines() if ln.strip().startswith("LED: "))
            return led_line.strip()[5:].split(" (")[0]

    w = World()
    w.state, w.work, w.home, w.cache = state, work, home, tmp_path / "cache"
    yield w
    if w.cloud is not None:
        w.cloud.stop()

