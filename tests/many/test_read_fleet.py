"""The reading commands on many devices at once: `identify`, `keys address` and `keys protocol`
take several ids, `--all`, `--platform` and `--mode`, with a row per device (`keys verify`:
tests/handshake/test_verify_fleet.py)."""
from helpers.batch import summary_rows as _rows


def test_identify_all_names_each_device_and_its_device_os(fleet):
    ids = fleet.create_many(["photon", "argon", "boron"], "--device-os", "2.3.1")
    code, out, err = fleet.particle("identify", "--all")
    assert code == 0, out + err
    assert out.splitlines()[-1] == "3 of 3 devices: identify succeeded."
    rows = _rows(out, ids)
    assert sorted(rows) == sorted(ids)
    assert all("Device OS 2.3.1" in row and "  ok" in row for row in rows.values()), rows
    # one id among several keeps particle-cli's lines
    code, out, err = fleet.particle("identify", ids[1])
    assert code == 0, err
    assert out.splitlines()[0] == f"Your device id is {ids[1]}"


def test_identify_with_a_serial_port_takes_one_device(fleet):
    fleet.create_many(["photon", "photon"])
    code, out, err = fleet.particle("identify", "--all", "--port", "/dev/ttyACM0")
    assert code == 64
    assert err.splitlines()[0] == "--port names one device's serial port"


def test_keys_address_and_protocol_of_every_device(fleet):
    ids = fleet.create_many(["photon", "argon"])
    code, out, err = fleet.particle("keys", "address", "--all")
    assert code == 0, out + err
    rows = _rows(out, ids)
    assert "tcp://device.spark.io:5683" in rows[ids[0]] and "udp://udp.particle.io:5684" in rows[ids[1]]
    assert not any(line.rstrip() == f"[{ids[0]} 1-2]" for line in out.splitlines())    # no empty device lines
    code, out, err = fleet.particle("keys", "protocol", "--all", "--platform", "argon")
    assert code == 0, out + err
    assert out.splitlines()[-1] == "1 of 1 devices: keys protocol succeeded."
    assert "protocol udp" in _rows(out, ids)[ids[1]]
