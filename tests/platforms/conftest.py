import sys
from pathlib import Path

import pytest

# tests/helpers is shared test code; make it importable as `helpers`.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.cli import run  # noqa: E402,F401  (the shared fixtures)
from helpers.home import isolated_home  # noqa: E402,F401
from helpers.simulator import sim_fixture  # noqa: E402

sim = sim_fixture()


@pytest.fixture
def cloud(tmp_path, isolated_home, monkeypatch):
    """The simulated cloud, with a logged-in user in particle-cli's config; it answers the
    devices' handshakes where the settings say the cloud is."""
    import json

    from particle_py.sim import cloud as sim_cloud

    running = sim_cloud.start(tmp_path / "sim" / "cloud" / "cloud.sqlite", handshakes=True)
    monkeypatch.setenv("PARTICLE_PY_CLOUD_HOSTS", f"@{tmp_path / 'sim' / 'cloud'}")
    running.db.add_user("alice@example.com", "pw")
    token = running.db.issue_token("alice@example.com")
    (isolated_home / ".particle" / "particle.config.json").write_text(
        json.dumps({"apiUrl": running.url, "access_token": token, "flashWarningShownOn": 1}))
    yield running
    running.stop()
