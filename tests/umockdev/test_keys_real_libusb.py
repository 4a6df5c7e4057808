"""`particle keys` over the real (system) libusb on every platform of the keys issue: each
command is its own process under scripts/umockdev-run, on one simulated board whose state
persists between them, with a simulated cloud on loopback. The slots are checked byte for byte."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_peers import device_memory  # noqa: E402

from helpers.keys_doctor import unproven  # noqa: E402

pytestmark = pytest.mark.umockdev

PARTICLE = Path(sys.executable).parent / "particle"
CASES = [("photon", "tcp"), ("p1", "tcp"), ("electron", "udp"), ("electron", "tcp"), ("core", "tcp"),
         ("argon", "udp"), ("boron", "udp")]


@pytest.mark.parametrize("platform,protocol", CASES)
def test_keys_commands_over_real_libusb(platform, protocol, umockdev, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from particle_py.platforms import by_name
    from particle_py.sim import cloud as sim_cloud

    plat = by_name(platform)
    device_id = "0123456789abcdef0123" + "%04x" % plat.platform_id
    state, home = tmp_path / "state", tmp_path / "home"
    (home / ".particle").mkdir(parents=True)
    cloud = sim_cloud.start(tmp_path / "cloud" / "cloud.sqlite")
    try:
        cloud.db.add_user("owner@example.com", "pw")
        token = cloud.db.issue_token("owner@example.com")
        cloud.db.add_device(device_id, "owner@example.com")
        (home / ".particle" / "particle.config.json").write_text(
            json.dumps({"apiUrl": cloud.url, "access_token": token}))
        env = dict(os.environ, HOME=str(home), PARTICLE_PY_LIBUSB="system",
                   XDG_DATA_HOME=str(tmp_path / "data"), XDG_CACHE_HOME=str(tmp_path / "cache"))

        def particle(*args, spec=None):
            where = ["--platform", spec] if spec else ["--state", str(state)]
            if spec:
                where += ["--state", str(state)]
            proc = subprocess.run([str(umockdev), *where, "--", str(PARTICLE), *args], cwd=tmp_path, env=env,
                                  capture_output=True, text=True, timeout=180)
            assert proc.returncode == 0, f"particle {' '.join(args)}:\n{proc.stdout}{proc.stderr}"
            return proc.stdout

        slot = plat.device_key[protocol]
        proto = ["--protocol", protocol]
        particle("keys", "new", "mykey", *proto, spec=f"{platform}:real=1,id={device_id}")
        mine = Path(tmp_path / "mykey.der").read_bytes()
        assert len(mine) <= slot.size
        assert "Key mykey.der written to device" in particle("keys", "load", "mykey.der", *proto)
        assert device_memory(state, slot.alt, slot.address, len(mine)) == mine
        assert "Saved existing key to saved.der" in particle("keys", "save", "saved.der", *proto)
        assert Path(tmp_path / "saved.der").read_bytes()[:len(mine)] == mine

        server_slot = plat.server_key[protocol]
        if server_slot.alg == "rsa":
            key = rsa.generate_private_key(65537, 2048)
        else:
            key = ec.generate_private_key(ec.SECP256R1())
        server = key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        (tmp_path / "server.der").write_bytes(server)
        particle("keys", "server", "server.der", "--host", "10.0.0.1", "--port", "5700", *proto)
        blob = device_memory(state, server_slot.alt, server_slot.address, server_slot.size)
        assert blob[:len(server)] == server
        assert particle("keys", "address", *proto).strip() == f"{protocol}://10.0.0.1:5700"

        # the device now points at 10.0.0.1 with a server key no cloud holds: nothing can prove the key
        out = particle("keys", "doctor", device_id, *proto)
        assert unproven(device_id) in out.splitlines()
        held = cloud.db.device(device_id)["public_key"]
        assert held is not None
        new_key = Path(tmp_path / f"{device_id}_{slot.alg}_new.der").read_bytes()
        board = device_memory(state, slot.alt, slot.address, len(new_key))
        assert board == new_key
    finally:
        cloud.stop()
