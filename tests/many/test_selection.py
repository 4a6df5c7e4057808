"""Which devices a command works on: ids (several), --all, --platform, --mode; ids that match
nothing; clones told apart by their USB port; a full hub."""
from tests.many.conftest import respec


def test_thirty_photons_with_the_seeds_bad_keys_fixed_by_one_command(fleet):
    ids = fleet.create_many(["photon"], "--count", "30", "--hub", "7", "--key", "corrupt", "--server-key", "wrong")
    assert len(set(ids)) == 30
    code, out, err = fleet.particle("doctor", "--yes", "--all")
    assert code == 0, out[-3000:] + err
    assert out.splitlines()[-1] == "30 of 30 devices: doctor succeeded."
    assert list(fleet.leds().values()) == ["LED: breathing cyan (connected to the cloud)"] * 30
    ports = [line.split()[2] for line in out.splitlines()[-31:-1]]
    assert ports[:8] == ["1-1.1", "1-1.2", "1-1.3", "1-1.4", "1-1.5", "1-1.6", "1-1.7", "1-2.1"]


def test_several_devices_and_no_selection_is_an_error_that_lists_them(fleet):
    ids = fleet.create_many(["photon", "argon"])
    code, out, err = fleet.particle("doctor", "--dry-run", "--platform", "photon", "--mode", "dfu")
    assert code == 1 and "No devices found" in err
    code, out, err = fleet.particle("doctor", "--dry-run", "--mode", "normal")
    assert code == 1
    assert err.splitlines()[0] == (f"2 devices found, and no device was named: {ids[0]} Photon normal mode "
                                   f"on 1-2; {ids[1]} Argon normal mode on 1-3")
    assert "pass --all" in err


def test_platform_filter_takes_only_that_platform(fleet):
    ids = fleet.create_many(["photon", "argon", "photon"], "--key", "corrupt")
    code, out, err = fleet.particle("doctor", "--dry-run", "--all", "--platform", "photon")
    assert code == 0, out + err
    rows = out.splitlines()[-3:]
    assert [r.split()[0] for r in rows[:2]] == [ids[0], ids[2]]
    assert rows[-1] == "2 of 2 devices: doctor succeeded."


def test_ids_that_match_nothing_are_named_and_nothing_changes(fleet):
    fleet.create_many(["photon", "photon"])
    before = fleet.leds()
    code, out, err = fleet.particle("doctor", "--dry-run", "--all", "0123456789abcdef01234567")
    assert code == 1
    assert err.splitlines()[0] == "Device not found: 0123456789abcdef01234567"
    assert fleet.leds() == before


def test_clones_with_one_id_are_both_worked_on_told_apart_by_port(fleet):
    ids = fleet.create_many(["photon", "photon"])
    respec(fleet.state, 1, spec=f"photon-normal:id={ids[0]}")
    code, out, err = fleet.particle("doctor", "--dry-run", "--all", ids[0])
    assert code == 0, out + err
    rows = out.splitlines()[-3:-1]
    assert [(r.split()[0], r.split()[2]) for r in rows] == [(ids[0], "1-2"), (ids[0], "1-3")]
    assert f"[{ids[0]} 1-2] Device: Photon {ids[0]}, running its firmware" in out.splitlines()
    assert f"[{ids[0]} 1-3] Device: Photon {ids[0]}, running its firmware" in out.splitlines()


def test_a_full_hub_fails_the_devices_it_cannot_open_and_the_others_are_done(fleet):
    ids = fleet.create_many(["photon"], "--count", "4", "--hub", "4", "--fault", "HUB_FULL=3",
                            "--key", "corrupt", "--server-key", "wrong")
    code, out, err = fleet.particle("doctor", "--yes", "--all")
    assert code != 0
    rows = out.splitlines()[-5:]
    assert rows[-1] == "3 of 4 devices: doctor succeeded.", "\n".join(rows)
    # a device that cannot be opened cannot say its id either: it is known by its port
    assert rows[3].startswith("?                         Photon    1-1.4") and "failed:" in rows[3]
    assert rows[3].endswith("particle doctor --yes --all")
    leds = fleet.leds()
    assert [leds[i] for i in ids[:3]] == ["LED: breathing cyan (connected to the cloud)"] * 3


def test_several_ids_work_on_those_devices_only(fleet):
    ids = fleet.create_many(["photon"] * 3, "--key", "corrupt", "--server-key", "wrong")
    code, out, err = fleet.particle("doctor", "--yes", ids[0], ids[2][:8])
    assert code == 0, out + err
    assert out.splitlines()[-1] == "2 of 2 devices: doctor succeeded."
    leds = fleet.leds()
    assert leds[ids[0]].startswith("LED: breathing cyan") and leds[ids[2]].startswith("LED: breathing cyan")
    assert leds[ids[1]].startswith("LED: blinking cyan")          # not named: not touched


def test_mode_listening_takes_the_devices_in_listening_mode(fleet):
    from particle_py.cli.sim import main as particle_sim

    ids = fleet.create_many(["photon"] * 3)
    assert particle_sim(["button", "listen", "--device", ids[1]]) == 0
    code, out, err = fleet.particle("doctor", "--dry-run", "--all", "--mode", "listening")
    assert code == 0, out + err
    rows = out.splitlines()[-2:]
    assert rows[0].split()[:3] == [ids[1], "Photon", "1-3"]
    assert rows[1] == "1 of 1 devices: doctor succeeded."
