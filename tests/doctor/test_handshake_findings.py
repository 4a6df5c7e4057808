"""`particle doctor` asks the device's own handshake what the API cannot tell (a device that is not
the account's): the seed's unclaimed Photon whose cloud holds another key is diagnosed, and
repaired by `particle doctor --yes` alone."""
from __future__ import annotations

import importlib.util

import pytest

from tests.doctor.conftest import IDS, OWNER

ID = IDS["photon"]
PLATFORMS = ["photon", pytest.param("argon", marks=pytest.mark.skipif(
    importlib.util.find_spec("particle_py.handshake.dtls") is None, reason="the DTLS client is not in this build"))]


@pytest.fixture
def handshakes(world):
    """The world's cloud with its own server key pairs and its handshake servers, reached as a user
    reaches a local cloud (PARTICLE_PY_CLOUD_HOSTS names its folder)."""
    for name in ("server_rsa.pub.der", "server_ec.pub.der"):     # the world gives it Particle's
        (world.state / "cloud" / name).unlink()
    started = []

    def start():
        from particle_py.sim.cloud import HandshakeServers
        servers = HandshakeServers(world.cloud.db)
        started.append(servers)
        world.monkeypatch.setenv("PARTICLE_PY_CLOUD_HOSTS", f"@{world.state / 'cloud'}")
        return servers
    yield start
    for servers in started:
        servers.stop()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_unclaimed_device_whose_cloud_holds_another_key(world, handshakes, platform):
    world.create(platform, "--cloud-key", "other", owner=False)
    handshakes()
    assert world.led().startswith("LED: blinking cyan with 1 orange burst")

    code, out, err = world.particle("doctor", "--dry-run")
    assert code == 0, err
    lines = out.splitlines()
    assert ("  FAIL blinking cyan with 1 orange burst: the device's own handshake shows the cloud holds another "
            "public key for it (so it cannot come online, and cannot be claimed)") in lines
    assert world.led().startswith("LED: blinking cyan with 1 orange burst")        # nothing written

    code, out, err = world.particle("doctor", "--yes")
    assert code == 0, out + err
    lines = out.splitlines()
    assert f"Successfully claimed device {IDS[platform]}" in lines
    assert world.led().startswith("LED: breathing cyan (connected to the cloud)")
    assert world.cloud.db.device(IDS[platform])["owner"] == OWNER


def test_unclaimed_photon_whose_keys_the_cloud_accepts(world, handshakes):
    world.create("photon", owner=False)
    handshakes()
    code, out, err = world.particle("doctor", "--dry-run")
    assert code == 0, err
    lines = out.splitlines()
    assert "  ok   the device's own handshake: the cloud accepts its keys" in lines, lines
    assert not any("cloud_key" in ln or "holds another public key" in ln for ln in lines)
