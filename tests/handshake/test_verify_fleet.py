"""`particle keys verify --all`: every attached device's own handshake against the simulated
cloud, at once; a row per device, the LED each will show after a reset, and exit 0 only when the
cloud accepts every one."""
import pytest

from helpers.batch import summary_rows as _rows


@pytest.fixture
def fleet_cloud(home, tmp_path, monkeypatch):
    """make(platforms, **recipe) -> ids: boards made by `particle-sim create`, their cloud answering
    the handshake, reached as a user of a local cloud reaches it."""
    from particle_py.sim import cloud as sim_cloud
    from particle_py.sim import devices as simdev
    from particle_py.sim.bus import SimBus

    folder = tmp_path / "sim"
    monkeypatch.setenv("PARTICLE_PY_SIM", str(folder))
    running = []

    def make(platforms, **recipe):
        simdev.create(folder, list(platforms), simdev.Recipe(**recipe))
        running.append(sim_cloud.start(folder / "cloud" / "cloud.sqlite", handshakes=True))
        monkeypatch.setenv("PARTICLE_PY_CLOUD_HOSTS", f"@{folder / 'cloud'}")
        return [d.profile.device_id for d in SimBus.load(folder).devices()]
    yield make
    for cloud in running:
        cloud.stop()
    from particle_py import usb
    usb.release_simulator()


def test_keys_verify_all_proves_every_device(fleet_cloud, particle):
    ids = fleet_cloud(["photon", "photon", "electron"])
    code, out, err = particle("keys", "verify", "--all")
    assert code == 0, out + err
    assert out.splitlines()[-1] == "3 of 3 devices: keys verify succeeded."
    rows = _rows(out, ids)
    assert sorted(rows) == sorted(ids)
    assert all("after a reset: breathing cyan" in row and "  ok" in row for row in rows.values()), rows


def test_keys_verify_all_fails_each_device_the_cloud_refuses(fleet_cloud, particle):
    ids = fleet_cloud(["photon", "photon"], cloud_key="other")
    code, out, err = particle("keys", "verify", "--all")
    assert code != 0
    assert out.splitlines()[-1] == "0 of 2 devices: keys verify succeeded."
    for device_id, row in _rows(out, ids).items():
        assert " failed: The cloud holds another public key for this device" in row, row
        assert row.endswith(f"particle keys doctor {device_id}"), row      # the fix, as the finish command


def test_key_files_are_one_devices(fleet_cloud, particle):
    fleet_cloud(["photon", "photon"])
    code, out, err = particle("keys", "verify", "--all", "--key", "device.der")
    assert code == 64
    assert err.splitlines()[0] == "--key and --server-key are one device's files: name that device"
