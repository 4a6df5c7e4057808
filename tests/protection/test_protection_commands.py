"""`particle device-protection status|disable|enable` on a simulated Boron on Device OS 6.2.1,
and the commands that write (flash --usb, update, keys) refusing a Protected Device before they
touch it. Output as particle-cli 3.51.0 prints it (src/cmd/device-protection.js)."""
from __future__ import annotations

import pytest

BORON = "e00fce68ba1d4f6c1e2b9a70"     # the id tests/protection/conftest.py gives the board

DEVICE = f"[{BORON}] (Product N/A)"
PROTECTED = [f"{DEVICE}: Protected Device", "Run particle device-protection disable to put the device in Service Mode."]
SERVICE = [f"{DEVICE}: Protected Device (Service Mode)",
           "Run particle device-protection enable to take the device out of Service Mode."]
OPEN = [f"{DEVICE}: Open Device", "Run particle device-protection enable to protect the device."]


@pytest.mark.parametrize("mode", ["normal", "dfu"])
@pytest.mark.parametrize("option, lines", [("--protected", PROTECTED), ("--service-mode", SERVICE)])
def test_status_in_both_modes(world, mode, option, lines):
    world.create("boron", option, "--mode", mode)
    assert world.particle("device-protection", "status") == (0, "\n".join(lines) + "\n", "")


def test_status_of_an_open_device(world):
    world.create("boron")
    assert world.particle("device-protection", "status") == (0, "\n".join(OPEN) + "\n", "")


def test_status_on_a_platform_without_protection(world):
    from particle_py.cli.sim import main as particle_sim

    assert particle_sim(["create", "photon"]) == 0
    code, out, err = world.particle("device-protection", "status")
    assert (code, out) == (1, "")
    assert "Device Protection feature is not supported on this device." in err


@pytest.mark.parametrize("mode", ["normal", "dfu"])
def test_disable_goes_through_the_cloud_and_enable_ends_it(world, mode):
    world.create("boron", "--protected", "--mode", mode)
    assert world.particle("device-protection", "disable") == (
        0, f"{DEVICE} is now in Service Mode.\n"
           "A Protected Device stays in Service Mode for a total of 20 reboots or 24 hours.\n", "")
    record = world.record()
    assert (record.state, record.reboots_left) == ("service", 20)
    unprotect = [(r["method"], r["form"]["action"], r["status"]) for r in world.cloud.db.requests()
                 if r["path"].endswith("/unprotect")]
    assert unprotect == [("PUT", "prepare", 200), ("PUT", "confirm", 200)]
    assert world.particle("device-protection", "status")[1].splitlines() == SERVICE
    assert world.particle("device-protection", "enable") == (0, f"{DEVICE} is now a Protected Device.\n", "")
    assert world.record().state == "protected"
    assert world.particle("device-protection", "enable") == (0, f"{DEVICE} is already a Protected Device.\n", "")


def test_disable_on_an_open_device_says_so(world):
    world.create("boron")
    assert world.particle("device-protection", "disable") == (0, f"{DEVICE} is not a Protected Device.\n", "")


def test_disable_when_the_cloud_holds_another_key(world):
    world.create("boron", "--protected", "--cloud-key", "other")
    code, out, err = world.particle("device-protection", "disable")
    assert code == 1 and out == ""
    assert err.startswith("Server key mismatch while putting device in Service Mode. Check that device is "
                          f"accessible through {world.cloud.url}.")
    assert world.record().state == "protected"


def test_a_cloud_signing_with_another_key_is_refused_by_the_device(world):
    """The device checks the cloud's signature with the server key in its DCT
    (SYSTEM_ERROR_INVALID_SIGNATURE), whatever fingerprint the cloud names."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    world.create("boron", "--protected")
    other = ec.generate_private_key(ec.SECP256R1())
    (world.state / "cloud" / "server_ec.pem").write_bytes(other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    code, out, err = world.particle("device-protection", "disable")
    assert (code, out) == (1, "")
    assert err.startswith("The device refused the Service Mode request: Signature validation failed")
    assert world.record().state == "protected"


def _dfu_writes(world) -> list:
    return [e for e in world.log() if e.get("event") == "control" and e["bmRequestType"] == 0x21
            and e["bRequest"] == 1]


@pytest.mark.parametrize("mode", ["normal", "dfu"])
def test_flash_usb_is_refused_before_the_device_is_touched(world, tmp_path, mode):
    world.create("boron", "--protected", "--mode", mode)
    app = tmp_path / "app.bin"
    app.write_bytes(b"\x00" * 64)
    code, out, err = world.particle("flash", "--usb", app)
    how = "it refuses every write over USB"
    assert code == 77
    assert err == (f"Device {BORON} is a Protected Device: {how}.\n"
                   "Nothing was written. Put it in Service Mode (20 restarts or 24 hours), then run the command "
                   f"again:\n  particle device-protection disable\n  particle flash --usb {app}\n")
    assert _dfu_writes(world) == []
    assert [d.profile.kind for d in world.bus().devices()] == ["normal" if mode == "normal" else "dfuse"]


def test_keys_commands_are_refused_before_the_device_is_touched(world):
    world.create("boron", "--protected")
    for command in (("keys", "doctor"), ("keys", "server"), ("keys", "save", "k")):
        code, _out, err = world.particle(*command)
        assert code == 77, command
        assert f"Device {BORON} is a Protected Device" in err
    assert _dfu_writes(world) == []


def test_update_to_a_device_os_below_6_is_refused_in_service_mode_too(world):
    world.create("boron", "--service-mode")
    code, out, err = world.particle("update", "--target", "4.0.2")
    assert code == 77
    assert err.startswith(f"Device {BORON} is a Protected Device: Device OS 4.0.2 is older than 6.0.0, the "
                          "oldest it takes.\nProtection refuses a system part older than 6.0.0")
    assert _dfu_writes(world) == [] and world.record().state == "service"


def test_flash_works_in_service_mode(world, tmp_path):
    from particle_py.platforms import by_name
    from particle_py.sim import contents

    world.create("boron", "--service-mode")
    name, address, data = contents.stand_in_files(by_name("boron"), "6.2.1")[-1]
    (tmp_path / name).write_bytes(data)
    code, out, _err = world.particle("flash", "--usb", tmp_path / name)
    assert code == 0 and out.splitlines()[-1] == "Flash success!"
    assert world.flash(0, address, len(data)) == data
    assert world.record().state == "service"


def test_service_mode_ending_mid_update_is_a_state_with_the_commands_that_finish_it(world, tmp_path, monkeypatch):
    """One restart of Service Mode left: the switch to DFU mode spends it, and the bootloader
    is protected again when the system part is due."""
    from particle_py.platforms import by_name
    from particle_py.sim import contents, protection

    world.create("boron", "--service-mode")
    protection.make(world.state, 0, service_mode=True, reboots=1)
    release = tmp_path / "release"
    release.mkdir()
    for name, _address, data in contents.stand_in_files(by_name("boron"), "6.3.0"):
        if "system-part" in name:
            (release / name).write_bytes(data)
    monkeypatch.setenv("PARTICLE_PY_DEVICE_OS_FROM", str(release))
    before = world.flash(0, 0x30000, 4096)
    code, _out, err = world.particle("update", "--target", "6.3.0")
    assert code == 77
    assert err == (f"Service Mode ended during the restore: device {BORON} is a Protected Device again.\n"
                   "Written before it ended: nothing; the device refused the rest. Put it back in Service Mode and "
                   "run the command again (it writes only what is missing):\n"
                   "  particle device-protection disable\n  particle update --target 6.3.0\n")
    assert world.flash(0, 0x30000, 4096) == before


def test_doctor_says_what_protection_means_and_reads_nothing(world):
    world.create("boron", "--protected")
    code, out, err = world.particle("doctor", "--dry-run")
    assert code == 77
    assert f"Device {BORON} is a Protected Device: it refuses every write over USB." in err
    assert "particle device-protection disable\n  particle doctor\n" in err
    assert _dfu_writes(world) == []
