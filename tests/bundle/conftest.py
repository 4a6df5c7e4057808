import json
import os
import socket
import sys
from pathlib import Path

import pytest

# tests/helpers is shared test code; make it importable as `helpers`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.cli import run  # noqa: E402,F401  (the shared fixtures)
from helpers.home import isolated_home  # noqa: E402,F401
from helpers.simulator import sim_fixture  # noqa: E402

# Resolved before a test moves HOME: Particle's Device OS files in particle-cli's npm packages
PEERS = Path(os.environ.get("PARTICLE_PY_PEERS") or Path.home() / ".cache" / "particle-py-peers")
UPDATE_CLIS = ("2.16.0", "3.9.0")

sim = sim_fixture()


@pytest.fixture
def release_dirs(monkeypatch):
    """The folders with Particle's module files (never downloaded, never in the repository)."""
    monkeypatch.delenv("PARTICLE_PY_DEVICE_OS_FROM", raising=False)
    dirs = [PEERS / f"particle-cli-{c}" / "node_modules" / "particle-cli" / "assets" / "updates" for c in UPDATE_CLIS]
    if not all(d.is_dir() for d in dirs):
        pytest.skip(f"particle-cli {', '.join(UPDATE_CLIS)} not in the peer cache {PEERS} (scripts/install-peers --npm)")
    return [str(d) for d in dirs]


@pytest.fixture
def no_network(isolated_home, monkeypatch):
    """Every download and the cloud API go to a loopback port nothing listens on."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("PARTICLE_PY_ASSET_URL", f"http://127.0.0.1:{port}")
    config = isolated_home / ".particle" / "particle.config.json"
    config.write_text(json.dumps({**json.loads(config.read_text()), "apiUrl": f"http://127.0.0.1:{port}",
                                  "access_token": "0" * 40}))
    return port


@pytest.fixture
def save(run, release_dirs):
    """`particle update --save-bundle` of a platform's release from the peer cache's files."""
    def make(path, platform, *more):
        args = ["update", "--save-bundle", path, "--platform", platform, "--no-download"]
        for d in release_dirs:
            args += ["--from", d]
        code, out, err = run(*args, *more)
        assert code == 0, err
        return out
    return make
