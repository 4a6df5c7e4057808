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
