"""Prerequisites of the real-libusb tier: skip with a clear reason, or fail when CI=true."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PEERS = Path(os.environ.get("PARTICLE_PY_PEERS", Path.home() / ".cache" / "particle-py-peers"))
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(ROOT / "tools"))          # the umockdev bridge (a development tool)
from differential import umockdev_missing  # noqa: E402  (one check, shared with the CLI run)


def real_dfu_util_missing() -> str | None:
    return None if os.access("/usr/bin/dfu-util", os.X_OK) else "/usr/bin/dfu-util not installed"


def need(reason: str | None) -> None:
    """Skip for a missing prerequisite; in CI a missing prerequisite is a failure."""
    if reason:
        if IN_CI:
            pytest.fail(f"umockdev tier prerequisite missing in CI: {reason}")
        pytest.skip(f"umockdev tier skipped: {reason}")


@pytest.fixture(scope="session")
def umockdev():
    need(umockdev_missing())
    return ROOT / "scripts" / "umockdev-run"


@pytest.fixture(scope="session")
def real_dfu_util(umockdev):
    need(real_dfu_util_missing())
    return "/usr/bin/dfu-util"


def particle_cli(version: str) -> Path | None:
    path = PEERS / f"particle-cli-{version}" / "node_modules" / ".bin" / "particle"
    return path if path.exists() else None


def _ensure_cli(version: str) -> Path:
    if particle_cli(version) is None and shutil.which("npm"):
        # installs from the npm registry into the peer cache (idempotent; not in the repo)
        subprocess.run([str(ROOT / "scripts" / "install-peers"), "--npm"], capture_output=True, timeout=600)
    path = particle_cli(version)
    need(None if path else f"particle-cli {version} not installed (scripts/install-peers --npm; needs npm)")
    return path


@pytest.fixture(scope="session")
def cli_old(umockdev):
    return _ensure_cli("1.16.0")


@pytest.fixture(scope="session")
def cli_new(umockdev):
    return _ensure_cli("3.43.1")


@pytest.fixture(scope="session")
def cli351(umockdev):
    """particle-cli 3.51.0 on Node 22 from the peer cache: the argv that starts it."""
    import cli351 as judge

    if judge.missing() and shutil.which("npm"):
        subprocess.run([str(ROOT / "scripts" / "install-peers"), "--npm"], capture_output=True, timeout=900)
    need(judge.missing())
    return [str(judge.node()), str(judge.cli_entry())]
