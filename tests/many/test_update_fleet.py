"""`particle update --all`: Device OS on many devices at once; each device's flash holds what its
row says."""


def test_update_all_on_eight_photons(fleet):
    fleet.create_many(["photon"], "--count", "8", "--device-os", "1.4.4")
    code, out, err = fleet.particle("update", "--all", "--no-download")
    lines = out.splitlines()
    assert code == 0, "\n".join(lines[-9:]) + err
    assert lines[-1] == "8 of 8 devices: update succeeded."
    version = lines[-2].split("Device OS ")[1].split()[0]
    assert version != "1.4.4"
    assert all(f"Device OS {version} written" in row for row in lines[-9:-1])
    from particle_py.cli.sim import main as particle_sim
    fleet.capsys.readouterr()
    assert particle_sim(["status"]) == 0
    assert fleet.capsys.readouterr().out.count(f"Device OS: {version}") == 8


def test_update_two_ids_updates_those_two(fleet):
    ids = fleet.create_many(["photon"] * 3, "--device-os", "1.4.4")
    code, out, err = fleet.particle("update", ids[0], ids[2], "--no-download")
    assert code == 0, out + err
    assert out.splitlines()[-1] == "2 of 2 devices: update succeeded."
    assert not any(line.startswith(ids[1]) for line in out.splitlines())
    code, out, err = fleet.particle("update", ids[0], ids[2], "--save-bundle", "b.zip")
    assert code == 64
    assert err.splitlines()[0] == "A restore bundle is saved for one device (or --platform)"
