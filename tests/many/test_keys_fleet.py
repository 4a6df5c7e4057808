"""`particle keys server --all` then `particle keys doctor --all`: the seed's two bad keys, one
command each, on every device at once."""


def test_keys_server_then_keys_doctor_on_every_device(fleet):
    ids = fleet.create_many(["photon"] * 3, "--key", "corrupt", "--server-key", "wrong")
    code, out, err = fleet.particle("keys", "server", "--all")
    assert code == 0, out + err
    assert out.splitlines()[-1] == "3 of 3 devices: keys server succeeded."
    assert [line.split()[3:6] for line in out.splitlines()[-4:-1]] == [["server", "key", "written"]] * 3
    code, out, err = fleet.particle("keys", "doctor", "--all")
    assert code == 0, out + err
    assert out.splitlines()[-1] == "3 of 3 devices: keys doctor succeeded."
    for device_id in ids:
        assert f"[{device_id} 1-{2 + ids.index(device_id)}] submitting public key succeeded!" in out.splitlines()
    assert fleet.leds() == ["LED: breathing cyan (connected to the cloud)"] * 3


def test_one_id_keeps_the_single_device_output(fleet):
    ids = fleet.create_many(["photon"] * 2, "--server-key", "wrong")
    code, out, err = fleet.particle("keys", "server", "--device", ids[1])
    assert code == 0, out + err
    assert not any(line.startswith("[") for line in out.splitlines())       # no per-device prefix
    assert "succeeded." not in out
