import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Resolved before a test moves HOME: the npm packages scripts/install-peers put there.
PEERS = Path(os.environ.get("PARTICLE_PY_PEERS") or Path.home() / ".cache" / "particle-py-peers")


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    from helpers.home import isolate_home

    monkeypatch.setenv("PARTICLE_PY_PEERS", str(PEERS))
    monkeypatch.delenv("PARTICLE_PY_DEVICE_OS_FROM", raising=False)
    return isolate_home(tmp_path, monkeypatch)


class Device:
    """One simulated device made by particle-sim's recipe (keys, cloud, Device OS, app)."""

    def __init__(self, folder: Path, platform: str):
        self.folder = folder
        self.platform = platform

    def bus(self):
        from particle_py.sim.bus import SimBus

        return SimBus.load(self.folder)

    def peek(self, alt, address, length):
        return self.bus().devices()[0].memory(alt).peek(address, length)

    def led(self) -> str:
        from particle_py.sim import devices

        bus = self.bus()
        shown = devices.outcome(bus.devices()[0], self.folder)
        bus.save()
        return f"{shown.led}: {shown.reason}"

    @property
    def mode(self) -> str:
        return "dfu" if self.bus().devices()[0].profile.is_dfu_mode else "normal"

    @property
    def device_id(self) -> str:
        return self.bus().devices()[0].profile.device_id

    def log(self):
        from particle_py.sim.bus import read_log

        return read_log(self.folder)


@pytest.fixture
def device(tmp_path, monkeypatch):
    def make(platform, *, mode="normal", device_os="default"):
        from particle_py.sim import devices

        folder = tmp_path / "sim"
        devices.create(folder, [platform], devices.Recipe(mode=mode, device_os=device_os))
        monkeypatch.setenv("PARTICLE_PY_SIM", str(folder))
        return Device(folder, platform)
    return make


@pytest.fixture
def cloud(isolated_home):
    """The simulated cloud (the device folder's own database), the user logged in to it."""
    from particle_py.sim import cloud as cloud_mod

    started = []

    def start(device, *, logged_in=True):
        server = cloud_mod.start(device.folder / "cloud" / "cloud.sqlite")
        started.append(server)
        server.db.add_user("local@example.com", "not-a-real-password")
        config = isolated_home / ".particle" / "particle.config.json"
        settings = json.loads(config.read_text())
        settings["apiUrl"] = server.url
        if logged_in:
            settings["access_token"] = server.db.issue_token("local@example.com")
        config.write_text(json.dumps(settings))
        return server
    yield start
    for server in started:
        server.stop()


@pytest.fixture
def release_dirs():
    dirs = [PEERS / f"particle-cli-{v}" / "node_modules" / "particle-cli" / "assets" / "updates"
            for v in ("2.16.0", "3.9.0")]
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        pytest.skip(f"Device OS files not in the peer cache ({', '.join(missing)}): scripts/install-peers --npm")
    return [str(d) for d in dirs]


from helpers.cli import run  # noqa: E402,F401  (the shared fixture)
