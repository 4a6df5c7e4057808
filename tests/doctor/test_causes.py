"""Every cause of a non-connecting LED the simulator's boot model knows, reached with the commands
users run (dfu-util, particle keys, particle usb), on each platform: `particle doctor --dry-run`
names the cause and predicts the LED the boot model shows; `particle doctor --yes` brings the
device to breathing cyan (Device OS restored by `particle update`'s operation, from the files in
particle-cli's npm packages)."""
from __future__ import annotations

import json

import pytest

from tests.doctor.conftest import PLATFORMS

FIRMWARE_MODELLED = ("photon", "electron", "argon", "boron", "p2")     # the boot model checks modules there
# Device OS newer than the one a new simulated device holds (1.5.2; 5.0.0 on the P2)
NEWER_DEVICE_OS = {"p2": "6.2.0"}
# No release is pinned for the P2: the doctor's `particle update` step takes stand-ins from a folder
STAND_IN_RELEASE = {"p2": "5.8.0"}


def _platform(name):
    from particle_py.platforms import by_name
    return by_name(name)


def _protocol_alg(name):
    platform = _platform(name)
    return platform.default_protocol, platform.device_key[platform.default_protocol].alg


# --- how users get there ----------------------------------------------------------------------

def cut_short_system_part(world, name):
    from particle_py.sim import contents
    platform = _platform(name)
    address, part = contents.device_os(platform, contents.default_device_os(platform))[0]
    (world.work / "system-part1.bin").write_bytes(part[:-3000])          # a download cut short
    assert world.particle("usb", "dfu")[0] == 0
    world.dfu_util("-d", platform.dfu_vid_pid, "-a", "0", "-s", f"0x{address:x}:leave", "-D", "system-part1.bin")


def app_for_newer_device_os(world, name):
    """`particle flash --usb` of an app built for a newer Device OS. On Argon and Boron such an
    app (for 3.1+) goes to the 256 KB part at 0xB4000 and the old 128 KB slot at 0xD4000 is wiped
    first, as particle-cli does; the device's Device OS 1.5.2 runs apps from 0xD4000 only."""
    from particle_py.sim import contents
    platform = _platform(name)
    (world.work / "app.bin").write_bytes(contents.user_app(platform, NEWER_DEVICE_OS.get(name, "4.1.0")))
    code, out, err = world.particle("flash", "--usb", "app.bin")
    assert code == 0, out + err


def p2_app_without_its_start(world, name):
    """An app whose suffix opens with another extension than its start address: P2 Device OS reads
    only the first extension to find where the app starts (core_hal.c), so it finds none."""
    from particle_py.sim import contents
    platform = _platform(name)
    size = 8192
    start = platform.user_part.address - size
    (world.work / "app.bin").write_bytes(contents.build_module(
        platform, function=5, size=size, start=start, deps=((4, 1, 5002),),
        suffix_extensions=b"\x11\x00\x08\x00tink" + contents.dynamic_location(start)))
    assert world.particle("usb", "dfu")[0] == 0
    world.dfu_util("-d", platform.dfu_vid_pid, "-a", "0", "-s", f"0x{start:x}:leave", "-D", "app.bin")


def _write_key_slot(world, name, data: bytes):
    platform = _platform(name)
    slot = platform.device_key[platform.default_protocol]
    (world.work / "slot.bin").write_bytes(data)
    assert world.particle("usb", "dfu")[0] == 0
    world.dfu_util("-d", platform.dfu_vid_pid, "-a", "1", "-s", f"{slot.address}:leave", "-D", "slot.bin")


def erased_device_key(world, name):
    platform = _platform(name)
    _write_key_slot(world, name, b"\xff" * platform.device_key[platform.default_protocol].size)


def pkcs8_device_key(world, name):
    """What particle-cli's OpenSSL chain wrote with OpenSSL 3: PKCS#8 DER."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    _protocol, alg = _protocol_alg(name)
    key = rsa.generate_private_key(65537, 1024) if alg == "rsa" else ec.generate_private_key(ec.SECP256R1())
    _write_key_slot(world, name, key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))


def foreign_server_key(world, name):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    _protocol, alg = _protocol_alg(name)
    key = rsa.generate_private_key(65537, 2048) if alg == "rsa" else ec.generate_private_key(ec.SECP256R1())
    (world.work / "other_server.der").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))
    assert world.particle("keys", "server", "other_server.der")[0] == 0
    assert world.particle("usb", "reset")[0] == 0


def foreign_server_address(world, name):
    assert world.particle("keys", "server", "--host", "10.1.2.3")[0] == 0
    assert world.particle("usb", "reset")[0] == 0


def key_the_cloud_does_not_know(world, name):
    protocol, _alg = _protocol_alg(name)
    assert world.particle("keys", "new", "mykey", "--protocol", protocol)[0] == 0
    assert world.particle("keys", "load", "mykey.der")[0] == 0
    assert world.particle("usb", "reset")[0] == 0


def listening(world, name):
    assert world.particle("usb", "start-listening")[0] == 0


def electron_switched_to_tcp(world, name):
    """The old CLI's `keys protocol tcp` on an Electron that has no TCP keys."""
    assert world.particle("keys", "protocol", "--protocol", "tcp")[0] == 0
    assert world.particle("usb", "reset")[0] == 0


# cause -> (how, finding codes the dry run must name, LED, platforms)
CAUSES = {
    "device-os-cut-short": (cut_short_system_part, {"device_os_invalid"}, "blinking yellow", FIRMWARE_MODELLED),
    "app-needs-newer-device-os": (app_for_newer_device_os, {"app_needs_newer_device_os"}, "breathing magenta",
                                  FIRMWARE_MODELLED),
    "p2-app-without-its-start": (p2_app_without_its_start, {"app_invalid"}, "breathing magenta", ("p2",)),
    "device-key-erased": (erased_device_key, {"device_key_empty"}, "blinking cyan with 1 orange burst", PLATFORMS),
    "device-key-pkcs8": (pkcs8_device_key, {"device_key_unusable"}, "blinking cyan with 1 red burst", PLATFORMS),
    "server-key-foreign": (foreign_server_key, {"server_key_wrong"}, "blinking cyan with 3 orange bursts",
                           PLATFORMS),
    "server-address-foreign": (foreign_server_address, {"server_address_wrong"},
                               "blinking cyan with 3 orange bursts", PLATFORMS),
    "cloud-holds-another-key": (key_the_cloud_does_not_know, {"cloud_key_mismatch"},
                                "blinking cyan with 1 orange burst", PLATFORMS),
    "listening-mode": (listening, {"listening_mode"}, "blinking blue", PLATFORMS),
    "electron-tcp-without-tcp-keys": (electron_switched_to_tcp, {"device_key_empty", "server_key_wrong"},
                                      "blinking cyan with 1 orange burst", ("electron",)),
}
CASES = [pytest.param(cause, name, id=f"{cause}-{name}") for cause, spec in CAUSES.items() for name in spec[3]]


@pytest.mark.parametrize("cause, name", CASES)
def test_doctor_names_the_cause_and_repairs_it(world, cause, name):
    how, codes, led, _platforms = CAUSES[cause]
    world.create(name)
    if name in STAND_IN_RELEASE:
        world.stand_in_release(name, STAND_IN_RELEASE[name])
    assert world.led().startswith("LED: breathing cyan")
    how(world, name)
    shown = world.led()
    assert shown.startswith(f"LED: {led} ("), shown

    code, out, err = world.particle("doctor", "--dry-run", "--json")
    assert code == 0, err
    report = json.loads(out)
    named = {f["code"] for f in report["diagnosis"]["findings"] if f["problem"]}
    assert codes <= named, (named, err)
    assert report["diagnosis"]["led_now"] == led          # the doctor's LED is the boot model's
    assert report["repaired"] is False and report["repairs"] == []
    for finding in report["diagnosis"]["findings"]:
        if finding["code"] in codes and finding.get("led"):
            assert f"FAIL {finding['led']}: {finding['text']}" in err

    code, out, err = world.particle("doctor", "--yes")
    if cause == "device-os-cut-short":
        # the Device OS step is `particle update`'s operation: the newest pinned release, proven
        assert "Restore Device OS: writes the Device OS system parts to internal flash (particle update)" in out
        assert any(line.startswith("Device OS ") and " written: " in line for line in out.splitlines()), out
    assert code == 0, out + err
    assert out.splitlines()[-2] == "The device should now show: breathing cyan."
    assert world.led().startswith("LED: breathing cyan (connected to the cloud)")
    code, out, err = world.particle("doctor", "--dry-run", "--json")
    assert json.loads(out)["remaining"] == []


def test_p2_without_a_release_at_hand_says_so_and_writes_nothing(world):
    """No Device OS release is pinned for the P2 and none is in a folder: the Device OS step says
    so plainly, with the command that gets one, and writes nothing."""
    world.create("p2")
    cut_short_system_part(world, "p2")
    before = world.led()
    code, out, err = world.particle("doctor", "--yes")
    assert code == 1, out + err
    assert ("Restore Device OS: not possible here. particle-py has no Device OS release for the Photon 2 / P2 at "
            "hand: none is pinned for it, and no p2-system-part1@<version>.bin is in particle-py's cache or in "
            "PARTICLE_PY_DEVICE_OS_FROM.") in out
    assert (f"Nothing was written. Run `particle update {world.device_id} --target <version>` (downloads it from "
            f"Particle) or `particle update {world.device_id} --target <version> --from <folder>`, then "
            f"`particle doctor` again.") in out
    assert world.led() == before and before.startswith("LED: blinking yellow (")
