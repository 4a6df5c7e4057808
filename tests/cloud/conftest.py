"""Fixtures for the cloud tests (home and the particle runner are in tests/conftest.py)."""
from __future__ import annotations

import pytest

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
