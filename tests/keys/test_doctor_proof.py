"""`particle keys doctor` proves the new key with the device's own handshake after sending it and
before writing it: a refused key leaves the device's flash as it was."""
from __future__ import annotations

import importlib.util
import json
import shutil

import pytest
from helpers.keys_doctor import PROVEN

from particle_py import platforms

USER = "alice@example.com"
PLATFORMS = ["photon", pytest.param("argon", marks=pytest.mark.skipif(
    importlib.util.find_spec("particle_py.handshake.dtls") is None, reason="the DTLS client is not in this build"))]


@pytest.fixture
def lab(home, tmp_path, monkeypatch):
    """A Photon, the cloud its account is on (HTTP API, logged in) with its handshake servers."""
    from particle_py.sim import cloud as sim_cloud
    from particle_py.sim import devices as simdev

    folder = tmp_path / "sim"
    monkeypatch.setenv("PARTICLE_PY_SIM", str(folder))
    started = []

    class Lab:
        def create(self, name="photon", **recipe):
            self.platform = platforms.by_name(name)
            self.alg = "rsa" if self.platform.default_protocol == "tcp" else "ec"
            self.slot = self.platform.device_key[self.platform.default_protocol]
            simdev.create(folder, [name], simdev.Recipe(**recipe))
            self.cloud = sim_cloud.start(folder / "cloud" / "cloud.sqlite", handshakes=True)
            started.append(self.cloud)
            self.cloud.db.add_user(USER, "pw")
            (home / ".particle").mkdir(exist_ok=True)
            (home / ".particle" / "particle.config.json").write_text(json.dumps(
                {"apiUrl": self.cloud.url, "access_token": self.cloud.db.issue_token(USER), "username": USER}))
            monkeypatch.setenv("PARTICLE_PY_CLOUD_HOSTS", f"@{folder / 'cloud'}")
            from particle_py.sim.bus import SimBus
            bus = SimBus.load(folder)
            self.device_id = bus.devices()[0].profile.device_id
            bus.save()

        def other_cloud(self, registered_key: bytes):
            """A second cloud with the same server key pair, holding ``registered_key`` for the device:
            where the device's address leads when the account is on the first one."""
            other = tmp_path / "other-cloud"
            other.mkdir()
            for name in ("server_rsa.pem", "server_rsa.pub.der", "server_ec.pem", "server_ec.pub.der"):
                shutil.copy(folder / "cloud" / name, other / name)
            cloud = sim_cloud.start(other / "cloud.sqlite", handshakes=True)
            started.append(cloud)
            cloud.db.add_device(self.device_id, public_key=registered_key)
            monkeypatch.setenv("PARTICLE_PY_CLOUD_HOSTS", f"@{other}")
            return cloud

        def flash(self) -> bytes:
            from particle_py.sim.bus import SimBus
            bus = SimBus.load(folder)
            try:
                return bytes(bus.devices()[0].memory(self.slot.alt).peek(self.slot.address, self.slot.size))
            finally:
                bus.save()

        def led_after_reset(self) -> str:
            simdev.press(folder, "reset", None)
            line = next(ln for ln in simdev.status(folder) if ln.startswith("  LED: "))
            return line[len("  LED: "):].split(" (")[0]

    yield Lab()
    for cloud in started:
        cloud.stop()


@pytest.mark.parametrize("platform", PLATFORMS)
def test_proven_key_is_written_and_the_device_connects(lab, particle, platform):
    lab.create(platform, cloud_key="other")
    code, out, err = particle("keys", "doctor", lab.device_id)
    assert code == 0, err
    lines = out.splitlines()
    where = ("tcp://device.spark.io:5683" if lab.alg == "rsa" else
             f"udp://{lab.device_id}.udp.particle.io:5684")
    proof = next(i for i, ln in enumerate(lines) if ln.startswith("The cloud accepts the new key: the device's "
                                                                   f"handshake with {where}"))
    assert lines.index("submitting public key succeeded!") < proof < lines.index("Writing key to device")
    assert lines[-1] == PROVEN
    assert lab.led_after_reset() == "breathing cyan"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_refused_key_writes_nothing_to_the_device(lab, particle, platform):
    from particle_py.keys import formats
    lab.create(platform)
    before = lab.flash()
    held_elsewhere = formats.public_der(formats.generate(lab.alg))
    lab.other_cloud(held_elsewhere)
    code, out, err = particle("keys", "doctor", lab.device_id)
    assert code == 1
    assert "Writing key to device" not in out and "Okay!" not in out
    assert err.startswith("The cloud refused the new key: the cloud holds another public key for this device")
    assert "Nothing was written to the device." in err
    assert f"particle keys send {lab.device_id} backup_{lab.alg}_{lab.device_id}_{lab.alg}_new.der" in err
    assert lab.flash() == before                    # bytes in the simulated flash unchanged


def test_no_verify_skips_the_proof_and_says_so(lab, particle):
    lab.create()
    code, out, err = particle("keys", "doctor", lab.device_id, "--no-verify")
    assert code == 0, err
    assert "The new key was not proven (--no-verify): the LED after the reset will tell." in out.splitlines()
    assert "Key " + f"{lab.device_id}_rsa_new.der written to device" in out


def test_offline_says_the_proof_was_not_made_and_writes(lab, particle, monkeypatch):
    lab.create()
    before = lab.flash()
    monkeypatch.setenv("PARTICLE_PY_CLOUD_HOSTS", "device.spark.io=127.0.0.1:9")
    code, out, err = particle("keys", "doctor", lab.device_id)
    assert code == 0, err
    assert any(ln.startswith("The new key was not proven: the cloud cannot be reached from this computer (TCP "
                             "device.spark.io port 5683") for ln in out.splitlines()), out
    assert lab.flash() != before
