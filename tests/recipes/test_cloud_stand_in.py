"""The simulated cloud stands in for Particle's: Particle's own server keys and addresses work
on a simulated device as on hardware, as do custom keys the cloud is given; `keys doctor` says
when the server key will still keep the device off the cloud; a device back from a reset is
seen by the cloud without anything else looking at it first."""
import hashlib

import pytest
from helpers.keys_doctor import unproven
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from helpers.official import official_file
from particle_py.keys import server_blob
from particle_py.sim import cloud_db as sim_cloud
from particle_py.sim import der


@pytest.mark.parametrize("protocol,alg,path", [("tcp", "rsa", "assets/keys/rsa.pub.der"),
                                               ("udp", "ec", "assets/keys/ec.pub.der")])
def test_the_pinned_digests_are_those_of_particles_key_files(protocol, alg, path):
    blob = official_file(path).read_bytes()
    spki = blob[:der.der_length(blob)]
    assert hashlib.sha256(spki).hexdigest() == sim_cloud.OFFICIAL_SERVER_KEY_SHA256[alg]
    assert hashlib.sha256(spki).hexdigest() == server_blob.OFFICIAL_KEY_SHA256[protocol]
    assert der.parse_spki(spki)[0] == alg


@pytest.mark.parametrize("platform", ["photon", "electron", "argon", "p2"])
def test_keys_server_with_no_file_fixes_a_wrong_server_key(world, particle, platform):
    world.make(platform, server_key="wrong")
    assert world.led() == "blinking cyan with 3 orange bursts"
    code, out, err = particle("keys", "server")
    assert (code, err) == (0, ""), err
    assert "Okay!  New keys in place, your device will not restart." in out
    assert particle("usb", "reset")[0] == 0
    assert world.led() == "breathing cyan"


def test_a_server_address_that_is_not_particles_gives_three_bursts(world, particle):
    world.make("photon")
    assert particle("keys", "server", "--host", "192.168.1.10")[0] == 0
    assert particle("usb", "reset")[0] == 0
    assert world.led() == "blinking cyan with 3 orange bursts"
    world.cloud.db.add_address("192.168.1.10")        # particle-sim cloud --address 192.168.1.10
    assert particle("usb", "reset")[0] == 0
    assert world.led() == "breathing cyan"


def test_a_custom_server_key_works_once_the_cloud_is_given_it(world, particle):
    world.make("argon")
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    (world.work / "local.pub.pem").write_bytes(key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    assert particle("keys", "server", "local.pub.pem")[0] == 0
    assert particle("usb", "reset")[0] == 0
    assert world.led() == "blinking cyan with 3 orange bursts"
    assert world.cloud.db.add_server_key((world.work / "local.pub.pem").read_bytes()) == "ec"
    assert particle("usb", "reset")[0] == 0
    assert world.led() == "breathing cyan"


def test_keys_doctor_says_the_server_key_will_still_keep_the_device_off(world, particle):
    ident = world.make("photon", server_key="missing")
    code, out, err = particle("keys", "doctor", ident)
    assert (code, err) == (0, ""), err
    lines = out.splitlines()
    # the server key slot is empty: nothing to prove the key with
    assert "The new key was not proven: the server key slot (DCT 2082) is empty." in lines
    okay = lines.index(unproven(ident))
    assert lines[okay + 1:] == [
        "Warning: the device has no server key (DCT 2082 is empty): the device will still not connect "
        "(blinking cyan with 3 orange bursts).",
        "To fix it: particle keys server   (puts Particle's server key back), then reset the device."]
    assert world.led() == "blinking cyan with 3 orange bursts"
    # the advice works
    assert particle("keys", "server")[0] == 0
    assert particle("usb", "reset")[0] == 0
    assert world.led() == "breathing cyan"


def test_keys_doctor_on_particles_cloud_names_a_foreign_server_key(world, particle, monkeypatch):
    ident = world.make("photon", server_key="wrong")
    blob = bytes(256)
    from particle_py.platforms import by_name
    slot = by_name("photon").server_key["tcp"]
    other = rsa.generate_private_key(65537, 2048).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    blob = server_blob.build(other, slot)
    assert server_blob.connect_problem(blob, slot, "tcp", particle_cloud=True) == \
        "the server key at DCT 2082 is not Particle's tcp server key"
    assert server_blob.connect_problem(blob, slot, "tcp", particle_cloud=False) is None
    official = official_file("assets/keys/rsa.pub.der").read_bytes()
    assert server_blob.connect_problem(official, slot, "tcp", particle_cloud=True) is None
    moved = server_blob.build(official, slot, host="10.0.0.1")
    assert server_blob.connect_problem(moved, slot, "tcp", particle_cloud=True) == \
        "the server address at DCT 2082 is tcp://10.0.0.1:5683, not Particle's"
    # against the simulated cloud (not Particle's URL) a foreign key gets a note, not a verdict
    code, out, err = particle("keys", "doctor", ident)
    assert code == 0, err
    assert out.splitlines()[-1].startswith("Note: the device's server key is not Particle's; it connects only "
                                           "to a cloud that holds that key")


def test_device_add_after_usb_reset_needs_nothing_else_to_look_at_the_device(world, particle):
    ident = world.make("photon", mode="dfu")
    world.cloud.db._q("UPDATE devices SET owner = NULL")
    code, out, err = particle("device", "add", ident)
    assert code != 0 and "not connected" in err
    assert particle("usb", "reset")[0] == 0
    code, out, err = particle("device", "add", ident)
    assert (code, err) == (0, ""), err
    assert out.splitlines()[-1] == f"Successfully claimed device {ident}"


def test_particle_sim_cloud_takes_a_local_servers_key_and_address(world, particle, capsys):
    """`particle-sim cloud --server-key FILE --address HOST`: a device set up for a local server
    (`keys server FILE --host HOST`) connects to the simulated cloud."""
    from particle_py.cli.sim import main as particle_sim
    world.make("photon")
    world.cloud.stop()                      # the background cloud below serves the same state
    world.cloud = None
    key = rsa.generate_private_key(65537, 2048).public_key()
    (world.work / "local.der").write_bytes(key.public_bytes(serialization.Encoding.DER,
                                                            serialization.PublicFormat.SubjectPublicKeyInfo))
    assert particle("keys", "server", "local.der", "--host", "10.0.0.5")[0] == 0
    assert particle("usb", "reset")[0] == 0
    assert world.led() == "blinking cyan with 3 orange bursts"
    try:
        capsys.readouterr()
        assert particle_sim(["cloud", "--background", "--server-key", "local.der", "--address", "10.0.0.5"]) == 0
        assert "Simulated Particle cloud listening on http://127.0.0.1:" in capsys.readouterr().out
        assert world.led() == "breathing cyan"
    finally:
        assert particle_sim(["cloud", "--stop"]) == 0
