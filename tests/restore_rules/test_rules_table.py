"""The rules as data: which platform and version each one holds for."""
from __future__ import annotations

import pytest

from particle_py.firmware import restore_rules as rules
from particle_py.module_layout import ModuleFunction
from particle_py.platforms import by_name


@pytest.mark.parametrize("platform, version, flag", [
    ("argon", "2.2.0", True), ("boron", "1.5.2", True), ("bsom", "3.3.1", True),
    ("argon", "4.0.2", False), ("boron", "6.2.1", False), ("p2", "2.2.0", False), ("photon", "1.5.2", False),
])
def test_setup_done_below_device_os_4_on_gen3(platform, version, flag):
    rule = rules.setup_done_flag(by_name(platform), version)
    assert (rule is not None) == flag
    if rule:
        assert (rule.alt, rule.address, rule.value) == (1, 8134, b"\x01")    # dct.h setup_done, 0x01 = done


@pytest.mark.parametrize("platform, current, target, through", [
    ("boron", "2.2.0", "1.5.1", ["1.5.2"]), ("bsom", "4.0.2", "1.4.4", ["1.5.2"]),
    ("boron", "1.5.2", "1.4.4", []), ("boron", "2.2.0", "1.5.2", []), ("boron", None, "1.4.4", []),
    ("argon", "2.2.0", "1.4.4", []), ("b5som", "2.2.0", "1.5.1", []),
])
def test_brn402_b402_downgrades_pass_through_1_5_2(platform, current, target, through):
    assert [v for v, _why in rules.route(by_name(platform), current, target)] == through


def test_the_encrypted_prebootloader_part_and_the_tracker_ncp():
    p2, tracker = by_name("p2"), by_name("tracker")
    assert "encrypted" in rules.never_written(p2, ModuleFunction.BOOTLOADER, 1)
    assert rules.never_written(p2, ModuleFunction.BOOTLOADER, 2) is None
    assert rules.never_written(by_name("boron"), ModuleFunction.BOOTLOADER, 1) is None
    assert "NCP" in rules.needs_request(tracker, ModuleFunction.NCP_FIRMWARE)
    assert rules.needs_request(tracker, ModuleFunction.SYSTEM_PART) is None


def test_msom_tinker_6_3_4_needs_device_os_6_3_5():
    msom = by_name("msom")
    assert rules.app_needs(msom, "6.3.4", "6.3.4") == "6.3.5"
    assert rules.app_needs(msom, "6.3.4", "6.3.5") is None
    assert rules.app_needs(by_name("p2"), "5.0.0", "5.0.0") is None


@pytest.mark.parametrize("text, number", [("1.5.2", 1502), ("6.3.5-rc.1", 6305), ("2.2.0+lto", 2200), ("x", 0)])
def test_version_numbers(text, number):
    assert rules.version_number(text) == number


@pytest.mark.parametrize("number, text", [(6305, "6.3.5"), (3000, "3.0.0"), (4002, "4.0.2"), (1512, None)])
def test_device_os_of_a_system_part_version(number, text):
    assert rules.device_os_for(number) == text
