"""The seed scenario: a Photon blinking cyan with a red burst (corrupt device key, wrong server
key), repaired by `particle doctor --yes` alone."""


def test_seed_photon_corrupt_key_and_wrong_server_key(world):
    world.create("photon", "--key", "corrupt", "--server-key", "wrong", owner=False)
    assert world.led().startswith("LED: blinking cyan with 1 red burst")
    code, out, err = world.particle("doctor", "--dry-run")
    print(out, err)
    assert code == 0
    code, out, err = world.particle("doctor", "--yes")
    print(out, err)
    print(world.led())
    print(world.cloud.db.device(world.device_id))
    assert code == 0
    assert world.led().startswith("LED: breathing cyan")
