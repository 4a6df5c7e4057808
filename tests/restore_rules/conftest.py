"""Simulated devices restored with `particle update` / `flash --usb`, Particle's own Device OS
files from the peer cache (scripts/install-peers) where they exist, stand-ins otherwise."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from helpers.home import isolated_home  # noqa: E402,F401

PEERS = Path(os.environ.get("PARTICLE_PY_PEERS", Path.home() / ".cache" / "particle-py-peers"))


@pytest.fixture
def peers(monkeypatch):
    folders = sorted(str(p) for p in PEERS.glob("particle-cli-*/node_modules/particle-cli/assets/updates"))
    if not folders:
        pytest.skip("needs particle-cli's npm packages in the peer cache (scripts/install-peers)")
    monkeypatch.setenv("PARTICLE_PY_PEERS", str(PEERS))
    return folders


class World:
    def __init__(self, tmp_path: Path, monkeypatch, capsys):
        self.tmp, self.capsys, self.monkeypatch = tmp_path, capsys, monkeypatch
        self.state = tmp_path / "sim"
        monkeypatch.setenv("PARTICLE_PY_SIM", str(self.state))
        self.release_dirs: list[str] = []

    def create(self, platform: str, *options: str) -> None:
        from particle_py.cli.sim import main as particle_sim

        assert particle_sim(["create", platform, *options]) == 0
        self.capsys.readouterr()

    def releases(self, *folders: str) -> None:
        self.release_dirs += list(folders)
        self.monkeypatch.setenv("PARTICLE_PY_DEVICE_OS_FROM", os.pathsep.join(self.release_dirs))

    def stand_in_release(self, platform: str, version: str, seed: int) -> Path:
        """System parts of ``version`` with their own bytes (``seed``), as different releases have."""
        from particle_py.module_layout import ModuleFunction
        from particle_py.platforms import by_name
        from particle_py.sim import contents

        p = by_name(platform)
        folder = self.tmp / f"{platform}-{version}"
        folder.mkdir()
        modver = contents.module_version(version)
        for index, address in enumerate(p.system_parts, 1):
            deps = ((ModuleFunction.SYSTEM_PART, index - 1, modver),) if index > 1 else ()
            data = contents.build_module(p, function=ModuleFunction.SYSTEM_PART, index=index, version=modver,
                                         size=16384, start=address, deps=deps, seed=seed + index,
                                         suffix_extensions=contents.suffix_extensions_for(p, address))
            (folder / f"{platform}-system-part{index}@{version}.bin").write_bytes(data)
        self.releases(str(folder))
        return folder

    def particle(self, *args) -> tuple[int, str, str]:
        from particle_py.cli.particle.main import main

        self.capsys.readouterr()
        code = main([str(a) for a in args])
        out, err = self.capsys.readouterr()
        return code, out, err

    def device(self):
        from particle_py.sim.bus import SimBus
        return SimBus.load(self.state).devices()[0]

    def boots(self) -> tuple[str, str]:
        """What the board's flash starts into (sim/boot.py's check)."""
        from particle_py.platforms import by_name
        from particle_py.sim import boot

        dev = self.device()
        return boot.check_firmware(dev._read_board, by_name(dev.profile.platform))

    def setup_pending(self) -> bool:
        """The boot model: Device OS below 4 finds the setup-done flag unset (listening mode)."""
        from particle_py.platforms import by_name
        from particle_py.sim import boot

        dev = self.device()
        return boot.setup_pending(dev._read_board, by_name(dev.profile.platform))


@pytest.fixture
def world(tmp_path, monkeypatch, capsys):
    return World(tmp_path, monkeypatch, capsys)
