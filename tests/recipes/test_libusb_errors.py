"""Every libusb error that reaches a user from `particle` names the error, what it means, and the
usual cause and fix on the user's system (usb/hints.py LIBUSB_ERROR_TABLE)."""
import pytest
from hypothesis import given, strategies as st

from particle_py.errors import ParticlePyError
from particle_py.usb import hints

SYSTEMS = ("linux", "darwin", "win32")


@pytest.mark.parametrize("code", sorted(hints.LIBUSB_ERROR_TABLE))
@pytest.mark.parametrize("system", SYSTEMS)
def test_every_error_has_a_name_a_meaning_and_a_fix_on_every_system(code, system):
    name, meaning, fix = hints.libusb_error_explanation(code, system)
    assert name.startswith("LIBUSB_ERROR_") and meaning
    assert "Fix: " in fix


def test_a_stall_has_a_cause_of_its_own_per_system():
    fixes = {hints.libusb_error_explanation(-9, s)[2] for s in SYSTEMS}
    assert len(fixes) == 3
    assert "Zadig" in hints.libusb_error_explanation(-9, "win32")[2]


def test_the_code_is_found_behind_wrapping_errors_and_in_messages():
    try:
        try:
            raise ParticlePyError("dfuse_download: libusb_control_transfer returned -9")
        except ParticlePyError:
            raise ParticlePyError("Error writing key to device.: oops") from None
    except ParticlePyError as outer:
        assert hints.libusb_code_in(outer) == -9
    assert hints.libusb_code_in(ParticlePyError("Cannot open (LIBUSB_ERROR_BUSY)")) == -6
    assert hints.libusb_code_in(ParticlePyError("Flash failed")) is None


@given(st.text())
def test_any_message_gives_a_known_code_or_none(text):
    code = hints.libusb_code_in(ParticlePyError(text))
    assert code is None or code in hints.LIBUSB_ERROR_TABLE


def test_a_stall_during_flash_usb_names_the_stall_and_its_cause(world, particle):
    from particle_py.sim import contents
    from particle_py.platforms import by_name
    world.make("photon", "--mode", "dfu", "--app", "none", "--fault", "FAKE_DNLOAD_ERR=-9")
    (world.work / "app.bin").write_bytes(contents.user_app(by_name("photon")))
    code, out, err = particle("flash", "--usb", "app.bin")
    assert code == 74 and out.splitlines()[-1] == "Flash failed."
    lines = err.splitlines()
    assert lines[0] == ("Flashing app.bin stopped at 0x080a0000: Error during download (LIBUSB_ERROR_PIPE: "
                        "the device stalled (refused) the request)")
    assert lines[1] == hints.libusb_error_explanation(-9)[2]


def test_a_timeout_reading_keys_names_it(world, particle):
    world.make("argon", "--mode", "dfu", "--fault", "FAKE_UPLOAD_ERR=-7")
    code, out, err = particle("keys", "address")
    assert code == 74
    assert err.splitlines()[0].endswith("returned -7 (LIBUSB_ERROR_TIMEOUT: the device stopped answering)")
    assert err.splitlines()[1] == hints.libusb_error_explanation(-7)[2]


def test_permission_errors_keep_the_fuller_udev_fix_once(world, particle, monkeypatch):
    monkeypatch.setattr("sys.platform", "linux")
    world.make("photon", "--mode", "dfu", "--fault", "FAKE_OPEN_FAIL=-3")
    code, out, err = particle("keys", "address")
    assert code != 0
    assert "LIBUSB_ERROR_ACCESS" in err.splitlines()[0]
    assert err.count("50-particle.rules") >= 1 and "Usual cause: no udev rule" not in err
