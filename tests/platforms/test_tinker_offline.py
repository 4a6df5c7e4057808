"""Tinker ships with the package for every platform particle-cli bundles it for, so
`particle flash --usb tinker` works with the network off."""
import hashlib
import json
import socket

import pytest

from particle_py import assets
from particle_py.firmware import known_apps
from particle_py.firmware.module import parse
from particle_py.platforms import by_name

TINKER_PLATFORMS = sorted({app.platform for app in known_apps.KNOWN_APPS if app.name == "tinker"})


@pytest.fixture
def no_network(tmp_path, monkeypatch):
    """Downloads go to a loopback port nothing listens on, and the download cache is empty."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("PARTICLE_PY_ASSET_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_every_known_app_ships_with_its_pinned_hash_source_and_licence():
    manifest = json.loads(assets.data_path("tinker/MANIFEST.json").read_text())
    shipped = {(e["platform"], e["app"]): e for e in manifest["apps"]}
    assert set(shipped) == {(a.platform, a.name) for a in known_apps.KNOWN_APPS}
    for app in known_apps.KNOWN_APPS:
        entry = shipped[(app.platform, app.name)]
        data = assets.data_path("tinker/" + entry["file"]).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (app.size, app.sha256) == \
            (entry["size"], entry["sha256"])
        assert entry["source"] == f"particle-cli 3.51.0 npm package, {app.path}"
        assert assets.packaged(app.path, app.sha256) == data
        assert assets.packaged(app.path, "0" * 64) is None       # another pin is not answered from the package
    assert sum(e["size"] for e in manifest["apps"]) == 359946
    assert "Apache License" in assets.data_path("tinker/LICENSE-particle-cli").read_text()[:200]
    assert "particle-cli 3.51.0" in assets.data_path("tinker/SOURCE.md").read_text()


@pytest.mark.parametrize("name", TINKER_PLATFORMS)
def test_flash_usb_tinker_works_offline_on_every_platform(sim, run, no_network, name):
    platform = by_name(name)
    s = sim(f"{name}-normal:fw=6.3.5" if platform.generation >= 3 else f"{name}-normal")
    app = known_apps.find(name, "tinker")
    data = assets.data_path("tinker/" + app.filename).read_bytes()
    code, out, err = run("flash", "--usb", "tinker")
    assert code == 0, err
    assert out.splitlines()[-2:] == [f"Flashing {app.filename}", "Flash success!"]
    prefix = parse(data).prefix
    start = prefix.start if prefix is not None else platform.user_part.address
    assert s.peek(0, start, len(data)) == data
    assert not (no_network / "particle-py").exists()          # nothing was downloaded


@pytest.mark.parametrize("name", ["sulu", "electron2"])
def test_a_platform_with_no_tinker_is_told_so_and_left_running(sim, run, no_network, name):
    s = sim(f"{name}-normal")
    code, out, err = run("flash", "--usb", "tinker")
    assert code == 1
    assert err.splitlines()[0] == f"There is no known app tinker for {by_name(name).display_name}"
    assert [(d.vid, d.pid) for d in s.devices()] == [by_name(name).usb_ids]


def test_the_wheel_carries_the_apps():
    """pyproject's package data names every shipped file (the wheel holds what the patterns match)."""
    import fnmatch
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib")          # Python 3.11+
    root = Path(__file__).resolve().parents[2]
    patterns = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["particle_py"]
    folder = root / "particle_py" / "data" / "tinker"
    shipped = [p.relative_to(root / "particle_py").as_posix() for p in folder.iterdir()]
    assert len(shipped) == 18
    assert all(any(fnmatch.fnmatch(name, pattern) for pattern in patterns) for name in shipped)
