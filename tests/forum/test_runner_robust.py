"""The forum runner never dies on one scenario, and finds Particle's official files (server keys,
Tinker) in particle-cli's npm package in the peer cache."""
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from forum_replay import runner
from forum_replay.scenario import parse

ROOT = Path(__file__).resolve().parents[2]
TRANSCRIPT = sorted(runner.TRANSCRIPTS.glob("*.txt"))[0].name


def scenario(body: str, name="x"):
    return parse(f"title: t\ntranscript: {TRANSCRIPT}\n{body}", ROOT / f"{name}.scenario")


def test_a_missing_file_in_holds_is_that_scenarios_failure():
    sc = scenario("devices: photon:real=1\n\n$ dfu-util -l\nexit: 0\nholds: 0 0x080a0000 never-made.bin\n")
    result = runner.run(sc)
    assert result.status == "failed"
    assert result.detail.startswith("step 1 `dfu-util -l`: holds: never-made.bin: No such file or directory")


def test_a_scenario_that_breaks_the_runner_fails_alone_with_the_reason():
    sc = scenario("devices: photon:real=1\nfirmware: user-app not-a-number\n\n$ dfu-util -l\nexit: 0\n")
    result = runner.run(sc)
    assert result.status == "failed"
    assert result.detail.startswith("the scenario could not run: ValueError: invalid literal for int()")


def test_the_run_goes_on_and_prints_its_summary_after_a_broken_scenario(tmp_path):
    broken = tmp_path / "001-broken.scenario"
    broken.write_text(f"title: t\ntranscript: {TRANSCRIPT}\ndevices: photon:real=1\n"
                      "firmware: user-app not-a-number\n\n$ dfu-util -l\n", encoding="utf-8")
    fine = tmp_path / "002-fine.scenario"
    fine.write_text(f"title: t\ntranscript: {TRANSCRIPT}\ndevices: none\n\n$ dfu-util -l\nexit: any\n",
                    encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "forum_replay", str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT / "compat"), "PATH": "/usr/bin:/bin"})
    lines = proc.stdout.splitlines()
    assert lines[0].startswith("FAIL    001-broken: the scenario could not run: ValueError")
    assert lines[1] == "PASS    002-fine"
    assert lines[-1] == "1 passed, 1 failed, 0 pending" and proc.returncode == 1


def _peer_has_server_keys() -> bool:
    return any((package / "assets" / "keys" / "rsa.pub.der").is_file()
               for package in runner.PEERS.glob(runner.PEER_PACKAGES))


def test_needs_asset_names_the_server_keys_and_they_come_from_the_peer_cache(tmp_path, monkeypatch):
    from particle_py.ops.keys import DEFAULT_SERVER_KEYS
    if not _peer_has_server_keys():
        pytest.skip(f"no particle-cli with server keys in the peer cache ({runner.PEERS}); scripts/install-peers --npm")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "user-cache"))     # nothing cached for the user
    runner._asset_ready("server-keys", tmp_path / "cache")
    for path, sha256 in DEFAULT_SERVER_KEYS.values():
        placed = tmp_path / "cache" / "particle-py" / "assets" / sha256[:16] / path
        assert hashlib.sha256(placed.read_bytes()).hexdigest() == sha256
    runner._asset_ready("photon tinker", tmp_path / "cache")
    with pytest.raises(ValueError):
        runner._asset_ready("server-key spdy", tmp_path / "cache")


def test_a_server_key_scenario_restores_particles_key_on_a_simulated_device():
    """`particle keys server` with no file: Particle's key, which the simulated cloud accepts."""
    if not _peer_has_server_keys():
        pytest.skip(f"no particle-cli with server keys in the peer cache ({runner.PEERS})")
    sc = scenario("devices: photon-normal\ncloud: owner\nfirmware: device-os 1.5.2\nfirmware: user-app\n"
                  "firmware: keys\nneeds-asset: server-keys\nled: breathing cyan\n\n"
                  "$ particle keys server\nexit: 0\n| Okay!  New keys in place, your device will not restart.\n"
                  "$ particle usb reset\nexit: 0\n")
    result = runner.run(sc)
    assert result.status == "passed", result.detail
