"""Real particle-cli 3.43.1 against simulated Photon, Electron, Argon and P2 with today's
bootloaders, over the real libusb: `usb list`, `keys doctor`, `keys server`, `keys address`,
`flash --usb`, `usb dfu`, `usb reset` all succeed, and the device ends holding what our
`particle` leaves when it runs the same commands on the same device (the server key blob and
the app byte for byte; the device key each tool made, which its cloud holds)."""
from __future__ import annotations

import base64
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
import peers  # noqa: E402

pytestmark = [pytest.mark.umockdev, pytest.mark.peers]

PLATFORMS = ("photon", "electron", "argon", "p2")


def steps(platform: str) -> list[list[str]]:
    return [["usb", "list"], ["keys", "doctor"], ["keys", "server"], ["keys", "address"],
            ["flash", "--usb", f"app-{platform}.bin"], ["usb", "dfu"], ["usb", "reset"], ["usb", "list"]]


def _seed_official_server_keys(home: Path) -> None:
    """Our `keys server` downloads Particle's key once; here it finds it in the cache (the npm package)."""
    from particle_py.ops.keys import DEFAULT_SERVER_KEYS
    for path, sha256 in DEFAULT_SERVER_KEYS.values():
        source = peers.PEERS / "particle-cli-3.43.1" / "node_modules" / "particle-cli" / path
        target = home / ".cache" / "particle-py" / "assets" / sha256[:16] / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def _held(state: Path, platform_name: str) -> dict:
    from particle_py.platforms import by_name
    from particle_py.sim.bus import SimBus
    from particle_py.sim.contents import user_app
    platform = by_name(platform_name)
    dev = SimBus.load(state).devices()[0]
    protocol = platform.default_protocol
    key, server = platform.device_key[protocol], platform.server_key[protocol]
    app = user_app(platform)
    start = int.from_bytes(app[platform.module_info_offset:platform.module_info_offset + 4], "little")
    return {"device_id": dev.profile.device_id, "alg": key.alg,
            "key": bytes(dev.memory(key.alt).read(key.address, key.size)),
            "key_area": bytes(dev.memory(key.alt).read(key.address, key.size + 64)),
            "server": bytes(dev.memory(server.alt).read(server.address, server.size)),
            "app": bytes(dev.memory(0).read(start, len(app))) == app}


def _cloud_key(base: Path, device_id: str) -> bytes:
    from particle_py.sim.cloud_db import CloudDb
    found = CloudDb(base / "cloud.sqlite").device(device_id)
    return base64.b64decode(found["public_key"])


def _public_spki(der: bytes) -> bytes:
    from particle_py.keys import formats
    return formats.public_der(formats.parse_key(der).key)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_cli_3_43_and_ours_succeed_and_leave_the_same(platform, cli_new, tmp_path, monkeypatch):
    session = peers.Session(f"current-{platform}", "3.43.1", f"{platform}:real=1", steps(platform),
                            cloud_device=f"sim_{platform}")
    theirs = peers.run_session(session, base=tmp_path / "theirs")
    for step in theirs.steps:
        assert step.status == 0, f"particle-cli 3.43.1 `{' '.join(step.argv)}`:\n{step.stdout}\n{step.stderr}"
    monkeypatch.setenv("PARTICLE_PY_LIBUSB", "system")      # re-enumeration needs udev (docs/umockdev.md)
    (tmp_path / "ours" / "home").mkdir(parents=True)
    _seed_official_server_keys(tmp_path / "ours" / "home")
    ours = peers.run_session(session, particle=Path(sys.executable).parent / "particle", base=tmp_path / "ours")
    for step in ours.steps:
        assert step.status == 0, f"our `{' '.join(step.argv)}`:\n{step.stdout}\n{step.stderr}"
    a, b = _held(theirs.state, platform), _held(ours.state, platform)
    assert a["device_id"] == b["device_id"]
    assert a["server"] == b["server"], "the server key slots differ"
    assert a["app"] and b["app"], "the app is not where it belongs"
    # each tool's new device key is in the slot and its cloud holds the public key
    for result, held, base in ((theirs, a, tmp_path / "theirs"), (ours, b, tmp_path / "ours")):
        made = (result.work / f"{held['device_id']}_{held['alg']}_new.der").read_bytes()
        assert held["key_area"][:len(made)] == made
        assert _cloud_key(base, held["device_id"]) == _public_spki(made)
    # ours writes the key Device OS reads (PKCS#1 for RSA, within the 612-byte slot); particle-cli
    # 3.43.1 with OpenSSL 3 writes PKCS#8 there, longer than the slot (device-behaviour.md 2)
    ours_key = (ours.work / f"{b['device_id']}_{b['alg']}_new.der").read_bytes()
    assert len(ours_key) <= len(b["key"])
    assert "Flash success!" in theirs.steps[4].stdout and "Flash success!" in ours.steps[4].stdout
