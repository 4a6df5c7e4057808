"""`particle keys verify` against the simulated cloud's handshake servers: on each platform, for every
device-key, server-key and cloud-key state `particle-sim create` makes, the LED it predicts is the
LED the simulated device shows after the reset, and it exits 0 only for breathing cyan."""
from __future__ import annotations

import importlib.util
import re

import pytest

from particle_py import platforms
from particle_py.cli.sim import CLOUD_KEY_CHOICES, KEY_CHOICES, SERVER_KEY_CHOICES

PLATFORMS = ("photon", "electron", "argon", "boron", "p2")
STATES = [(k, s, c) for k in KEY_CHOICES for s in SERVER_KEY_CHOICES for c in CLOUD_KEY_CHOICES]
HAS_DTLS_CLIENT = importlib.util.find_spec("particle_py.handshake.dtls") is not None


def _needs_client(platform: str) -> None:
    if platforms.by_name(platform).default_protocol == "udp" and not HAS_DTLS_CLIENT:
        pytest.skip("the DTLS handshake client is not in this build")


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize("key,server_key,cloud_key", STATES)
def test_the_predicted_led_is_the_led_after_the_reset(lab, particle, platform, key, server_key, cloud_key):
    _needs_client(platform)
    lab.create(platform, key=key, server_key=server_key, cloud_key=cloud_key)
    code, out, err = particle("keys", "verify", "--timeout", "5")
    predicted = re.search(r"^After a reset: (.+)$", out, re.M)
    assert predicted, out + err
    lab.reset()
    assert lab.led() == predicted.group(1), out + err
    assert (code == 0) == (predicted.group(1) == "breathing cyan"), out + err
    if code == 0:
        assert err == "" and out.splitlines()[-1].startswith("Keys accepted: ")
    else:
        assert err.strip() and "Keys accepted" not in out           # the words and the fix, on stderr


def test_accepted_device_says_where_it_went_and_exits_zero(lab, particle):
    lab.create("photon")
    code, out, err = particle("keys", "verify")
    lines = out.splitlines()
    assert code == 0, err
    assert re.fullmatch(r"Device [0-9a-f]{24}: tcp://device\.spark\.io:5683 \(reached at 127\.0\.0\.1:\d+, "
                        r"PARTICLE_PY_CLOUD_HOSTS\)", lines[-3]), lines
    assert lines[-2] == "After a reset: breathing cyan"


def test_cloud_holding_another_key_names_both_fixes(lab, particle):
    lab.create("photon", cloud_key="other")
    code, out, err = particle("keys", "verify")
    assert code == 1
    assert "After a reset: blinking cyan with 1 orange burst" in out
    assert err.startswith("The cloud holds another public key for this device")
    ident = re.search(r"Device ([0-9a-f]{24})", out).group(1)
    assert f"particle keys doctor {ident}" in err and f"particle keys send {ident} <key.pub.pem>" in err


def test_particles_official_server_key_is_answered_by_the_stand_in(lab, particle):
    """What `particle keys server` writes (Particle's key) connects on the simulated cloud's boot
    model; the handshake uses the key pair the cloud publishes as its stand-in, only because
    PARTICLE_PY_CLOUD_HOSTS names that cloud's folder."""
    lab.create("photon")
    assert particle("keys", "server")[0] == 0
    code, out, err = particle("keys", "verify")
    assert code == 0, out + err
    lab.reset()
    assert lab.led() == "breathing cyan"


def test_unreachable_cloud_names_host_port_and_protocol(lab, particle, monkeypatch):
    cloud = lab.create("photon")
    cloud.handshakes.stop()                 # the folder's record still points at the closed port
    monkeypatch.setenv("PARTICLE_PY_CLOUD_HOSTS", "device.spark.io=127.0.0.1:9")
    code, out, err = particle("keys", "verify", "--timeout", "2")
    assert code == 69
    assert "After a reset: blinking cyan" in out
    assert err.startswith("The cloud cannot be reached from this computer (TCP device.spark.io port 5683")
    assert "a firewall that blocks TCP port 5683 blocks the device on the same network too" in err


def test_an_address_the_simulated_cloud_does_not_answer_at(lab, particle):
    """Named by its folder, the simulated cloud is the only one reached: another address in the DCT
    is the 3-orange-burst state there, as its boot model says, never a connection elsewhere."""
    lab.create("photon")
    assert particle("keys", "server", "--host", "cloud.example.com")[0] == 0
    code, out, err = particle("keys", "verify")
    assert code == 1 and "After a reset: blinking cyan with 3 orange bursts" in out
    assert "tcp://cloud.example.com:5683 is not an address the simulated cloud answers at" in err
    lab.reset()
    assert lab.led() == "blinking cyan with 3 orange bursts"


def test_particle_sim_cloud_prints_and_records_its_handshake_ports(tmp_path):
    import json
    import os
    import subprocess
    import sys
    folder = tmp_path / "cloud"
    env = dict(os.environ, HOME=str(tmp_path))
    started = subprocess.run([sys.executable, "-m", "particle_py.cli.sim", "cloud", "--state", str(folder),
                              "--background"], env=env, capture_output=True, text=True, timeout=120)
    try:
        assert started.returncode == 0, started.stderr
        record = json.loads((folder / "handshake.json").read_text())
        assert f"Device handshakes: tcp 127.0.0.1:{record['tcp']}, udp 127.0.0.1:{record['udp']}" in started.stdout
        assert f"export PARTICLE_PY_CLOUD_HOSTS=@{folder.resolve()}" in started.stdout
        assert record["hosts"]["tcp"]["device.spark.io:5683"] == f"127.0.0.1:{record['tcp']}"
        assert record["hosts"]["udp"]["$id.udp.particle.io:5684"] == f"127.0.0.1:{record['udp']}"
        assert os.stat(folder / "handshake.json").st_mode & 0o777 == 0o600
    finally:
        stopped = subprocess.run([sys.executable, "-m", "particle_py.cli.sim", "cloud", "--state", str(folder),
                                  "--stop"], env=env, capture_output=True, text=True, timeout=60)
    assert stopped.returncode == 0
