"""`particle device-protection status|disable|enable --all`: a product fleet put in Service Mode
for its restore, and protected again, at once; each board holds what its row says."""
import json
from pathlib import Path

from helpers.batch import summary_rows

OWNER = "owner@example.com"


def _fleet(world, count: int) -> list:
    """``count`` protected Borons on Device OS 6.2.1, their owner logged in (world.create's way)."""
    from particle_py.cli.sim import main as particle_sim
    from particle_py.sim import cloud as sim_cloud
    from particle_py.sim.bus import SimBus

    assert particle_sim(["create", "boron", "--count", str(count), "--owner", OWNER, "--device-os", "6.2.1",
                         "--protected"]) == 0
    world.cloud = sim_cloud.start(world.state / "cloud" / "cloud.sqlite")
    config = Path.home() / ".particle" / "particle.config.json"
    settings = json.loads(config.read_text())
    settings.update(apiUrl=world.cloud.url, access_token=world.cloud.db.issue_token(OWNER), username=OWNER)
    config.write_text(json.dumps(settings))
    world.capsys.readouterr()
    return [d.profile.device_id for d in SimBus.load(world.state).devices()]


def test_service_mode_on_every_board_then_protected_again(world):
    ids = _fleet(world, 3)
    code, out, err = world.particle("device-protection", "status", "--all")
    assert code == 0, out + err
    assert all("Protected Device" in row for row in summary_rows(out, ids).values())
    code, out, err = world.particle("device-protection", "disable", "--all")
    assert code == 0, out + err
    assert out.splitlines()[-1] == "3 of 3 devices: device-protection disable succeeded."
    assert all("in Service Mode" in row for row in summary_rows(out, ids).values())
    from particle_py.sim import protection
    assert [protection.read_record(world.state, i).state for i in range(3)] == ["service"] * 3
    code, out, err = world.particle("device-protection", "status", "--all")
    assert all("Protected Device (Service Mode)" in row for row in summary_rows(out, ids).values()), out
    code, out, err = world.particle("device-protection", "enable", "--all")
    assert code == 0, out + err
    assert all("now a Protected Device" in row for row in summary_rows(out, ids).values()), out
    assert [protection.read_record(world.state, i).state for i in range(3)] == ["protected"] * 3
