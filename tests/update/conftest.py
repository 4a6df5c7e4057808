import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Resolved before a test moves HOME: the npm packages scripts/install-peers put there.
PEERS = Path(os.environ.get("PARTICLE_PY_PEERS") or Path.home() / ".cache" / "particle-py-peers")
UPDATE_CLIS = ("2.16.0", "3.9.0")


def updates_dir(cli: str) -> Path:
    return PEERS / f"particle-cli-{cli}" / "node_modules" / "particle-cli" / "assets" / "updates"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    from helpers.home import isolate_home

    monkeypatch.setenv("PARTICLE_PY_PEERS", str(PEERS))
    monkeypatch.delenv("PARTICLE_PY_DEVICE_OS_FROM", raising=False)
    return isolate_home(tmp_path, monkeypatch)


@pytest.fixture
def release_dirs():
    """The folders with Particle's module files (never downloaded by a test)."""
    missing = [c for c in UPDATE_CLIS if not updates_dir(c).is_dir()]
    if missing:
        pytest.skip(f"particle-cli {', '.join(missing)} not in the peer cache {PEERS}: its Device OS files are "
                    "what these tests flash (run scripts/install-peers --npm)")
    return [str(updates_dir(c)) for c in UPDATE_CLIS]


@pytest.fixture
def from_env(release_dirs, monkeypatch):
    monkeypatch.setenv("PARTICLE_PY_DEVICE_OS_FROM", os.pathsep.join(release_dirs))
    return release_dirs


class Device:
    """One simulated device made by particle-sim's recipe (keys, cloud, Device OS, app)."""

    def __init__(self, folder: Path, platform: str):
        self.folder = folder
        self.platform = platform
        self.id = self.dev().profile.device_id

    def replug(self, *, mode="dfu"):
        """Plug the same board back in (after an unplug), with no fault knobs."""
        bus = self.bus()
        bus.knobs = {}
        if not bus.devices():
            bus.attach(f"{self.platform}{'-normal' if mode == 'normal' else ''}:real=1,id={self.id}"
                       if mode == "dfu" else f"{self.platform}-normal:id={self.id}", unit=0)
        bus.save()

    def bus(self):
        from particle_py.sim.bus import SimBus

        return SimBus.load(self.folder)

    def dev(self):
        return self.bus().devices()[0]

    def peek(self, alt, address, length):
        return self.dev().memory(alt).peek(address, length)

    def poke(self, alt, address, data):
        bus = self.bus()
        bus.devices()[0].memory(alt).poke(address, data)
        bus.save()

    def led(self) -> str:
        from particle_py.sim import devices

        bus = self.bus()
        shown = devices.outcome(bus.devices()[0], self.folder)
        bus.save()
        return f"{shown.led}: {shown.reason}"

    @property
    def mode(self) -> str:
        return "dfu" if self.dev().profile.is_dfu_mode else "normal"

    @property
    def device_id(self) -> str:
        return self.dev().profile.device_id

    def log(self):
        from particle_py.sim.bus import read_log

        return read_log(self.folder)


@pytest.fixture
def device(tmp_path, monkeypatch):
    def make(platform, *, mode="normal", device_os="1.5.2", knobs=None):
        from particle_py.sim import devices

        folder = tmp_path / "sim"
        devices.create(folder, [platform], devices.Recipe(mode=mode, device_os=device_os), knobs=knobs or {})
        monkeypatch.setenv("PARTICLE_PY_SIM", str(folder))
        return Device(folder, platform)
    return make


from helpers.cli import run  # noqa: E402,F401  (the shared fixture)
