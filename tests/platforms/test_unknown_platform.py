"""A device of a platform newer than this particle-py (a Particle USB id the table does not
have): named by its USB ids, and left exactly as it was."""
from helpers.modules import build_module

NEWER = "This particle-py does not know platform 255 (USB 2b04:{pid}, {mode}); a newer particle-py may."


def test_flash_to_a_device_of_an_unknown_platform_says_so_and_changes_nothing(sim, run, tmp_path):
    s = sim("boron-normal:pid=c0ff:id=e00fce68f1e2d3c4b5a69788")
    before = s.peek(0, 0, 0x100000)
    (tmp_path / "app.bin").write_bytes(build_module("boron", size=4000))
    code, out, err = run("flash", "--usb", tmp_path / "app.bin")
    assert code == 1
    assert err.splitlines()[:2] == ["No devices found that this particle-py can work with",
                                    NEWER.format(pid="c0ff", mode="normal mode") + " Nothing was changed on it."]
    assert [(d.vid, d.pid) for d in s.devices()] == [(0x2B04, 0xC0FF)]
    assert s.peek(0, 0, 0x100000) == before
    assert not [e for e in s.log() if e.get("event") == "control" and e["bmRequestType"] & 0x60]


def test_a_known_device_beside_an_unknown_one_is_used(sim, run, tmp_path):
    s = sim("boron:pid=d0ff:id=e00fce68f1e2d3c4b5a69788", "argon:id=e00fce68a1b2c3d4e5f60718")
    app = build_module("argon", size=4000)
    (tmp_path / "app.bin").write_bytes(app)
    code, out, err = run("flash", "--usb", tmp_path / "app.bin")
    assert code == 0, err
    assert s.peek(0, 0xB4000, len(app), index=1) == app


def test_update_and_doctor_say_so_too(sim, run):
    s = sim("boron-normal:pid=c0ff:id=e00fce68f1e2d3c4b5a69788")
    for args in (("update", "--no-download"), ("doctor", "--dry-run")):
        code, out, err = run(*args)
        assert code == 1
        assert err.splitlines()[:2] == ["No devices found that this particle-py can work with",
                                        NEWER.format(pid="c0ff", mode="normal mode") + " Nothing was changed on it."]
    assert [(d.vid, d.pid) for d in s.devices()] == [(0x2B04, 0xC0FF)]


def test_the_generated_table_is_the_pinned_release():
    """platform_constants.py names the release and tarball hash scripts/pin-platforms pins."""
    import re
    from pathlib import Path

    from particle_py import platform_constants

    script = (Path(__file__).resolve().parents[2] / "scripts" / "pin-platforms").read_text()
    version = re.search(r'^VERSION = "([^"]+)"', script, re.M).group(1)
    sha = re.search(r'^SHA256 = "([0-9a-f]{64})"', script, re.M).group(1)
    assert platform_constants.SOURCE == f"@particle/device-constants {version}"
    assert sha in platform_constants.__doc__
    assert len(platform_constants.PLATFORMS) == 26 and platform_constants.PLATFORMS[38]["name"] == "sulu"
