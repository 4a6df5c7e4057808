"""Particle's official files (server keys, Tinker) for tests, from the particle-cli npm package
that scripts/install-peers puts in the peer cache; never from the repository (brief)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

PEERS = Path(os.environ.get("PARTICLE_PY_PEERS", Path.home() / ".cache" / "particle-py-peers"))
PACKAGE = PEERS / "particle-cli-3.43.1" / "node_modules" / "particle-cli"


def official_file(path: str) -> Path:
    """``path`` inside particle-cli's repository (assets/keys/rsa.pub.der ...), from the npm package."""
    found = PACKAGE / path
    if not found.is_file():
        pytest.skip(f"particle-cli 3.43.1 is not in the peer cache ({found}); run scripts/install-peers --npm")
    return found


def seed_asset_cache(cache_home: Path, path: str, sha256: str) -> Path:
    """Put an official file where particle_py.assets looks first (XDG_CACHE_HOME), so commands
    that download it find it without a network."""
    target = Path(cache_home) / "particle-py" / "assets" / sha256[:16] / path
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(official_file(path), target)
    return target


def seed_server_keys(cache_home: Path) -> None:
    from particle_py.ops.keys import DEFAULT_SERVER_KEYS
    for path, sha256 in DEFAULT_SERVER_KEYS.values():
        seed_asset_cache(cache_home, path, sha256)
