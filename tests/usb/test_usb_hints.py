"""The fixes users are told about, per system."""
from particle_py.usb import hints


def test_windows_not_supported_or_access_points_at_winusb():
    for code in (-12, -3, -5):
        text = hints.hint_for_error(code, 0x2B04, 0xD006, platform="win32")
        assert "WinUSB" in text and "Zadig" in text and "2b04:d006" in text


def test_foreign_dfu_devices_are_named():
    assert "Bluetooth" in hints.foreign_dfu_device_hint(0x0489, 0xE07A)
    assert "Bluetooth" in hints.foreign_dfu_device_hint(0x0A5C, 0x217F)
    assert "Apple" in hints.foreign_dfu_device_hint(0x05AC, 0x8290)
    assert hints.foreign_dfu_device_hint(0x2B04, 0xD006) is None


def test_nothing_to_add_for_a_stall():
    assert hints.hint_for_error(-9, platform="linux") is None


def test_no_backend_hint_names_the_package_per_system(monkeypatch):
    monkeypatch.setattr(hints.sys, "platform", "linux")
    assert "apt-get install libusb-1.0-0" in hints.no_backend_hint()
    monkeypatch.setattr(hints.sys, "platform", "win32")
    assert "libusb-package" in hints.no_backend_hint()
