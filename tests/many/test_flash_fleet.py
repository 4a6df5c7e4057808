"""`particle flash --usb` on many devices at once: `--all`, `--platform`, several ids; each
device's flash holds what its row says, and one device's failure stays its own."""
import pytest

from particle_py.platforms import by_name
from tests.helpers.modules import build_module


def _app(fleet, platform: str = "photon", seed: int = 7):
    data = build_module(platform, size=6144, seed=seed)
    path = fleet.work / f"app-{platform}.bin"
    path.write_bytes(data)
    return path, data


def _boards(fleet) -> dict:
    from particle_py.sim.bus import SimBus

    return {d.profile.device_id: d for d in SimBus.load(fleet.state).devices()}


def _holds(board, data: bytes) -> bool:
    """The module is in internal flash at the start address its own prefix names."""
    from particle_py.firmware import module

    payload = module.parse(data)
    alt = by_name(board.profile.platform).user_part.alt
    return board.memory(alt).peek(payload.prefix.start, len(payload.payload())) == payload.payload()


@pytest.mark.parametrize("count", [2, 8])
def test_flash_all_writes_the_app_to_every_photon(fleet, count):
    ids = fleet.create_many(["photon"] * count)
    path, data = _app(fleet)
    code, out, err = fleet.particle("flash", "--usb", "--all", path.name)
    lines = out.splitlines()
    assert code == 0, out + err
    assert lines[-1] == f"{count} of {count} devices: flash succeeded."
    for device_id in ids:
        row = [line for line in lines if line.startswith(device_id + " ")]
        assert len(row) == 1 and "flashed app-photon.bin" in row[0] and "  ok" in row[0], row
    boards = _boards(fleet)
    assert all(_holds(boards[i], data) for i in ids)
    assert "Flash success!" not in lines            # the single-device line is not the batch's


def test_two_ids_flash_those_two_only(fleet):
    ids = fleet.create_many(["photon"] * 3)
    path, data = _app(fleet)
    code, out, err = fleet.particle("flash", "--usb", ids[0], ids[2], path.name)
    assert code == 0, out + err
    assert out.splitlines()[-1] == "2 of 2 devices: flash succeeded."
    boards = _boards(fleet)
    assert [_holds(boards[i], data) for i in ids] == [True, False, True]


def test_platform_filter_flashes_each_its_own_tinker(fleet):
    ids = fleet.create_many(["photon", "argon", "argon"])
    # a filter that matches two, with no --all: a script is told which, and nothing is written
    code, out, err = fleet.particle("flash", "--usb", "--platform", "argon", "tinker")
    assert code == 1
    assert err.splitlines()[0] == (f"2 devices found, and no device was named: {ids[1]} Argon normal mode on 1-3; "
                                   f"{ids[2]} Argon normal mode on 1-4")
    code, out, err = fleet.particle("flash", "--usb", "--all", "--platform", "argon", "tinker")
    assert code == 0, out + err
    assert out.splitlines()[-1] == "2 of 2 devices: flash succeeded."
    assert not any(line.startswith(ids[0]) for line in out.splitlines())
    from particle_py import assets
    from particle_py.firmware.known_apps import KNOWN_APPS

    tinker = next(a for a in KNOWN_APPS if a.platform == "argon" and a.name == "tinker")
    data = assets.packaged(tinker.path, tinker.sha256)        # Tinker ships with the package
    boards = _boards(fleet)
    assert _holds(boards[ids[1]], data) and _holds(boards[ids[2]], data)


def test_a_device_unplugged_midway_fails_alone(fleet):
    ids = fleet.create_many(["photon"] * 3, "--fault-on", "2:UNPLUG_AFTER=20")
    path, data = _app(fleet)
    code, out, err = fleet.particle("flash", "--usb", "--all", path.name)
    assert code != 0
    rows = out.splitlines()[-4:]
    assert rows[-1] == "2 of 3 devices: flash succeeded.", "\n".join(rows)
    failed = [r for r in rows if r.startswith(ids[1])]
    assert len(failed) == 1 and "failed:" in failed[0], rows
    assert failed[0].endswith(f"particle flash --usb {ids[1]} {path.name}"), failed[0]
    boards = _boards(fleet)
    assert _holds(boards[ids[0]], data) and _holds(boards[ids[2]], data)


def test_local_takes_one_device(fleet):
    fleet.create_many(["photon"] * 2)
    path, _ = _app(fleet)
    code, out, err = fleet.particle("flash", "--local", "--all", path.name)
    assert code == 64
    assert "--all, --platform and --mode go with --usb" in err


def test_flash_all_json_has_every_device_in_one_envelope(fleet):
    import json

    from tests.json.schema_check import check

    ids = fleet.create_many(["photon"] * 2)
    path, _ = _app(fleet)
    code, out, err = fleet.particle("flash", "--usb", "--all", path.name, "--json")
    assert code == 0, out + err
    envelope = json.loads(out)
    check(envelope)
    batch = envelope["result"]["batch"]
    assert (batch["succeeded"], batch["total"]) == (2, 2)
    assert sorted(d["device_id"] for d in batch["devices"]) == sorted(ids)
    assert {d["done"] for d in batch["devices"]} == {"flashed app-photon.bin"}
    assert envelope["output"][-1] == "2 of 2 devices: flash succeeded."     # the text, from the same events


def test_ids_that_match_nothing_write_nothing(fleet):
    ids = fleet.create_many(["photon"] * 2)
    path, data = _app(fleet)
    code, out, err = fleet.particle("flash", "--usb", ids[0], "0123456789abcdef01234567", path.name)
    assert code == 1
    assert err.splitlines()[0] == "Device not found: 0123456789abcdef01234567"
    assert err.splitlines()[1].startswith("Check the ids with `particle usb list`. Attached: ")
    boards = _boards(fleet)
    assert not any(_holds(boards[i], data) for i in ids)


def test_a_missing_file_after_an_id_is_named_as_a_file(fleet):
    ids = fleet.create_many(["photon"] * 2)
    path, data = _app(fleet)
    code, out, err = fleet.particle("flash", "--usb", ids[0], "missing.bin", path.name)
    assert code == 1
    assert err.splitlines()[0] == "missing.bin doesn't exist"
    assert not _holds(_boards(fleet)[ids[0]], data)
