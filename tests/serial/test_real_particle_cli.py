"""The real particle-cli 3.43.1 against simulated devices under umockdev (their serial port is
an emulated tty, their USB interface the umockdev bridge): `serial list`, `identify`,
`serial inspect`, `serial mac` print exactly what particle-py prints for the same device, and
`serial wifi` stores the same credentials in the device model."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.serial_profiles import DEVICE_IDS, profile

ROOT = Path(__file__).resolve().parents[2]
PEERS = Path(os.environ.get("PARTICLE_PY_PEERS", Path.home() / ".cache" / "particle-py-peers"))
CLI = PEERS / "particle-cli-3.43.1" / "node_modules" / ".bin" / "particle"

pytestmark = pytest.mark.umockdev


@pytest.fixture(scope="module")
def real_cli():
    sys.path.insert(0, str(ROOT / "tests" / "umockdev"))
    from differential import umockdev_missing

    reason = umockdev_missing() or (None if CLI.exists() else "particle-cli 3.43.1 not in the peer cache "
                                    "(scripts/install-peers --npm)")
    if reason:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"prerequisite missing in CI: {reason}")
        pytest.skip(reason)
    return CLI


def _env(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PARTICLE_PY_SIM"}
    env["HOME"] = str(tmp_path / "home")
    env["NO_COLOR"] = "1"
    return env


def run_real(state, tmp_path, *args):
    proc = subprocess.run([str(ROOT / "scripts" / "umockdev-run"), "--state", str(state), "--", str(CLI), *args],
                          env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    return proc.returncode, proc.stdout


def run_ours(state, tmp_path, *args):
    env = _env(tmp_path)
    env["PARTICLE_PY_SIM"] = str(state)
    proc = subprocess.run([sys.executable, "-m", "particle_py", *args], env=env, capture_output=True, text=True,
                          timeout=120)
    return proc.returncode, proc.stdout


@pytest.mark.parametrize("spec,seed,listen", [
    (profile("photon", fw="2.3.1"), True, False),
    (profile("electron", fw="2.3.1"), True, True),      # IMEI/ICCID over the tty in listening mode
    (profile("boron", fw="6.1.0"), True, False),        # 5.6+ module info: max size, UUID
    (profile("argon", fw="4.2.0"), False, False),
])
def test_real_particle_cli_prints_what_we_print(sim, real_cli, tmp_path, spec, seed, listen):
    s = sim(spec)
    if seed:
        s.seed()
    if listen:
        assert run_ours(s.dir, tmp_path, "usb", "start-listening")[0] == 0
    for command in (["serial", "list"], ["identify"], ["serial", "inspect"], ["serial", "mac"]):
        real = run_real(s.dir, tmp_path, *command)
        ours = run_ours(s.dir, tmp_path, *command)
        assert real == ours, command
        assert real[0] == 0


def test_real_particle_cli_wifi_stores_what_we_store(sim, real_cli, tmp_path):
    (tmp_path / "w.json").write_text(json.dumps({"network": "home net", "security": "WPA2_AES+TKIP",
                                                "password": "s3cret!"}))
    stored = []
    for runner in (run_real, run_ours):
        s = sim(profile("photon"))
        assert run_ours(s.dir, tmp_path, "usb", "start-listening")[0] == 0
        code, out = runner(s.dir, tmp_path, "serial", "wifi", "--file", tmp_path / "w.json")
        assert (code, out.splitlines()[-1]) == (0, "Done! Your device should now restart.")
        stored.append(s.wifi())
    assert stored[0] == stored[1] == [{"ssid": "home net", "security": "WPA2", "cipher": "AES+TKIP",
                                       "password": "s3cret!"}]
    assert DEVICE_IDS["photon"]
