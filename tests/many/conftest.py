"""Many simulated devices on one bus, their owner logged in to a running simulated cloud (the
doctor tests' world, with several boards made by one `particle-sim create`)."""
from __future__ import annotations

import pytest

from tests.doctor.conftest import OWNER, World, asset_url  # noqa: F401  (asset_url: a fixture)


class Fleet(World):
    def create_many(self, platforms: list, *options: str, owner: bool = True, handshakes: bool = False) -> list:
        """`particle-sim create P P P ...`; returns the device ids in bus order. ``handshakes``:
        the cloud answers the devices' handshake too, reached as a user of a local cloud does."""
        from particle_py.cli.sim import main as particle_sim
        from particle_py.sim import cloud as sim_cloud
        from particle_py.sim.bus import SimBus

        args = ["create", *platforms, *options] + (["--owner", OWNER] if owner else [])
        assert particle_sim(args) == 0
        self.cloud = sim_cloud.start(self.state / "cloud" / "cloud.sqlite", handshakes=handshakes)
        if handshakes:
            self.monkeypatch.setenv("PARTICLE_PY_CLOUD_HOSTS", f"@{self.state / 'cloud'}")
        self.login()
        self.capsys.readouterr()
        return [d.profile.device_id for d in SimBus.load(self.state).devices()]

    def leds(self) -> dict:
        """device id -> its LED line from `particle-sim status` (a board that re-enumerated is
        listed in another place on the bus, so the id, not the place, names it)."""
        from particle_py.cli.sim import main as particle_sim

        self.capsys.readouterr()
        assert particle_sim(["status"]) == 0
        shown, device = {}, None
        for line in self.capsys.readouterr().out.splitlines():
            if not line.startswith(" ") and " [" in line:
                device = line.split(" [")[0].split()[-1]
            elif line.strip().startswith("LED:"):
                shown[device] = line.strip()
        return shown


@pytest.fixture
def fleet(tmp_path, monkeypatch, capsys, asset_url):  # noqa: F811
    f = Fleet(tmp_path, monkeypatch, capsys, asset_url)
    yield f
    f.close()


def respec(state, index: int, extra: str = "", spec: str = "") -> None:
    """Give the index-th simulated board another profile string (a clone's id, an old bootloader,
    a fault of its own), as if it had been made so; its flash stays as it is."""
    import json

    path = state / "state.json"
    data = json.loads(path.read_text())
    rec = data["devices"][index]
    rec["spec"] = spec or rec["spec"] + (":" if ":" not in rec["spec"] else ",") + extra
    path.write_text(json.dumps(data))
