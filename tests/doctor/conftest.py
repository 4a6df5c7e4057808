"""A simulated device, its owner logged in to a running simulated cloud, and Particle's official
files (server keys, Tinker) served on loopback from the particle-cli npm package that
scripts/install-peers installs (the project carries no copies).

The simulated cloud is given Particle's official server public keys as its own, so the key
`particle keys server` writes by default is the one its devices must hold (as on Particle's
cloud). Devices are made with `particle-sim create`, as a user would.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from helpers.loopback import serving

PEERS = Path(os.environ.get("PARTICLE_PY_PEERS", Path.home() / ".cache" / "particle-py-peers"))
OWNER = "owner@example.com"
IDS = {"photon": "3a0029000c47343432313031", "electron": "2c003b000a47363433353735",
       "argon": "e00fce68a4c2c3c1a9f0e7b1", "boron": "e00fce68ba1d4f6c1e2b9a70",
       "p2": "0a10aced202194944a0b1c2d"}
PLATFORMS = tuple(IDS)


def official_root() -> Path:
    """particle-cli's package folder (its assets/ match particle_py.assets' pinned paths)."""
    # the newest first (3.43.1 before 3.9.0): only the newer packages carry the P2's Tinker
    def version(path: Path) -> tuple:
        return tuple(int(p) for p in path.parts[-3].split("-")[-1].split(".") if p.isdigit())

    for candidate in sorted(PEERS.glob("particle-cli-3.*/node_modules/particle-cli"), key=version, reverse=True):
        if (candidate / "assets" / "keys" / "rsa.pub.der").is_file():
            return candidate
    pytest.skip("needs particle-cli's npm package in the peer cache for the official server keys and "
                "Tinker (scripts/install-peers)")


def device_os_folders() -> list[str]:
    return [str(p) for p in sorted(PEERS.glob("particle-cli-*/node_modules/particle-cli/assets/updates"))]


@pytest.fixture(scope="session")
def asset_url():
    with serving(official_root()) as url:
        yield url


def give_cloud_particles_keys(state: Path) -> None:
    """The simulated cloud's server public keys := Particle's official ones (the key part of the
    official DCT blobs)."""
    from particle_py.keys import formats

    folder = state / "cloud"
    folder.mkdir(parents=True, exist_ok=True)
    for alg, name in (("rsa", "rsa.pub.der"), ("ec", "ec.pub.der")):
        blob = (official_root() / "assets" / "keys" / name).read_bytes()
        (folder / f"server_{alg}.pub.der").write_bytes(formats.trim_der(blob))


class World:
    def __init__(self, tmp_path: Path, monkeypatch, capsys, asset_url: str):
        self.tmp, self.capsys = tmp_path, capsys
        self.state, self.home, self.work = tmp_path / "sim", tmp_path / "home", tmp_path / "work"
        self.home.mkdir()
        self.work.mkdir()
        monkeypatch.setenv("PARTICLE_PY_SIM", str(self.state))
        monkeypatch.setenv("HOME", str(self.home))
        monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
        monkeypatch.setenv("PARTICLE_PY_ASSET_URL", asset_url)
        # Device OS for the doctor's `particle update` step: Particle's files in particle-cli's
        # npm packages (never downloaded by a test)
        monkeypatch.setenv("PARTICLE_PY_DEVICE_OS_FROM", os.pathsep.join(device_os_folders()))
        monkeypatch.chdir(self.work)
        self.monkeypatch = monkeypatch
        give_cloud_particles_keys(self.state)
        self.cloud = None
        self.device_id = None

    def create(self, platform: str, *options: str, owner: bool = True, login: bool = True) -> str:
        """`particle-sim create` with the simulated cloud started (and its owner logged in)."""
        from particle_py.cli.sim import main as particle_sim
        from particle_py.sim import cloud as sim_cloud

        self.device_id = IDS[platform]
        args = ["create", platform, "--id", self.device_id, *options]
        if owner:
            args += ["--owner", OWNER]
        assert particle_sim(args) == 0
        self.cloud = sim_cloud.start(self.state / "cloud" / "cloud.sqlite")
        if login:
            self.login()
        self.capsys.readouterr()
        return self.device_id

    def stand_in_release(self, platform: str, version: str) -> Path:
        """A Device OS release folder of stand-in system parts (platforms with no pinned release,
        the P2), added to PARTICLE_PY_DEVICE_OS_FROM for the doctor's `particle update` step."""
        from particle_py.platforms import by_name
        from particle_py.sim import contents

        folder = self.tmp / f"{platform}-{version}"
        folder.mkdir()
        for name, _address, data in contents.stand_in_files(by_name(platform), version):
            if "system-part" in name:
                (folder / name).write_bytes(data)
        self.monkeypatch.setenv("PARTICLE_PY_DEVICE_OS_FROM",
                                os.pathsep.join([str(folder), os.environ["PARTICLE_PY_DEVICE_OS_FROM"]]))
        return folder

    def login(self) -> None:
        token = self.cloud.db.issue_token(OWNER)
        (self.home / ".particle").mkdir(exist_ok=True)
        (self.home / ".particle" / "particle.config.json").write_text(
            json.dumps({"apiUrl": self.cloud.url, "access_token": token, "username": OWNER}))

    def particle(self, *args) -> tuple[int, str, str]:
        from particle_py.cli.particle.main import main

        self.capsys.readouterr()
        code = main(list(args))
        out, err = self.capsys.readouterr()
        return code, out, err

    def dfu_util(self, *args) -> int:
        import io

        from particle_py.cli.dfu_util.main import main as dfu_util
        return dfu_util(["dfu-util", *args], stdout=io.StringIO(), stderr=io.StringIO())

    def led(self) -> str:
        """`particle-sim status`: 'LED: <pattern> (<meaning>) | why: <reason>'."""
        from particle_py.cli.sim import main as particle_sim

        self.capsys.readouterr()
        assert particle_sim(["status"]) == 0
        lines = self.capsys.readouterr().out.splitlines()
        return lines[1].strip() + " | " + lines[2].strip()

    def close(self):
        if self.cloud is not None:
            self.cloud.stop()


@pytest.fixture
def world(tmp_path, monkeypatch, capsys, asset_url):
    w = World(tmp_path, monkeypatch, capsys, asset_url)
    yield w
    w.close()
