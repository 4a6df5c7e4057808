"""`particle keys verify --all`: every attached device's own handshake against the simulated
cloud, at once; a row per device, the LED each will show after a reset, and exit 0 only when the
cloud accepts every one."""
from helpers.batch import summary_rows as _rows


def test_keys_verify_all_proves_every_device(lab, particle):
    lab.create(["photon", "photon", "electron"])
    ids = lab.ids()
    code, out, err = particle("keys", "verify", "--all")
    assert code == 0, out + err
    assert out.splitlines()[-1] == "3 of 3 devices: keys verify succeeded."
    rows = _rows(out, ids)
    assert sorted(rows) == sorted(ids)
    assert all("after a reset: breathing cyan" in row and "  ok" in row for row in rows.values()), rows


def test_keys_verify_all_fails_each_device_the_cloud_refuses(lab, particle):
    lab.create(["photon", "photon"], cloud_key="other")
    ids = lab.ids()
    code, out, err = particle("keys", "verify", "--all")
    assert code != 0
    assert out.splitlines()[-1] == "0 of 2 devices: keys verify succeeded."
    for device_id, row in _rows(out, ids).items():
        assert " failed: The cloud holds another public key for this device" in row, row
        assert row.endswith(f"particle keys doctor {device_id}"), row      # the fix, as the finish command


def test_key_files_are_one_devices(lab, particle):
    lab.create(["photon", "photon"])
    code, out, err = particle("keys", "verify", "--all", "--key", "device.der")
    assert code == 64
    assert err.splitlines()[0] == "--key and --server-key are one device's files: name that device"
