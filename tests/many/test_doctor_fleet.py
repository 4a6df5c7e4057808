"""`particle doctor --yes --all`: the seed's bad keys on many Photons, fixed at once."""
import pytest

BREATHING = "LED: breathing cyan (connected to the cloud)"


@pytest.mark.parametrize("count", [2, 8])
def test_doctor_all_fixes_every_photon(fleet, count):
    ids = fleet.create_many(["photon"] * count, "--key", "corrupt", "--server-key", "wrong")
    assert len(set(ids)) == count
    assert all(led.startswith("LED: blinking cyan") for led in fleet.leds())
    code, out, err = fleet.particle("doctor", "--yes", "--all")
    assert code == 0, out + err
    lines = out.splitlines()
    assert lines[-1] == f"{count} of {count} devices: doctor succeeded."
    for device_id in ids:
        row = [line for line in lines if line.startswith(device_id + " ")]
        assert len(row) == 1 and "  ok" in row[0], row
    assert all(led.startswith(BREATHING) for led in fleet.leds())
