"""Keys that fit the device: `keys send`, `keys load` and `keys doctor` take only a device key of
the type and size the platform's protocol uses; Particle's server keys are refused by name, before
anything is sent or written (issue #22, "Keys that fit the device")."""
from __future__ import annotations

from pathlib import Path

import pytest

from particle_py.keys import formats
from test_device_keys import cloud, key_slot, sim  # noqa: F401  (fixtures: tests/keys is on the path)

DATA = Path(formats.__file__).resolve().parents[1] / "data" / "keys"
IDENT = "0123456789abcdef01234567"


def server_pem(name):
    info = formats.parse_key((DATA / name).read_bytes())
    return formats.public_pem(info.key)


def cloud_key(cloud, ident):
    device = cloud.db.device(ident)
    return device.get("public_key") if device else None


@pytest.mark.parametrize("file_name,words", [
    ("rsa.pub.der", "RSA, the TCP protocol's"),
    ("ec.pub.der", "EC, the UDP protocol's"),
])
def test_keys_send_refuses_particles_server_key_by_name(cloud, particle, file_name, words):  # noqa: F811
    Path("cloud_public.pem").write_bytes(server_pem(file_name))
    before = cloud_key(cloud, IDENT)
    code, out, err = particle("keys", "send", IDENT, "cloud_public.pem")
    assert code == 1 and "succeeded" not in out
    assert err.splitlines()[0] == ("Error sending public key to server: cloud_public.pem is Particle's cloud "
                                   f"server public key ({words}), not a device key.")
    assert err.splitlines()[1].startswith("Nothing was sent. The device's own key is in the files")
    assert cloud_key(cloud, IDENT) == before


def test_keys_send_refuses_an_rsa_key_of_the_wrong_size(cloud, particle):  # noqa: F811
    from cryptography.hazmat.primitives.asymmetric import rsa

    big = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    Path("big.pub.pem").write_bytes(formats.public_pem(big))
    code, out, err = particle("keys", "send", IDENT, "big.pub.pem")
    assert code == 1
    assert err.splitlines()[0] == ("Error sending public key to server: big.pub.pem is a 2048-bit RSA key; "
                                   "devices use 1024-bit RSA keys (TCP) or EC P-256 keys (UDP).")
    assert cloud_key(cloud, IDENT) is None


def test_keys_send_to_the_connected_device_refuses_the_other_protocols_key_type(sim, cloud, particle):  # noqa: F811
    s = sim("argon")                       # UDP: EC P-256
    Path("dev.pub.pem").write_bytes(formats.public_pem(formats.generate("rsa")))
    code, out, err = particle("keys", "send", "dev.pub.pem")
    assert code == 1
    assert err.splitlines()[0] == ("Error sending public key to server: dev.pub.pem is an RSA key but this "
                                   "device's protocol uses an EC (P-256) key.")
    assert cloud_key(cloud, s.real_id) is None


def test_keys_send_of_a_device_key_still_succeeds(cloud, particle):  # noqa: F811
    key = formats.generate("rsa")
    Path("dev.pub.pem").write_bytes(formats.public_pem(key))
    code, out, err = particle("keys", "send", IDENT, "dev.pub.pem")
    assert (code, err) == (0, "")
    assert out.splitlines()[-1] == "submitting public key succeeded!"


@pytest.mark.parametrize("file_name", ["rsa.pub.der", "ec.pub.der"])
def test_keys_load_refuses_particles_server_key_by_name(sim, particle, file_name):  # noqa: F811
    s = sim("photon")
    slot = key_slot("photon")
    before = s.peek(slot)
    Path("cloud_public.der").write_bytes((DATA / file_name).read_bytes())
    code, out, err = particle("keys", "load", "cloud_public.der")
    assert code == 1
    assert err.splitlines()[0].startswith("Error writing key to device.: cloud_public.der is Particle's cloud server "
                                          "public key (")
    assert err.splitlines()[1].startswith("Nothing was written to the device.")
    assert s.peek(slot) == before
    assert not Path("backup_rsa_cloud_public.der").exists()


def test_keys_doctor_writes_a_key_of_the_protocols_type(sim, cloud, particle):  # noqa: F811
    s = sim("argon")
    code, out, err = particle("keys", "doctor", s.real_id)
    assert code == 0, err
    held = formats.parse_device_slot(s.peek(key_slot("argon")), "ec")
    assert held is not None and held.key.curve.name == "secp256r1"
