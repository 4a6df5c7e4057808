"""`particle doctor` over the real libusb (umockdev), as a separate process: the seed Photon and an
Argon with the OpenSSL 3 key, diagnosed and repaired to breathing cyan. The system libusb is used:
the doctor re-enumerates the device (normal -> DFU -> normal) and only it sees that (docs/umockdev.md)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.doctor.conftest import IDS

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "umockdev"))
from differential import umockdev_missing  # noqa: E402

pytestmark = pytest.mark.umockdev
PARTICLE = Path(sys.executable).parent / "particle"


@pytest.fixture
def umockdev():
    reason = umockdev_missing()
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"umockdev tier prerequisite missing in CI: {reason}")
        pytest.skip(f"umockdev tier skipped: {reason}")
    return ROOT / "scripts" / "umockdev-run"


def run_doctor(world, umockdev, *args) -> subprocess.CompletedProcess:
    env = dict(os.environ, HOME=str(world.home), XDG_DATA_HOME=str(world.tmp / "data"),
               XDG_CACHE_HOME=str(world.tmp / "cache"), PARTICLE_PY_LIBUSB="system")
    env.pop("PARTICLE_PY_SIM", None)            # the device is reached through umockdev, not in-process
    return subprocess.run([str(umockdev), "--state", str(world.state), "--", str(PARTICLE), "doctor", *args],
                          cwd=world.work, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize("name, options, finding", [
    ("photon", ("--key", "corrupt", "--server-key", "wrong"), "is not a key (612 bytes that do not parse as DER)"),
    ("argon", ("--key", "pkcs8"), "bytes of PKCS#8, as OpenSSL 3 writes it; Device OS reads 192 bytes"),
    ("electron", ("--server-key", "wrong"), "is a valid EC key, but not Particle's UDP server key"),
    ("boron", ("--key", "missing"), "the device key in the DCT at 3106 is empty"),
    ("p2", ("--key", "corrupt", "--server-key", "missing"), "the server key in the DCT at 3298 is empty"),
])
def test_doctor_over_the_real_libusb(world, umockdev, name, options, finding):
    world.create(name, *options, owner=False)
    assert not world.led().startswith("LED: breathing cyan")
    proc = run_doctor(world, umockdev, "--dry-run")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{IDS[name]}, running its firmware" in proc.stdout
    assert finding in proc.stdout
    proc = run_doctor(world, umockdev, "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"Successfully claimed device {IDS[name]}" in proc.stdout
    assert proc.stdout.splitlines()[-2] == "The device should now show: breathing cyan."
    assert world.led().startswith("LED: breathing cyan (connected to the cloud)")
