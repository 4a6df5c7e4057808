"""`particle doctor --yes --all`: the seed's bad keys on many Photons, fixed at once."""
import pytest

BREATHING = "LED: breathing cyan (connected to the cloud)"


@pytest.mark.parametrize("count", [2, 8])
def test_doctor_all_fixes_every_photon(fleet, count):
    ids = fleet.create_many(["photon"] * count, "--key", "corrupt", "--server-key", "wrong")
    assert len(set(ids)) == count
    assert all(led.startswith("LED: blinking cyan") for led in fleet.leds().values())
    code, out, err = fleet.particle("doctor", "--yes", "--all")
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[-1] == f"{count} of {count} devices: doctor succeeded."
    for device_id in ids:
        row = [line for line in lines if line.startswith(device_id + " ")]
        assert len(row) == 1 and "  ok" in row[0], row
    assert all(led.startswith(BREATHING) for led in fleet.leds().values())


def test_a_device_unplugged_midway_fails_alone_and_the_others_are_fixed(fleet):
    from tests.many.conftest import respec

    ids = fleet.create_many(["photon"] * 4, "--key", "corrupt", "--server-key", "wrong",
                            "--fault-on", "3:UNPLUG_AFTER=200")
    code, out, err = fleet.particle("doctor", "--yes", "--all")
    assert code != 0
    rows = out.splitlines()[-5:]
    assert rows[-1] == "3 of 4 devices: doctor succeeded.", "\n".join(rows)
    assert "failed:" in rows[2] and rows[2].startswith(ids[2])
    assert all("  ok" in rows[i] for i in (0, 1, 3))
    assert rows[2].endswith("particle doctor --dry-run --json"), rows[2]      # what the report names
    # the others' results are true: they breathe cyan (status lists the boards still plugged in)
    leds = fleet.leds()
    assert [leds[ids[i]] for i in (0, 1, 3)] == [BREATHING] * 3
    # and their flash holds what they reported: the new key each one wrote is in its DCT
    from particle_py.sim.bus import SimBus
    boards = {d.profile.device_id: d for d in SimBus.load(fleet.state).devices()}
    for i in (0, 1, 3):
        key = (fleet.work / f"{ids[i]}_rsa_new.der").read_bytes()
        assert boards[ids[i]].memory(1).peek(34, len(key)) == key


def test_one_photon_on_the_2015_bootloader_among_new_ones(fleet):
    from tests.many.conftest import respec

    ids = fleet.create_many(["photon"] * 3, "--key", "corrupt", "--server-key", "wrong")
    respec(fleet.state, 1, "bl=2015")
    code, out, err = fleet.particle("doctor", "--yes", "--all")
    assert code == 0, out + err
    assert out.splitlines()[-1] == "3 of 3 devices: doctor succeeded."
    assert list(fleet.leds().values()) == [BREATHING] * 3


def _summary(out: str, count: int) -> list:
    return out.splitlines()[-count - 1:-1]
