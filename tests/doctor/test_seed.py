"""The seed scenario: a Photon blinking cyan with a red burst (corrupt device key, wrong server
key), not claimed yet, repaired by `particle doctor --yes` alone."""
from helpers.keys_doctor import unproven
from tests.doctor.conftest import IDS, OWNER

ID = IDS["photon"]


def test_seed_photon_corrupt_key_and_wrong_server_key(world):
    world.create("photon", "--key", "corrupt", "--server-key", "wrong", owner=False)
    assert world.led().startswith("LED: blinking cyan with 1 red burst")

    code, out, err = world.particle("doctor", "--dry-run")
    assert code == 0, err
    assert out.splitlines()[:10] == [
        "Reading the device (particle-py switches it to DFU mode to read its memory)",
        "Switching device to DFU mode",
        f"Device: Photon {ID}, running its firmware, protocol TCP",
        "  ok   Device OS: 2 system part(s) present, CRC good, dependencies met (module versions 1512, 1512)",
        "  ok   user application: present, CRC good, its Device OS is there",
        "  FAIL blinking cyan with 1 red burst: the device key in the DCT at 34 is not a key (612 bytes that do "
        "not parse as DER); Device OS cannot use it",
        "  FAIL blinking cyan with 3 orange bursts: the server key in the DCT at 2082 is a valid RSA key, but not "
        "Particle's TCP server key (so the device cannot reach the cloud, or talks to another server)",
        f"  FAIL the device is not claimed to your account ({OWNER}); the cloud answered: Permission Denied",
        "LED now: blinking cyan with 1 red burst",
        "Repairs needed: Restore the server key, Make a new device key, Claim the device",
    ]
    assert out.splitlines()[-1] == "Dry run: nothing was written. Run `particle doctor` to repair."
    assert world.led().startswith("LED: blinking cyan with 1 red burst")        # nothing written

    code, out, err = world.particle("doctor", "--yes")
    assert code == 0, out + err
    lines = out.splitlines()
    for expected in ("Okay!  New keys in place, your device will not restart.",
                     "submitting public key succeeded!",
                     # this cloud holds Particle's public keys only: it cannot answer the handshake
                     unproven(ID),
                     "Checking the device again",
                     f"Successfully claimed device {ID}",
                     "The device should now show: breathing cyan."):
        assert expected in lines
    assert world.led().startswith("LED: breathing cyan (connected to the cloud)")
    assert world.cloud.db.device(ID)["owner"] == OWNER
    # the old slots were kept, as the keys commands keep them
    assert (world.work / f"backup_server_rsa_{ID}.der").is_file()
    assert (world.work / f"backup_rsa_{ID}_rsa_new.der").is_file()


def test_pkcs8_key_is_explained_in_the_words_of_the_issue(world):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    world.create("photon")
    key = rsa.generate_private_key(65537, 1024)
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    (world.work / "pkcs8.der").write_bytes(der)
    assert world.particle("usb", "dfu")[0] == 0
    world.dfu_util("-d", "2b04:d006", "-a", "1", "-s", "34:leave", "-D", "pkcs8.der")
    code, out, err = world.particle("doctor", "--dry-run")
    assert (f"  FAIL blinking cyan with 1 red burst: the device key in the DCT at 34 is {len(der)} bytes of PKCS#8, "
            "as OpenSSL 3 writes it; Device OS reads 612 bytes and cannot parse it (it needs PKCS#1 "
            "RSAPrivateKey DER)") in out.splitlines()
