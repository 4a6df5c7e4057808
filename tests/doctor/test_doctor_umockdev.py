"""`particle doctor` over the real libusb (umockdev), as a separate process, diagnosing and repairing
to breathing cyan: the seed Photon, a key or server-key cause on each platform, and on each platform
whose firmware the boot model checks a cause on the Device OS/app path (Device OS restored by
`particle update`'s operation, or Tinker flashed). The causes are reached in-process with the
commands users run (tests/doctor/test_causes.py). The system libusb is used: the doctor
re-enumerates the device (normal -> DFU -> normal) and only it sees that (docs/umockdev.md)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.doctor.conftest import IDS
from tests.doctor.test_causes import CAUSES, STAND_IN_RELEASE

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


@pytest.mark.parametrize("name, cause", [
    ("photon", "device-os-cut-short"),
    ("electron", "app-needs-newer-device-os"),
    ("argon", "app-needs-newer-device-os"),
    ("boron", "device-os-cut-short"),
    ("p2", "device-os-cut-short"),
    ("p2", "app-needs-newer-device-os"),
])
def test_doctor_repairs_device_os_and_app_causes_over_the_real_libusb(world, umockdev, name, cause):
    how, codes, led, _platforms = CAUSES[cause]
    world.create(name)
    if name in STAND_IN_RELEASE:                 # no release pinned: stand-ins from a folder
        world.stand_in_release(name, STAND_IN_RELEASE[name])
    how(world, name)
    assert world.led().startswith(f"LED: {led} (")
    proc = run_doctor(world, umockdev, "--dry-run", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(proc.stdout)
    assert codes <= {f["code"] for f in report["diagnosis"]["findings"] if f["problem"]}, proc.stdout
    assert report["diagnosis"]["led_now"] == led
    proc = run_doctor(world, umockdev, "--yes")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    if report["diagnosis"]["mode"] == "DFU":
        # found offline in DFU mode, and the simulated cloud sees the restart only once the process
        # ends: whether the cloud holds its key is not known to the doctor
        assert proc.stdout.splitlines()[-2] == ("The device should now show: breathing cyan if the cloud holds the "
                                                "device's public key, else blinking cyan with 1 orange burst.")
    else:
        assert proc.stdout.splitlines()[-2] == "The device should now show: breathing cyan."
    assert world.led().startswith("LED: breathing cyan (connected to the cloud)")
